package engine

import "math"

// The losses below are the objectives of the paper's defenses and of the
// p-confident CW attack. Each is evaluated in float64 from the float32
// logits; executors that recognise them (engine/xla) may compute them in
// their own graphs instead.

// Prob is the softmax probability F(z)_ℓ of Labels[i], with gradient
// ∂F_ℓ/∂z_j = F_ℓ(δ_ℓj − F_j). HCNN ascends it when its distance penalty is
// on.
type Prob struct {
	Labels []int
}

// Eval implements Loss.
func (l Prob) Eval(losses, grad, logits []float32, n, classes int) {
	var buf [maxStackClasses]float64
	p := scratch(buf[:], classes)
	for i := 0; i < n; i++ {
		SoftmaxFloat64(p, logits[i*classes:(i+1)*classes])
		y := l.Labels[i]
		g := grad[i*classes : (i+1)*classes]
		for j := range g {
			g[j] = float32(-p[y] * p[j])
		}
		g[y] += float32(p[y])
		losses[i] = float32(p[y])
	}
}

// Criterion implements Criterion: F(z)_ℓ of row i, in float64.
func (l Prob) Criterion(i int, z []float32) float64 {
	m, s := SumExp(z)
	return math.Exp(float64(z[l.Labels[i]]-m)) / s
}

// NegEntropy is −H(F(z)), the negated Shannon entropy (Alpha == 1) or the
// negated α-Rényi entropy H_α = α/(1−α)·log ||F(z)||_α = (lse(αz) −
// α·lse(z))/(1−α), for α > 0. Gradients: ∂H/∂z_j = −F_j(log F_j + H) and
// ∂H_α/∂z_j = α/(1−α)·(q_j − F_j) with q = softmax(αz). The entropy
// surrogates of MCN ascend it.
type NegEntropy struct {
	Alpha float64
}

// Eval implements Loss.
func (l NegEntropy) Eval(losses, grad, logits []float32, n, classes int) {
	var bp, bq [maxStackClasses]float64
	p, q := scratch(bp[:], classes), scratch(bq[:], classes)
	for i := 0; i < n; i++ {
		z, g := logits[i*classes:(i+1)*classes], grad[i*classes:(i+1)*classes]
		lse := SoftmaxFloat64(p, z)
		if l.Alpha == 1 {
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
		h := renyi(q, z, lse, l.Alpha)
		c := l.Alpha / (1 - l.Alpha)
		for j := range g {
			g[j] = float32(-c * (q[j] - p[j]))
		}
		losses[i] = float32(-h)
	}
}

// Criterion implements Criterion: −H of row i's softmax, in float64.
func (l NegEntropy) Criterion(_ int, z []float32) float64 {
	var bp, bq [maxStackClasses]float64
	return -Entropy(scratch(bp[:], len(z)), scratch(bq[:], len(z)), z, l.Alpha)
}

// Entropy returns the Shannon (alpha == 1) or α-Rényi entropy of softmax(z)
// in float64, using p and q (len(z) each) as scratch.
func Entropy(p, q []float64, z []float32, alpha float64) float64 {
	lse := SoftmaxFloat64(p, z)
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

// ConfidenceHinge is the modified Carlini–Wagner objective of the
// p-confident attack, minimised: max(0, Threshold − (z_t − logsumexp_{j≠t}
// z_j)) with t = Targets[i] and Threshold = log(p/(1−p)) + κ. It is zero
// exactly when softmax(z)_t ≥ p (for κ = 0), because softmax(z)_t/(1 −
// softmax(z)_t) = exp(z_t − logsumexp_{j≠t} z_j).
type ConfidenceHinge struct {
	Targets   []int
	Threshold float64
}

// Eval implements Loss.
func (l ConfidenceHinge) Eval(losses, grad, logits []float32, n, classes int) {
	for i := 0; i < n; i++ {
		z, g := logits[i*classes:(i+1)*classes], grad[i*classes:(i+1)*classes]
		t := l.Targets[i]
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
		f := l.Threshold - (float64(z[t]) - lse)
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

// maxStackClasses is the class count up to which the float64 losses keep
// their softmax scratch on the stack.
const maxStackClasses = 64

// scratch returns buf[:n], or a fresh slice when buf is too short.
func scratch(buf []float64, n int) []float64 {
	if n <= len(buf) {
		return buf[:n]
	}
	return make([]float64, n)
}

var (
	_ Loss = Prob{}
	_ Loss = NegEntropy{}
	_ Loss = ConfidenceHinge{}
)
