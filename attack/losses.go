package attack

import (
	"math"

	"confrobust/engine"
)

// The objectives below are engine.Loss values computed in Go from the logits
// the executor hands to Eval during InputGrad, so that a step still costs one
// forward and backward pass. Each is evaluated in float64.

// probLoss is the softmax probability F(z)_ℓ of Labels[i], with gradient
// ∂F_ℓ/∂z_j = F_ℓ(δ_ℓj − F_j).
type probLoss struct {
	labels []int
	p      []float64
}

func (l *probLoss) Eval(losses, grad, logits []float32, n, classes int) {
	if len(l.p) < classes {
		l.p = make([]float64, classes)
	}
	p := l.p[:classes]
	for i := 0; i < n; i++ {
		softmax64(p, logits[i*classes:(i+1)*classes])
		y := l.labels[i]
		g := grad[i*classes : (i+1)*classes]
		for j := range g {
			g[j] = float32(-p[y] * p[j])
		}
		g[y] += float32(p[y])
		losses[i] = float32(p[y])
	}
}

// negEntropy is −H(F(z)), the negated Shannon entropy (Alpha == 1) or the
// negated α-Rényi entropy H_α = α/(1−α)·log ||F(z)||_α = (lse(αz) −
// α·lse(z))/(1−α). Gradients: ∂H/∂z_j = −F_j(log F_j + H) and ∂H_α/∂z_j =
// α/(1−α)·(q_j − F_j) with q = softmax(αz).
type negEntropy struct {
	alpha float64
	p, q  []float64
}

func (l *negEntropy) Eval(losses, grad, logits []float32, n, classes int) {
	if len(l.p) < classes {
		l.p, l.q = make([]float64, classes), make([]float64, classes)
	}
	p, q := l.p[:classes], l.q[:classes]
	for i := 0; i < n; i++ {
		z, g := logits[i*classes:(i+1)*classes], grad[i*classes:(i+1)*classes]
		lse := softmax64(p, z)
		if l.alpha == 1 {
			h := 0.0
			for j, v := range p {
				if v > 0 {
					h -= v * (float64(z[j]) - lse)
				}
			}
			for j, v := range p {
				g[j] = float32(v * (float64(z[j]) - lse + h))
			}
			losses[i] = float32(-h)
			continue
		}
		h := renyi(q, z, lse, l.alpha)
		c := l.alpha / (1 - l.alpha)
		for j := range g {
			g[j] = float32(-c * (q[j] - p[j]))
		}
		losses[i] = float32(-h)
	}
}

// renyi returns H_α of softmax(z), given lse = logsumexp(z), leaving
// softmax(αz) in q.
func renyi(q []float64, z []float32, lse, alpha float64) float64 {
	m := z[0]
	for _, v := range z[1:] {
		m = max(m, v)
	}
	s := 0.0
	for j, v := range z {
		e := math.Exp(alpha * float64(v-m))
		q[j] = e
		s += e
	}
	for j := range q {
		q[j] /= s
	}
	lseA := alpha*float64(m) + math.Log(s)
	return (lseA - alpha*lse) / (1 - alpha)
}

// entropy returns the Shannon (alpha == 1) or α-Rényi entropy of softmax(z).
func entropy(p, q []float64, z []float32, alpha float64) float64 {
	lse := softmax64(p, z)
	if alpha != 1 {
		return renyi(q, z, lse, alpha)
	}
	h := 0.0
	for j, v := range p {
		if v > 0 {
			h -= v * (float64(z[j]) - lse)
		}
	}
	return h
}

// cwLoss is the modified Carlini–Wagner objective of the p-confident attack,
// minimised: max(0, Threshold − (z_t − logsumexp_{j≠t} z_j)) with Threshold =
// log(p/(1−p)) + κ. It is zero exactly when softmax(z)_t ≥ p (for κ = 0),
// because softmax(z)_t/(1 − softmax(z)_t) = exp(z_t − logsumexp_{j≠t} z_j).
type cwLoss struct {
	targets   []int
	threshold float64
}

func (l *cwLoss) Eval(losses, grad, logits []float32, n, classes int) {
	for i := 0; i < n; i++ {
		z, g := logits[i*classes:(i+1)*classes], grad[i*classes:(i+1)*classes]
		t := l.targets[i]
		m := math.Inf(-1)
		for j, v := range z {
			if j != t {
				m = max(m, float64(v))
			}
		}
		s := 0.0
		for j, v := range z {
			if j != t {
				s += math.Exp(float64(v) - m)
			}
		}
		lse := m + math.Log(s)
		f := l.threshold - (float64(z[t]) - lse)
		clear(g)
		if f <= 0 {
			losses[i] = 0
			continue
		}
		losses[i] = float32(f)
		for j, v := range z {
			if j != t {
				g[j] = float32(math.Exp(float64(v)-m) / s)
			}
		}
		g[t] = -1
	}
}

var (
	_ engine.Loss = (*probLoss)(nil)
	_ engine.Loss = (*negEntropy)(nil)
	_ engine.Loss = (*cwLoss)(nil)
)
