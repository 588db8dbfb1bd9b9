package engine

// CrossEntropy is the softmax cross-entropy −log softmax(z)_y of each
// example's logits z against Labels[i].
type CrossEntropy struct {
	Labels []int
}

// Eval implements Loss.
func (l CrossEntropy) Eval(losses, grad, logits []float32, n, classes int) {
	for i := 0; i < n; i++ {
		z, g := logits[i*classes:(i+1)*classes], grad[i*classes:(i+1)*classes]
		lse := softmaxInto(g, z)
		y := l.Labels[i]
		losses[i] = float32(lse - float64(z[y]))
		g[y] -= 1
	}
}

// TargetLogProb is log softmax(z)_t, the log-confidence of Targets[i]: an
// attack maximises it to make a target label confident.
type TargetLogProb struct {
	Targets []int
}

// Eval implements Loss.
func (l TargetLogProb) Eval(losses, grad, logits []float32, n, classes int) {
	for i := 0; i < n; i++ {
		z, g := logits[i*classes:(i+1)*classes], grad[i*classes:(i+1)*classes]
		lse := softmaxInto(g, z)
		t := l.Targets[i]
		losses[i] = float32(float64(z[t]) - lse)
		for j := range g {
			g[j] = -g[j]
		}
		g[t] += 1
	}
}

// CWMargin is Carlini and Wagner's logit margin, which an attack maximises:
// untargeted, m = max_{j≠y} z_j − z_y with y = Labels[i] (positive once some
// other label beats y); with Targeted, Labels are targets t and
// m = z_t − max_{j≠t} z_j. The loss is min(m, Kappa): past the margin Kappa
// the gradient is zero, so an attack stops pushing (Kappa = 0 stops at the
// decision boundary).
type CWMargin struct {
	Labels   []int
	Kappa    float32
	Targeted bool
}

// Eval implements Loss.
func (l CWMargin) Eval(losses, grad, logits []float32, n, classes int) {
	for i := 0; i < n; i++ {
		z, g := logits[i*classes:(i+1)*classes], grad[i*classes:(i+1)*classes]
		y := l.Labels[i]
		best := -1
		for j := range z {
			if j != y && (best < 0 || z[j] > z[best]) {
				best = j
			}
		}
		clear(g)
		// s is the sign of z_best in the margin.
		m, s := z[best]-z[y], float32(1)
		if l.Targeted {
			m, s = -m, -1
		}
		if m > l.Kappa {
			losses[i] = l.Kappa
			continue
		}
		losses[i] = m
		g[best] += s
		g[y] -= s
	}
}

// LogitWeights is the weighted sum Σ_j W[i·classes+j]·z_ij of the logits:
// the gradient of an arbitrary function of the logits supplied by the caller.
type LogitWeights struct {
	W []float32
}

// Eval implements Loss.
func (l LogitWeights) Eval(losses, grad, logits []float32, n, classes int) {
	for i := 0; i < n; i++ {
		s := float32(0)
		for j := 0; j < classes; j++ {
			k := i*classes + j
			grad[k] = l.W[k]
			s += l.W[k] * logits[k]
		}
		losses[i] = s
	}
}
