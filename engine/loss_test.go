package engine

import (
	"math"
	"math/rand/v2"
	"testing"
)

// fdCheck compares each loss's gradient with central finite differences of
// its value, in float64 terms, on random logits away from kinks.
func TestLossGradients(t *testing.T) {
	const n, k = 4, 5
	r := rand.New(rand.NewPCG(1, 2))
	logits := make([]float32, n*k)
	for i := range logits {
		logits[i] = float32(3 * r.NormFloat64())
	}
	labels := []int{0, 3, 4, 2}
	w := make([]float32, n*k)
	for i := range w {
		w[i] = float32(r.NormFloat64())
	}
	for _, tc := range []struct {
		name string
		loss Loss
	}{
		{"cross-entropy", CrossEntropy{Labels: labels}},
		{"target log-prob", TargetLogProb{Targets: labels}},
		{"CW untargeted", CWMargin{Labels: labels, Kappa: 100}},
		{"CW targeted", CWMargin{Labels: labels, Kappa: 100, Targeted: true}},
		{"logit weights", LogitWeights{W: w}},
		{"probability", Prob{Labels: labels}},
		{"Shannon entropy", NegEntropy{Alpha: 1}},
		{"Rényi entropy α=0.5", NegEntropy{Alpha: 0.5}},
		{"Rényi entropy α=3", NegEntropy{Alpha: 3}},
		{"confidence hinge", ConfidenceHinge{Targets: labels, Threshold: 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			losses, grad := make([]float32, n), make([]float32, n*k)
			tc.loss.Eval(losses, grad, logits, n, k)
			const h = 1e-2
			for q := range logits {
				i := q / k
				z := append([]float32{}, logits...)
				lp, lm := make([]float32, n), make([]float32, n)
				z[q] = logits[q] + h
				tc.loss.Eval(lp, make([]float32, n*k), z, n, k)
				z[q] = logits[q] - h
				tc.loss.Eval(lm, make([]float32, n*k), z, n, k)
				fd := (float64(lp[i]) - float64(lm[i])) / (2 * h)
				if math.Abs(fd-float64(grad[q])) > 2e-3 {
					t.Errorf("logit %d: gradient %v, finite difference %v", q, grad[q], fd)
				}
			}
		})
	}
}

func TestLossValues(t *testing.T) {
	z := []float32{2, 0, -1}
	lse := math.Log(math.Exp(2) + 1 + math.Exp(-1))
	losses, grad := make([]float32, 1), make([]float32, 3)
	CrossEntropy{Labels: []int{1}}.Eval(losses, grad, z, 1, 3)
	if want := lse - 0; math.Abs(float64(losses[0])-want) > 1e-6 {
		t.Errorf("cross-entropy %v, want %v", losses[0], want)
	}
	TargetLogProb{Targets: []int{2}}.Eval(losses, grad, z, 1, 3)
	if want := -1 - lse; math.Abs(float64(losses[0])-want) > 1e-6 {
		t.Errorf("log-prob %v, want %v", losses[0], want)
	}
	// Untargeted margin of label 1: max(2, −1) − 0 = 2; clipped at κ = 0.5
	// the loss is 0.5 with zero gradient (the attack has won by κ).
	CWMargin{Labels: []int{1}, Kappa: 10}.Eval(losses, grad, z, 1, 3)
	if losses[0] != 2 || grad[0] != 1 || grad[1] != -1 || grad[2] != 0 {
		t.Errorf("CW margin %v, gradient %v; want 2, [1 -1 0]", losses[0], grad)
	}
	CWMargin{Labels: []int{1}, Kappa: 0.5}.Eval(losses, grad, z, 1, 3)
	if losses[0] != 0.5 || grad[0] != 0 || grad[1] != 0 {
		t.Errorf("clipped CW margin %v, gradient %v; want 0.5, zero", losses[0], grad)
	}
	// A correctly classified point (label 0, margin −2) keeps its gradient:
	// the attack must be able to move it.
	CWMargin{Labels: []int{0}, Kappa: 0}.Eval(losses, grad, z, 1, 3)
	if losses[0] != -2 || grad[0] != -1 || grad[1] != 1 {
		t.Errorf("CW margin of a correct point %v, gradient %v; want −2, [−1 1 0]", losses[0], grad)
	}
	// Targeted margin of target 2: −1 − 2 = −3.
	CWMargin{Labels: []int{2}, Kappa: 0, Targeted: true}.Eval(losses, grad, z, 1, 3)
	if losses[0] != -3 || grad[2] != 1 || grad[0] != -1 {
		t.Errorf("targeted CW margin %v, gradient %v; want −3, [−1 0 1]", losses[0], grad)
	}
	p := make([]float32, 3)
	Softmax(p, z, 1, 3)
	if math.Abs(float64(p[0])-math.Exp(2-lse)) > 1e-6 || math.Abs(float64(p[0]+p[1]+p[2])-1) > 1e-6 {
		t.Errorf("softmax %v", p)
	}
}
