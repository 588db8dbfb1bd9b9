package dataset

import (
	"strings"
	"testing"
)

func TestSetAccessors(t *testing.T) {
	s := &Set{Name: "s", Shape: Shape{1, 2, 1}, Classes: 3,
		Images: []float32{0, 1, 2, 3, 4, 5}, Labels: []int{0, 1, 2}}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := s.Image(1); len(got) != 2 || cap(got) != 2 || got[0] != 2 || got[1] != 3 {
		t.Errorf("Image(1) = %v (cap %d)", got, cap(got))
	}
	s.Image(1)[0] = 20 // shares memory
	if s.Images[2] != 20 {
		t.Error("Image does not share memory with Images")
	}
	sub := s.Subset([]int{2, 1, 2})
	if !equalFloats(sub.Images, []float32{4, 5, 20, 3, 4, 5}) || !equalInts(sub.Labels, []int{2, 1, 2}) || sub.Shape != s.Shape || sub.Classes != 3 {
		t.Errorf("Subset = %+v", sub)
	}
	sub.Images[0] = 40 // does not share memory
	if s.Images[4] != 4 {
		t.Error("Subset shares memory with the set")
	}
	dst := make([]float32, 1, 10)
	got := s.Batch(dst, []int{0})
	if &got[0] != &dst[0] || !equalFloats(got, []float32{0, 1}) {
		t.Errorf("Batch into a large buffer: %v, reused %v", got, &got[0] == &dst[0])
	}
	if got := s.Batch(nil, nil); len(got) != 0 {
		t.Errorf("empty batch: %v", got)
	}
}

func TestSetValidate(t *testing.T) {
	tests := []struct {
		name    string
		set     Set
		wantErr string
	}{
		{"empty", Set{Name: "e", Shape: Shape{2, 2, 1}, Classes: 10}, ""},
		{"bad shape", Set{Name: "b", Shape: Shape{0, 2, 1}, Classes: 10}, "bad image shape"},
		{"no classes", Set{Name: "b", Shape: Shape{1, 1, 1}}, "0 classes"},
		{"short images", Set{Name: "b", Shape: Shape{1, 1, 2}, Classes: 2, Images: []float32{0}, Labels: []int{1}}, "1 image values, want 2"},
		{"bad label", Set{Name: "b", Shape: Shape{1, 1, 1}, Classes: 2, Images: []float32{0, 0}, Labels: []int{1, 2}}, "label 2 of example 1 outside [0, 2)"},
		{"negative label", Set{Name: "b", Shape: Shape{1, 1, 1}, Classes: 2, Images: []float32{0}, Labels: []int{-1}}, "label -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.set.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatal(err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestSplitString(t *testing.T) {
	for s, want := range map[Split]string{Train: "train", Test: "test", Split(9): "split(9)"} {
		if got := s.String(); got != want {
			t.Errorf("%d: %q, want %q", int(s), got, want)
		}
	}
}

func equalFloats(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
