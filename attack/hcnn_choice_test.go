package attack

import (
	"context"
	"math"
	"testing"
)

// TestHCNNPenaltyPullsBackToX: with F(z)_1 = σ(4z_1 − 2) the slope of F_1
// is at most 1 and F_1 does not depend on z_2, so with λ = 3 the objective
// F_1(z) − λ|z − x| is largest at z = x. From random starts in the ball the
// search must come back to within two steps of x in both norms; a penalty
// gradient of the wrong sign pushes it out to the edge instead, and the
// best iterate it keeps is no better than its start.
func TestHCNNPenaltyPullsBackToX(t *testing.T) {
	const n = 10
	ex := newLinear(2, 2, []float32{0, 0, 4, 0}, []float32{0, -2})
	x := make([]float32, 2*n)
	for i := range x {
		x[i] = 0.5
	}
	for _, norm := range []Norm{LInf, L2} {
		h := HCNN{Xi: 0.4, Lambda: 3, Norm: norm, Iterations: 40, RandomStart: true, Seed: 5}
		e, err := h.Run(context.Background(), ex, x)
		if err != nil {
			t.Fatal(err)
		}
		step := 2.5 * h.Xi / float64(h.Iterations)
		for i := 0; i < n; i++ {
			if dist := e.Distance[i*2+1]; dist > 2*step*math.Sqrt2 {
				t.Errorf("%v: input %d: label 1's point %v lies %.3f from x, want within two steps (%.3f)", norm, i, e.Points[(i*2+1)*2:(i*2+2)*2], dist, 2*step*math.Sqrt2)
			}
		}
		// Without the penalty the search climbs F_1 to the edge of the ball.
		h.Lambda, h.RandomStart = 0, false
		e, err = h.Run(context.Background(), ex, x[:2])
		if err != nil {
			t.Fatal(err)
		}
		if z := e.Points[2]; math.Abs(float64(z)-0.9) > 1e-6 {
			t.Errorf("%v, λ = 0: label 1's point %v, want x₁ + ξ = 0.9", norm, e.Points[2:4])
		}
	}
}

// TestHCNNChoosesPenalizedObjective: Algorithm 1 picks, per input, the label
// of the largest F(z^(ℓ))_ℓ − λ|z^(ℓ) − x|, recomputed here from the
// returned logits and distances; on these inputs that choice differs from
// the largest confidence alone for some of them, so a choice that ignores
// λ fails.
func TestHCNNChoosesPenalizedObjective(t *testing.T) {
	const n, d, k = 40, 6, 5
	ex := randomLinear(11, d, k, 3)
	x := make([]float32, n*d)
	for i := range x {
		x[i] = float32((i*37)%101) / 100
	}
	for _, norm := range []Norm{LInf, L2} {
		h := HCNN{Xi: 0.3, Lambda: 0.8, Norm: norm, Iterations: 10}
		e, err := h.Run(context.Background(), ex, x)
		if err != nil {
			t.Fatal(err)
		}
		differs := 0
		for i := 0; i < n; i++ {
			best, bestF := 0, 0
			for c := 0; c < k; c++ {
				r := i*k + c
				obj := Prob(e.Logits[r*k:(r+1)*k], c) - h.Lambda*norm.dist(e.Points[r*d:(r+1)*d], x[i*d:(i+1)*d])
				rb := i*k + best
				if obj > Prob(e.Logits[rb*k:(rb+1)*k], best)-h.Lambda*norm.dist(e.Points[rb*d:(rb+1)*d], x[i*d:(i+1)*d]) {
					best = c
				}
				if Prob(e.Logits[r*k:(r+1)*k], c) > Prob(e.Logits[(i*k+bestF)*k:(i*k+bestF+1)*k], bestF) {
					bestF = c
				}
			}
			if e.Chosen[i] != best {
				t.Errorf("%v: input %d chose label %d, want %d (largest F_ℓ − λ|z − x|)", norm, i, e.Chosen[i], best)
			}
			if best != bestF {
				differs++
			}
		}
		if differs == 0 {
			t.Errorf("%v: no input where the penalty changes the choice; the test cannot catch a choice that ignores λ", norm)
		}
	}
}
