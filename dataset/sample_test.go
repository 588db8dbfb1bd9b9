package dataset

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
)

func TestSample(t *testing.T) {
	tests := []struct {
		n, total int
		seed     uint64
		wantLen  int
	}{
		{10, 100, 1, 10},
		{100, 100, 2, 100},
		{300, 10000, 3, 300},
		{1000, 60000, 4, 1000},
		{5, 3, 5, 3},
		{0, 10, 6, 0},
		{-1, 10, 7, 0},
		{3, 0, 8, 0},
	}
	for _, tt := range tests {
		got := Sample(tt.n, tt.seed, tt.total)
		if len(got) != tt.wantLen {
			t.Errorf("Sample(%d, %d, %d) has %d indices, want %d", tt.n, tt.seed, tt.total, len(got), tt.wantLen)
		}
		seen := map[int]bool{}
		for _, i := range got {
			if i < 0 || i >= tt.total || seen[i] {
				t.Fatalf("Sample(%d, %d, %d): index %d out of range or repeated", tt.n, tt.seed, tt.total, i)
			}
			seen[i] = true
		}
		if again := Sample(tt.n, tt.seed, tt.total); !equalInts(got, again) {
			t.Errorf("Sample(%d, %d, %d) not reproducible", tt.n, tt.seed, tt.total)
		}
		if tt.wantLen > 1 {
			if longer := Sample(tt.n+10, tt.seed, tt.total); !equalInts(longer[:tt.wantLen], got) {
				t.Errorf("Sample(%d, %d, %d) is not a prefix of a longer sample", tt.n, tt.seed, tt.total)
			}
			if other := Sample(tt.n, tt.seed+100, tt.total); equalInts(other, got) {
				t.Errorf("seeds %d and %d give the same sample", tt.seed, tt.seed+100)
			}
		}
	}
}

// TestSampleGolden pins the permutation: a change here changes which points
// every experiment attacks, and must be deliberate.
func TestSampleGolden(t *testing.T) {
	got := Sample(10, 2018, 10000)
	want := goldenSample
	if !equalInts(got, want) {
		t.Errorf("Sample(10, 2018, 10000) = %v, want %v", got, want)
	}
}

// goldenSample was computed by this implementation when it was written.
var goldenSample = []int{1983, 8506, 4806, 4456, 1401, 5816, 9070, 3328, 1198, 4280}

// TestSampleUniform checks that each index is equally likely to come first
// and that each position of a full permutation is equally likely to hold a
// given index (chi-square with a loose bound).
func TestSampleUniform(t *testing.T) {
	const total, trials = 7, 14000
	var first, last [total]int
	for seed := range uint64(trials) {
		p := Sample(total, seed, total)
		first[p[0]]++
		last[p[total-1]]++
	}
	for name, counts := range map[string][total]int{"first": first, "last": last} {
		chi2 := 0.0
		e := float64(trials) / total
		for _, c := range counts {
			chi2 += (float64(c) - e) * (float64(c) - e) / e
		}
		// 6 degrees of freedom: P(chi2 > 22.46) = 0.001.
		if chi2 > 22.46 || math.IsNaN(chi2) {
			t.Errorf("%s index counts %v: chi2 = %.1f", name, counts, chi2)
		}
	}
}

// indexSet returns a set of n 1×1×1 images whose pixel is i/n, so that a
// fake classifier can tell which example it sees, with labels i mod 10.
func indexSet(n int) *Set {
	s := &Set{Name: "index", Shape: Shape{1, 1, 1}, Classes: 10, Images: make([]float32, n), Labels: make([]int, n)}
	for i := range n {
		s.Images[i] = float32(i) / float32(n)
		s.Labels[i] = i % 10
	}
	return s
}

// fakeClassifier is right exactly on the examples right(i) says, and counts
// its calls and the examples it saw.
func fakeClassifier(s *Set, right func(i int) bool, calls, seen *int) Classifier {
	return func(x []float32, n int) ([]int, error) {
		*calls++
		*seen += n
		out := make([]int, n)
		for k := range n {
			i := int(math.Round(float64(x[k] * float32(s.Len()))))
			out[k] = s.Labels[i]
			if !right(i) {
				out[k] = (s.Labels[i] + 1) % 10
			}
		}
		return out, nil
	}
}

func TestSampleCorrect(t *testing.T) {
	s := indexSet(1000)
	tests := []struct {
		name  string
		n     int
		batch int
		right func(i int) bool
	}{
		{"all right, batch 1", 50, 1, func(int) bool { return true }},
		{"all right, batch 64", 50, 64, func(int) bool { return true }},
		{"one in three wrong, batch 7", 100, 7, func(i int) bool { return i%3 != 0 }},
		{"one in three wrong, batch 1000", 100, 1000, func(i int) bool { return i%3 != 0 }},
		{"few right", 10, 33, func(i int) bool { return i%97 == 5 }},
		{"exactly enough", 11, 50, func(i int) bool { return i%97 == 5 }},
		{"none wanted", 0, 10, func(int) bool { return false }},
	}
	const seed = 42
	perm := Sample(s.Len(), seed, s.Len())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls, seen int
			got, err := SampleCorrect(context.Background(), s, tt.n, seed, fakeClassifier(s, tt.right, &calls, &seen), tt.batch)
			if err != nil {
				t.Fatal(err)
			}
			var want []int
			scanned := 0
			for _, i := range perm {
				if len(want) == tt.n {
					break
				}
				scanned++
				if tt.right(i) {
					want = append(want, i)
				}
			}
			if !equalInts(got, want) {
				t.Errorf("got %v, want %v", got, want)
			}
			// It stops at the batch holding the n-th correct example.
			if wantSeen := min(s.Len(), (scanned+tt.batch-1)/tt.batch*tt.batch); tt.n > 0 && seen != wantSeen {
				t.Errorf("classified %d examples in %d calls, want %d", seen, calls, wantSeen)
			}
		})
	}
}

func TestSampleCorrectErrors(t *testing.T) {
	s := indexSet(100)
	var calls, seen int
	right := fakeClassifier(s, func(i int) bool { return i%10 == 0 }, &calls, &seen)
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name     string
		ctx      context.Context
		n, batch int
		classify Classifier
		is       error
		wantErr  string
	}{
		{"not enough correct", context.Background(), 11, 16, right, nil, "only 10 of the 100 examples of index are classified correctly, want 11"},
		{"more than the set", context.Background(), 101, 16, right, nil, "has only 100 examples"},
		{"negative n", context.Background(), -1, 16, right, nil, "negative"},
		{"zero batch", context.Background(), 5, 0, right, nil, "batch size 0"},
		{"nil classifier", context.Background(), 5, 8, nil, nil, "no classifier"},
		{"classifier error", context.Background(), 5, 8, func([]float32, int) ([]int, error) { return nil, errSentinel }, errSentinel, "classify 8 examples"},
		{"short answer", context.Background(), 5, 8, func(_ []float32, n int) ([]int, error) { return make([]int, n-1), nil }, nil, "returned 7 labels for 8"},
		{"canceled", canceled, 5, 8, right, context.Canceled, "stopped after 0 of 5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SampleCorrect(tt.ctx, s, tt.n, 1, tt.classify, tt.batch)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, error %v; want error containing %q", got, err, tt.wantErr)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v does not wrap %v", err, tt.is)
			}
		})
	}
}

var errSentinel = errors.New("classifier broke")
