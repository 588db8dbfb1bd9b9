package stats

import (
	"math"
	"math/rand/v2"
	"testing"
)

// rocCases have their AUC and ROC worked out by hand. In "ties", U counts 0.9 above all three
// adversarial confidences (3), each 0.8 above 0.6 and 0.3 and tied with 0.8 (2.5 twice) and 0.5
// above 0.3 (1): U = 9 of 4·3 pairs.
var rocCases = []struct {
	name        string
	natural     []float64
	adversarial []float64
	auc         float64
	roc         [][2]float64 // (FPR, TPR)
	taus        []float64    // after the first, which is just above the largest
}{
	{"ties", []float64{0.9, 0.8, 0.8, 0.5}, []float64{0.8, 0.6, 0.3}, 0.75,
		[][2]float64{{0, 0}, {0, 0.25}, {1.0 / 3, 0.75}, {2.0 / 3, 0.75}, {2.0 / 3, 1}, {1, 1}},
		[]float64{0.9, 0.8, 0.6, 0.5, 0.3}},
	{"all tied", []float64{0.5, 0.5}, []float64{0.5}, 0.5,
		[][2]float64{{0, 0}, {1, 1}}, []float64{0.5}},
	{"separated", []float64{0.95, 0.9}, []float64{0.2, 0.1}, 1,
		[][2]float64{{0, 0}, {0, 0.5}, {0, 1}, {0.5, 1}, {1, 1}}, []float64{0.95, 0.9, 0.2, 0.1}},
	{"reversed", []float64{0.2, 0.1}, []float64{0.95}, 0,
		[][2]float64{{0, 0}, {1, 0}, {1, 0.5}, {1, 1}}, []float64{0.95, 0.2, 0.1}},
	{"one each, tie at 1", []float64{1}, []float64{1}, 0.5,
		[][2]float64{{0, 0}, {1, 1}}, []float64{1}},
}

func TestAUCAndROC(t *testing.T) {
	t.Parallel()
	for _, c := range rocCases {
		auc, err := AUC(c.natural, c.adversarial)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !near(auc, c.auc, 1e-15) {
			t.Errorf("%s: AUC = %v, want %v", c.name, auc, c.auc)
		}
		roc, err := ROC(c.natural, c.adversarial)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if len(roc) != len(c.roc) {
			t.Fatalf("%s: %d ROC points %+v, want %d", c.name, len(roc), roc, len(c.roc))
		}
		for i, want := range c.roc {
			if !near(roc[i].FPR, want[0], 1e-15) || !near(roc[i].TPR, want[1], 1e-15) {
				t.Errorf("%s: point %d = (%v, %v), want %v", c.name, i, roc[i].FPR, roc[i].TPR, want)
			}
		}
		if top := roc[0].Tau; !(top > c.taus[0]) || math.Nextafter(c.taus[0], 2) != top {
			t.Errorf("%s: first threshold %v, want just above %v", c.name, top, c.taus[0])
		}
		for i, tau := range c.taus {
			if roc[i+1].Tau != tau {
				t.Errorf("%s: threshold %d = %v, want %v", c.name, i+1, roc[i+1].Tau, tau)
			}
		}
		if a := trapezoid(roc); !near(a, auc, 1e-12) {
			t.Errorf("%s: area under the ROC points %v, AUC %v", c.name, a, auc)
		}
	}
}

func trapezoid(roc []ROCPoint) float64 {
	a := 0.0
	for i := 1; i < len(roc); i++ {
		a += (roc[i].FPR - roc[i-1].FPR) * (roc[i].TPR + roc[i-1].TPR) / 2
	}
	return a
}

// TestAUCMannWhitney checks AUC against the pair count on random confidences drawn from a few
// values (many ties) and against the trapezoid under ROC.
func TestAUCMannWhitney(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	levels := []float64{0, 0.3, 0.5, 0.5, 0.9, 0.99, 1}
	for trial := range 50 {
		nat := make([]float64, 1+r.IntN(30))
		adv := make([]float64, 1+r.IntN(30))
		for i := range nat {
			nat[i] = levels[r.IntN(len(levels))]
		}
		for i := range adv {
			adv[i] = levels[r.IntN(len(levels)-2)] // adversarial ones tend lower
		}
		u := 0.0
		for _, a := range nat {
			for _, b := range adv {
				switch {
				case a > b:
					u++
				case a == b:
					u += 0.5
				}
			}
		}
		want := u / float64(len(nat)*len(adv))
		got, err := AUC(nat, adv)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("trial %d: AUC = %v, pair count %v", trial, got, want)
		}
		roc, err := ROC(nat, adv)
		if err != nil {
			t.Fatal(err)
		}
		if a := trapezoid(roc); !near(a, want, 1e-12) {
			t.Fatalf("trial %d: trapezoid %v, AUC %v", trial, a, want)
		}
	}
}

func TestThreshold(t *testing.T) {
	t.Parallel()
	ten := []float64{0.99, 0.2, 0.5, 0.7, 0.5, 0.9, 0.95, 0.97, 0.98, 1.0}
	hundred := make([]float64, 100)
	for i := range hundred {
		hundred[i] = float64(99-i) / 100
	}
	for _, c := range []struct {
		name    string
		natural []float64
		keep    float64
		tau     float64
		kept    int
	}{
		{"keep 9 of 10", ten, 0.9, 0.5, 9},
		{"keep 8 of 10, tie keeps 9", ten, 0.8, 0.5, 9},
		{"keep half", ten, 0.5, 0.95, 5},
		{"keep all", ten, 1, 0.2, 10},
		{"99% of 10 rounds up to all", ten, 0.99, 0.2, 10},
		{"99% of 100 is 99, not 100", hundred, 0.99, 0.01, 99},
		{"95% of 100", hundred, 0.95, 0.05, 95},
		{"tiny share keeps one", ten, 1e-6, 1.0, 1},
	} {
		tau, err := Threshold(c.natural, c.keep)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if tau != c.tau {
			t.Errorf("%s: τ = %v, want %v", c.name, tau, c.tau)
		}
		if kept := atLeastUnsorted(c.natural, tau); kept != c.kept {
			t.Errorf("%s: τ keeps %d, want %d", c.name, kept, c.kept)
		}
		// Stutz et al.'s rule: index ⌊n·round(1 − keep, 2)⌋ of the ascending order.
		if c.keep >= 0.5 {
			sorted := append([]float64(nil), c.natural...)
			sortFloats(sorted)
			idx := int(math.Floor(float64(len(sorted)) * math.Round((1-c.keep)*100) / 100))
			if sorted[idx] != tau {
				t.Errorf("%s: Stutz et al.'s index gives %v, we %v", c.name, sorted[idx], tau)
			}
		}
	}
	for _, keep := range []float64{0, -0.1, 1.01, math.NaN()} {
		if _, err := Threshold(ten, keep); err == nil {
			t.Errorf("keep %v: no error", keep)
		}
	}
}

func atLeastUnsorted(v []float64, tau float64) int {
	k := 0
	for _, x := range v {
		if x >= tau {
			k++
		}
	}
	return k
}

func sortFloats(v []float64) {
	for i := 1; i < len(v); i++ {
		for j := i; j > 0 && v[j] < v[j-1]; j-- {
			v[j], v[j-1] = v[j-1], v[j]
		}
	}
}

// sevenPoints covers every case of the numerator and denominator at τ = 0.9, worked out by
// hand in the comments: 4 accepted mistakes among 6 points where something is accepted.
var sevenPoints = []Detection{
	{Confidence: 0.95, Correct: true, AdvConfidence: 0.92, AdvWrong: true},  // accepted adversarial mistake: 1/1
	{Confidence: 0.95, Correct: true, AdvConfidence: 0.50, AdvWrong: true},  // adversarial rejected, clean accepted: 0/1
	{Confidence: 0.60, Correct: true, AdvConfidence: 0.60, AdvWrong: true},  // both rejected: 0/0
	{Confidence: 0.93, Correct: false, AdvConfidence: 0.93, AdvWrong: true}, // clean mistake, nothing found: 1/1
	{Confidence: 0.80, Correct: true, AdvConfidence: 0.97, AdvWrong: false}, // attack failed but confident: 0/1
	{Confidence: 0.70, Correct: false, AdvConfidence: 0.95, AdvWrong: true}, // clean rejected, adversarial accepted: 1/1
	{Confidence: 0.90, Correct: true, AdvConfidence: 0.90, AdvWrong: true},  // ties at τ are accepted: 1/1
}

func TestRobustError(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		tau  float64
		k, n int
	}{
		{0.9, 4, 6},
		{0, 6, 7}, // the usual robust error: every point but the fifth is wrong somewhere
		{0.94, 1, 4},
		{0.96, 0, 1},
	} {
		r, err := RobustError(sevenPoints, c.tau)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := NewRate(c.k, c.n)
		if r != want {
			t.Errorf("τ = %v: %v, want %v", c.tau, r, want)
		}
	}
	r, err := RobustError(sevenPoints, 1)
	if err != nil {
		t.Fatal(err)
	}
	if r != (Rate{K: 0, N: 0, Value: 0, Lo: 0, Hi: 1}) {
		t.Errorf("τ = 1, nothing accepted: %+v", r)
	}
	for _, bad := range [][]Detection{nil, {{Confidence: 1.2}}, {{Confidence: 0.5, AdvConfidence: math.NaN()}}} {
		if _, err := RobustError(bad, 0.5); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
	if _, err := RobustError(sevenPoints, math.NaN()); err == nil {
		t.Error("NaN threshold: no error")
	}
}

func TestDetectorBadInput(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name     string
		nat, adv []float64
	}{
		{"no natural", nil, []float64{0.5}},
		{"no adversarial", []float64{0.5}, nil},
		{"NaN", []float64{math.NaN()}, []float64{0.5}},
		{"above 1", []float64{0.5}, []float64{1.5}},
		{"negative", []float64{-0.1}, []float64{0.5}},
	} {
		if _, err := AUC(c.nat, c.adv); err == nil {
			t.Errorf("AUC %s: no error", c.name)
		}
		if _, err := ROC(c.nat, c.adv); err == nil {
			t.Errorf("ROC %s: no error", c.name)
		}
	}
	if _, err := Threshold(nil, 0.99); err == nil {
		t.Error("Threshold of nothing: no error")
	}
}
