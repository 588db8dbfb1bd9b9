package attack

import (
	"math"
	"math/rand/v2"

	"confrobust/engine"
	"confrobust/model"
)

// linear is a softmax regression logits = W·x + b (W classes×d, row-major)
// with closed-form gradients: ∂(Σ loss)/∂x_i = Wᵀ·∂loss/∂z_i. It counts its
// calls and can run a hook before each InputGrad (for cancellation tests).
type linear struct {
	model      *model.Model
	w, b       []float32
	d, k       int
	grads      int
	forwards   int
	beforeGrad func()
	g          []float32
}

func newLinear(d, k int, w, b []float32) *linear {
	g := &model.Graph{Name: "linear", Input: model.Shape{1, 1, d}, Classes: k}
	return &linear{model: &model.Model{Graph: g}, w: w, b: b, d: d, k: k}
}

// randomLinear returns a linear model with normal weights of scale s.
func randomLinear(seed uint64, d, k int, s float64) *linear {
	r := rand.New(rand.NewPCG(seed, 7))
	w, b := make([]float32, k*d), make([]float32, k)
	for i := range w {
		w[i] = float32(s * r.NormFloat64())
	}
	for i := range b {
		b[i] = float32(0.1 * r.NormFloat64())
	}
	return newLinear(d, k, w, b)
}

func (l *linear) Model() *model.Model { return l.model }

func (l *linear) Logits(dst, x []float32, n int) error {
	l.forwards++
	for i := 0; i < n; i++ {
		xi := x[i*l.d : (i+1)*l.d]
		for c := 0; c < l.k; c++ {
			s := l.b[c]
			for j, v := range l.w[c*l.d : (c+1)*l.d] {
				s += v * xi[j]
			}
			dst[i*l.k+c] = s
		}
	}
	return nil
}

func (l *linear) InputGrad(dx, logits, losses, x []float32, n int, loss engine.Loss) error {
	if l.beforeGrad != nil {
		l.beforeGrad()
	}
	l.grads++
	l.forwards--
	if logits == nil {
		logits = make([]float32, n*l.k)
	}
	if losses == nil {
		losses = make([]float32, n)
	}
	l.Logits(logits, x, n)
	if len(l.g) < n*l.k {
		l.g = make([]float32, n*l.k)
	}
	g := l.g[:n*l.k]
	loss.Eval(losses, g, logits, n, l.k)
	for i := 0; i < n; i++ {
		dxi := dx[i*l.d : (i+1)*l.d]
		clear(dxi)
		for c := 0; c < l.k; c++ {
			gc := g[i*l.k+c]
			for j, v := range l.w[c*l.d : (c+1)*l.d] {
				dxi[j] += gc * v
			}
		}
	}
	return nil
}

func (l *linear) ParamGrad(map[string][]float32, []float32, []float32, []float32, int, engine.Loss) error {
	panic("linear: ParamGrad not implemented")
}
func (l *linear) Sync() error  { return nil }
func (l *linear) Close() error { return nil }

// mlp is a two-layer tanh network logits = B·tanh(A·x + a) + c with an
// analytic backward pass: a model with curvature.
type mlp struct {
	model      *model.Model
	a, a0      []float32 // h×d, h
	bw, b0     []float32 // k×h, k
	d, h, k    int
	hid, g, gh []float32
}

func newMLP(seed uint64, d, h, k int) *mlp {
	r := rand.New(rand.NewPCG(seed, 9))
	m := &mlp{d: d, h: h, k: k, a: make([]float32, h*d), a0: make([]float32, h), bw: make([]float32, k*h), b0: make([]float32, k)}
	for i := range m.a {
		m.a[i] = float32(2 * r.NormFloat64())
	}
	for i := range m.a0 {
		m.a0[i] = float32(0.5 * r.NormFloat64())
	}
	for i := range m.bw {
		m.bw[i] = float32(2 * r.NormFloat64())
	}
	g := &model.Graph{Name: "mlp", Input: model.Shape{1, 1, d}, Classes: k}
	m.model = &model.Model{Graph: g}
	return m
}

func (m *mlp) Model() *model.Model { return m.model }

func (m *mlp) Logits(dst, x []float32, n int) error {
	if len(m.hid) < n*m.h {
		m.hid = make([]float32, n*m.h)
	}
	for i := 0; i < n; i++ {
		xi, hi := x[i*m.d:(i+1)*m.d], m.hid[i*m.h:(i+1)*m.h]
		for u := 0; u < m.h; u++ {
			s := m.a0[u]
			for j, v := range m.a[u*m.d : (u+1)*m.d] {
				s += v * xi[j]
			}
			hi[u] = float32(math.Tanh(float64(s)))
		}
		for c := 0; c < m.k; c++ {
			s := m.b0[c]
			for u, v := range m.bw[c*m.h : (c+1)*m.h] {
				s += v * hi[u]
			}
			dst[i*m.k+c] = s
		}
	}
	return nil
}

func (m *mlp) InputGrad(dx, logits, losses, x []float32, n int, loss engine.Loss) error {
	if logits == nil {
		logits = make([]float32, n*m.k)
	}
	if losses == nil {
		losses = make([]float32, n)
	}
	m.Logits(logits, x, n)
	if len(m.g) < n*m.k {
		m.g = make([]float32, n*m.k)
	}
	if len(m.gh) < m.h {
		m.gh = make([]float32, m.h)
	}
	loss.Eval(losses, m.g[:n*m.k], logits, n, m.k)
	for i := 0; i < n; i++ {
		hi := m.hid[i*m.h : (i+1)*m.h]
		gh := m.gh[:m.h]
		clear(gh)
		for c := 0; c < m.k; c++ {
			gc := m.g[i*m.k+c]
			for u, v := range m.bw[c*m.h : (c+1)*m.h] {
				gh[u] += gc * v
			}
		}
		dxi := dx[i*m.d : (i+1)*m.d]
		clear(dxi)
		for u := 0; u < m.h; u++ {
			gu := gh[u] * (1 - hi[u]*hi[u])
			for j, v := range m.a[u*m.d : (u+1)*m.d] {
				dxi[j] += gu * v
			}
		}
	}
	return nil
}

func (m *mlp) ParamGrad(map[string][]float32, []float32, []float32, []float32, int, engine.Loss) error {
	panic("mlp: ParamGrad not implemented")
}
func (m *mlp) Sync() error  { return nil }
func (m *mlp) Close() error { return nil }

// randomInputs returns n inputs of size d uniform in [0,1], with some pixels
// at the box's edges.
func randomInputs(seed uint64, n, d int) []float32 {
	r := rand.New(rand.NewPCG(seed, 3))
	x := make([]float32, n*d)
	for i := range x {
		switch u := r.Float64(); {
		case u < 0.1:
			x[i] = 0
		case u < 0.2:
			x[i] = 1
		default:
			x[i] = float32(r.Float64())
		}
	}
	return x
}
