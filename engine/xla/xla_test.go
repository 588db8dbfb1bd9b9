package xla

import (
	"errors"
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"confrobust/engine"
	"confrobust/engine/internal/reference"
	"confrobust/model"

	"github.com/gomlx/gomlx/backends"
)

var (
	goBackendOnce sync.Once
	goBackend     backends.Backend
)

// newTestExecutor returns an executor of m on GoMLX's pure-Go backend,
// shared by all tests.
func newTestExecutor(t testing.TB, m *model.Model, opts ...Option) *Executor {
	t.Helper()
	goBackendOnce.Do(func() {
		var err error
		if goBackend, err = newBackend("go"); err != nil {
			t.Fatal(err)
		}
	})
	e, err := New(m, append([]Option{WithBackendInstance(goBackend)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

type testNet struct {
	name  string
	graph *model.Graph
}

var testNets = []testNet{
	{"mnist", model.MNISTCNN(model.MNISTConfig{Conv1: 3, Conv2: 4, Hidden: 8})},
	{"wrn", model.WideResNet(model.WideResNetConfig{Image: 8, InitWidth: 4, Widths: [3]int{6, 8, 10}, Units: 1, Classes: 10, InputScale: 255})},
	{"pools", poolsGraph()},
}

// poolsGraph exercises the pooling forms the Madry networks do not reach:
// SAME max pooling that pads (7 → 4), windows larger than the stride (the
// gather path) and VALID average pooling that drops a remainder.
func poolsGraph() *model.Graph {
	return &model.Graph{Name: "pools", Input: model.Shape{7, 7, 2}, Classes: 10, Nodes: []model.Node{
		{Op: model.OpConv2D, Name: "conv", Inputs: []int{model.GraphInput}, Weight: "conv/w", Bias: "conv/b", Kernel: 3, Stride: 1, Out: 3},
		{Op: model.OpLeakyReLU, Name: "act", Inputs: []int{0}, Alpha: 0.1},
		{Op: model.OpMaxPool, Name: "pool_k2", Inputs: []int{1}, Kernel: 2, Stride: 2},
		{Op: model.OpMaxPool, Name: "pool_k3", Inputs: []int{1}, Kernel: 3, Stride: 2},
		{Op: model.OpAdd, Name: "add", Inputs: []int{2, 3}},
		{Op: model.OpAvgPool, Name: "avg", Inputs: []int{4}, Kernel: 3, Stride: 1},
		{Op: model.OpAvgPool, Name: "avg2", Inputs: []int{1}, Kernel: 2, Stride: 2},
		{Op: model.OpMaxPool, Name: "pool3", Inputs: []int{6}, Kernel: 2, Stride: 2},
		{Op: model.OpAdd, Name: "add2", Inputs: []int{5, 7}},
		{Op: model.OpDense, Name: "fc", Inputs: []int{8}, Weight: "fc/w", Bias: "fc/b", Out: 10},
	}}
}

func newModel(t testing.TB, g *model.Graph, seed uint64) *model.Model {
	t.Helper()
	m, err := model.NewModel(g)
	if err != nil {
		t.Fatal(err)
	}
	m.InitRandom(seed)
	return m
}

func randomInputs(g *model.Graph, n int, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 7))
	x := make([]float32, n*g.Input.Size())
	for i := range x {
		x[i] = r.Float32()
	}
	return x
}

func example(x []float32, i, size int) []float64 {
	out := make([]float64, size)
	for k := range out {
		out[k] = float64(x[i*size+k])
	}
	return out
}

func maxAbs(v []float64) float64 {
	m := 0.0
	for _, x := range v {
		m = max(m, math.Abs(x))
	}
	return m
}

func TestLogitsMatchReference(t *testing.T) {
	for _, tn := range testNets {
		t.Run(tn.name, func(t *testing.T) {
			m := newModel(t, tn.graph, 1)
			e := newTestExecutor(t, m)
			const n = 3
			x := randomInputs(tn.graph, n, 2)
			c, size := tn.graph.Classes, tn.graph.Input.Size()
			z := make([]float32, n*c)
			if err := e.Logits(z, x, n); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < n; i++ {
				ref, err := reference.Logits(m, example(x, i, size))
				if err != nil {
					t.Fatal(err)
				}
				scale := max(maxAbs(ref), 1)
				for j := 0; j < c; j++ {
					if d := math.Abs(float64(z[i*c+j]) - ref[j]); d > 1e-4*scale {
						t.Errorf("example %d logit %d: got %.7g, reference %.7g (|diff| %.3g > 1e-4·%.3g)", i, j, z[i*c+j], ref[j], d, scale)
					}
				}
			}
		})
	}
}

// hostLoss hides a loss's type so the executor evaluates it on the host
// (forward program, Eval, vector-Jacobian program).
type hostLoss struct{ engine.Loss }

// refTargetLogProb is Σ_i log softmax(reference logits of x_i)_{t_i}.
func refTargetLogProb(t *testing.T, m *model.Model, x []float64, target int) float64 {
	z, err := reference.Logits(m, x)
	if err != nil {
		t.Fatal(err)
	}
	return reference.LogSoftmax(z)[target]
}

func TestInputGradMatchesFiniteDifferences(t *testing.T) {
	for _, tn := range testNets {
		for _, host := range []bool{false, true} {
			name := tn.name + "/in-graph"
			if host {
				name = tn.name + "/host-loss"
			}
			t.Run(name, func(t *testing.T) {
				m := newModel(t, tn.graph, 3)
				e := newTestExecutor(t, m)
				const n = 2
				size, c := tn.graph.Input.Size(), tn.graph.Classes
				x := randomInputs(tn.graph, n, 4)
				targets := []int{3, 7}
				var loss engine.Loss = engine.TargetLogProb{Targets: targets}
				if host {
					loss = hostLoss{loss}
				}
				dx, z, l := make([]float32, n*size), make([]float32, n*c), make([]float32, n)
				if err := e.InputGrad(dx, z, l, x, n, loss); err != nil {
					t.Fatal(err)
				}
				r := rand.New(rand.NewPCG(5, 5))
				const h = 1e-5
				for i := 0; i < n; i++ {
					xi := example(x, i, size)
					if want := refTargetLogProb(t, m, xi, targets[i]); math.Abs(float64(l[i])-want) > 1e-4*max(1, math.Abs(want)) {
						t.Errorf("example %d: loss %.7g, reference %.7g", i, l[i], want)
					}
					g := example(dx, i, size)
					scale := maxAbs(g)
					// Coordinates one at a time, then a random direction.
					for trial := 0; trial < 12; trial++ {
						k := r.IntN(size)
						xp, xm := append([]float64{}, xi...), append([]float64{}, xi...)
						xp[k] += h
						xm[k] -= h
						fd := (refTargetLogProb(t, m, xp, targets[i]) - refTargetLogProb(t, m, xm, targets[i])) / (2 * h)
						if math.Abs(g[k]-fd) > 2e-3*scale {
							t.Errorf("example %d, ∂/∂x[%d]: got %.6g, finite difference %.6g (scale %.3g)", i, k, g[k], fd, scale)
						}
					}
					d := make([]float64, size)
					xp, xm := make([]float64, size), make([]float64, size)
					dot, norm := 0.0, 0.0
					for k := range d {
						d[k] = r.NormFloat64()
						xp[k], xm[k] = xi[k]+h*d[k], xi[k]-h*d[k]
						dot += g[k] * d[k]
						norm += g[k] * g[k]
					}
					fd := (refTargetLogProb(t, m, xp, targets[i]) - refTargetLogProb(t, m, xm, targets[i])) / (2 * h)
					if math.Abs(dot-fd) > 1e-3*math.Sqrt(norm*float64(size)) {
						t.Errorf("example %d: directional derivative %.7g, finite difference %.7g", i, dot, fd)
					}
				}
			})
		}
	}
}

func TestLossesInGraphMatchHost(t *testing.T) {
	tn := testNets[1]
	m := newModel(t, tn.graph, 6)
	e := newTestExecutor(t, m)
	const n = 4
	size, c := tn.graph.Input.Size(), tn.graph.Classes
	x := randomInputs(tn.graph, n, 8)
	labels := []int{0, 9, 4, 2}
	w := make([]float32, n*c)
	for i := range w {
		w[i] = float32(i%7) - 3
	}
	// Kappa small enough that some examples are clipped and some are not.
	losses := []engine.Loss{
		engine.CrossEntropy{Labels: labels},
		&engine.TargetLogProb{Targets: labels},
		engine.CWMargin{Labels: labels, Kappa: 0.05},
		engine.CWMargin{Labels: labels, Kappa: 0.05, Targeted: true},
		engine.CWMargin{Labels: labels, Kappa: 100},
		engine.LogitWeights{W: w},
		engine.Prob{Labels: labels},
		&engine.NegEntropy{Alpha: 1},
		engine.NegEntropy{Alpha: 0.5},
		engine.NegEntropy{Alpha: 3},
		engine.ConfidenceHinge{Targets: labels, Threshold: 2},
	}
	for _, loss := range losses {
		dx1, z1, l1 := make([]float32, n*size), make([]float32, n*c), make([]float32, n)
		dx2, z2, l2 := make([]float32, n*size), make([]float32, n*c), make([]float32, n)
		if err := e.InputGrad(dx1, z1, l1, x, n, loss); err != nil {
			t.Fatal(err)
		}
		if err := e.InputGrad(dx2, z2, l2, x, n, hostLoss{loss}); err != nil {
			t.Fatal(err)
		}
		compare := func(what string, a, b []float32, tol float32) {
			scale := float32(0)
			for _, v := range b {
				scale = max(scale, float32(math.Abs(float64(v))))
			}
			for k := range a {
				if d := float32(math.Abs(float64(a[k] - b[k]))); d > tol*max(scale, 1e-3) {
					t.Errorf("%T%+v: %s[%d]: in-graph %.7g, host %.7g", loss, loss, what, k, a[k], b[k])
					return
				}
			}
		}
		compare("logits", z1, z2, 1e-6)
		compare("losses", l1, l2, 1e-5)
		compare("dx", dx1, dx2, 1e-4)
	}
}

func TestParamGradMatchesFiniteDifferences(t *testing.T) {
	for _, tn := range testNets {
		t.Run(tn.name, func(t *testing.T) {
			m := newModel(t, tn.graph, 9)
			e := newTestExecutor(t, m)
			const n = 2
			size := tn.graph.Input.Size()
			x := randomInputs(tn.graph, n, 10)
			labels := []int{1, 5}
			grads := map[string][]float32{}
			if err := e.ParamGrad(grads, nil, nil, x, n, engine.CrossEntropy{Labels: labels}); err != nil {
				t.Fatal(err)
			}
			refLoss := func() float64 {
				s := 0.0
				for i := 0; i < n; i++ {
					s -= refTargetLogProb(t, m, example(x, i, size), labels[i])
				}
				return s
			}
			r := rand.New(rand.NewPCG(11, 11))
			// Small enough that no ReLU or max-pool switches inside [−h, h]
			// (a conv bias moves every activation of its channel: h = 1e-3
			// was 6% off); the quotient uses the float32-rounded step.
			const h = 1e-5
			for _, s := range m.Specs {
				g := grads[s.Name]
				if len(g) != s.Size() {
					t.Fatalf("%s: gradient has %d values, want %d", s.Name, len(g), s.Size())
				}
				k := r.IntN(s.Size())
				v := m.Params[s.Name]
				old := v[k]
				v[k] = old + h
				fp := refLoss()
				v[k] = old - h
				fm := refLoss()
				v[k] = old
				fd := (fp - fm) / (float64(float32(old+h)) - float64(float32(old-h)))
				if math.Abs(float64(g[k])-fd) > 1e-2*max(math.Abs(fd), 1e-2) {
					t.Errorf("∂loss/∂%s[%d]: got %.6g, finite difference %.6g", s.Name, k, g[k], fd)
				}
			}
		})
	}
}

func TestNativeOpsForwardMatchPortable(t *testing.T) {
	for _, tn := range testNets {
		t.Run(tn.name, func(t *testing.T) {
			m := newModel(t, tn.graph, 12)
			portable := newTestExecutor(t, m, WithOps(OpsPortable))
			native := newTestExecutor(t, m, WithOps(OpsNative))
			const n = 2
			c := tn.graph.Classes
			x := randomInputs(tn.graph, n, 13)
			z1, z2 := make([]float32, n*c), make([]float32, n*c)
			if err := portable.Logits(z1, x, n); err != nil {
				t.Fatal(err)
			}
			if err := native.Logits(z2, x, n); err != nil {
				t.Fatal(err)
			}
			for k := range z1 {
				if d := math.Abs(float64(z1[k] - z2[k])); d > 1e-4*max(1, math.Abs(float64(z1[k]))) {
					t.Errorf("logit %d: portable %.7g, native %.7g", k, z1[k], z2[k])
				}
			}
		})
	}
}

func TestSync(t *testing.T) {
	tn := testNets[0]
	m := newModel(t, tn.graph, 14)
	e := newTestExecutor(t, m)
	x := randomInputs(tn.graph, 1, 15)
	z1, z2 := make([]float32, 10), make([]float32, 10)
	if err := e.Logits(z1, x, 1); err != nil {
		t.Fatal(err)
	}
	bias := m.Params["Variable_7"]
	bias[3] += 1
	if err := e.Logits(z2, x, 1); err != nil {
		t.Fatal(err)
	}
	if z1[3] != z2[3] {
		t.Errorf("parameters changed without Sync reached the device: %v → %v", z1[3], z2[3])
	}
	if err := e.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := e.Logits(z2, x, 1); err != nil {
		t.Fatal(err)
	}
	if d := z2[3] - z1[3]; math.Abs(float64(d-1)) > 1e-5 {
		t.Errorf("after Sync, logit 3 moved by %v, want 1", d)
	}
	if got := e.Compiles(); got != 1 {
		t.Errorf("%d programs compiled for one batch shape, want 1", got)
	}
}

func TestBadInputs(t *testing.T) {
	tn := testNets[0]
	m := newModel(t, tn.graph, 16)
	e := newTestExecutor(t, m)
	x := randomInputs(tn.graph, 2, 17)
	dx := make([]float32, len(x))
	if err := e.Logits(make([]float32, 20), x[:10], 2); err == nil {
		t.Error("short input accepted")
	}
	if err := e.Logits(make([]float32, 5), x, 2); err == nil {
		t.Error("short dst accepted")
	}
	if err := e.InputGrad(dx, nil, nil, x, 2, engine.CrossEntropy{Labels: []int{0, 10}}); err == nil {
		t.Error("label 10 of 10 classes accepted")
	}
	if err := e.InputGrad(dx, nil, nil, x, 2, engine.CrossEntropy{Labels: []int{0}}); err == nil {
		t.Error("one label for two examples accepted")
	}
	// A failed Sync keeps the weights uploaded before.
	z1, z2 := make([]float32, 20), make([]float32, 20)
	if err := e.Logits(z1, x, 2); err != nil {
		t.Fatal(err)
	}
	good := m.Params["Variable_7"]
	m.Params["Variable_7"] = good[:3]
	if err := e.Sync(); err == nil {
		t.Error("Sync accepted a parameter of the wrong size")
	}
	m.Params["Variable_7"] = good
	if err := e.Logits(z2, x, 2); err != nil {
		t.Fatalf("after a failed Sync: %v", err)
	}
	for k := range z1 {
		if z1[k] != z2[k] {
			t.Fatalf("after a failed Sync logit %d changed: %v → %v", k, z1[k], z2[k])
		}
	}
	e.Close()
	if err := e.Logits(make([]float32, 20), x, 2); !errors.Is(err, ErrClosed) {
		t.Errorf("closed executor: error %v, want ErrClosed", err)
	}
}

func TestBackendErrors(t *testing.T) {
	m := newModel(t, testNets[0].graph, 18)
	for _, cfg := range []string{"xla:/nonexistent/xla_cuda_plugin.so", "xla:cuda"} {
		_, err := New(m, WithBackend(cfg))
		if !errors.Is(err, ErrNoPlugin) {
			t.Errorf("backend %q: error %v, want ErrNoPlugin", cfg, err)
		}
	}
	t.Setenv(PluginEnv, "relative/xla_cuda_plugin.so")
	if _, err := New(m); !errors.Is(err, ErrNoPlugin) {
		t.Errorf("relative $%s: error %v, want ErrNoPlugin", PluginEnv, err)
	}
	if _, err := New(m, WithBackend("tensorflow")); err == nil {
		t.Error("unknown backend accepted")
	}
}

// TestLongerSlices checks that output slices longer than the batch needs are
// accepted and written only at the front.
func TestLongerSlices(t *testing.T) {
	tn := testNets[0]
	m := newModel(t, tn.graph, 22)
	e := newTestExecutor(t, m)
	x := randomInputs(tn.graph, 2, 23)
	size := tn.graph.Input.Size()
	dx, z, l := make([]float32, 3*size), make([]float32, 25), make([]float32, 3)
	for i := range z {
		z[i] = -7
	}
	l[2] = -7
	if err := e.InputGrad(dx, z, l, x, 2, engine.CrossEntropy{Labels: []int{1, 2}}); err != nil {
		t.Fatal(err)
	}
	if z[20] != -7 || l[2] != -7 || z[19] == -7 {
		t.Errorf("logits %v, losses %v: want the first 20 and 2 written, the rest untouched", z[18:], l)
	}
}

// TestBatchBuckets checks that padding a batch of 3 to 4 changes no result
// of the real rows and that sizes 3 and 4 share programs.
func TestBatchBuckets(t *testing.T) {
	tn := testNets[1]
	m := newModel(t, tn.graph, 24)
	exact := newTestExecutor(t, m)
	padded := newTestExecutor(t, m, WithBatchBuckets(true))
	const n = 3
	size, c := tn.graph.Input.Size(), tn.graph.Classes
	x := randomInputs(tn.graph, n, 25)
	labels := []int{4, 5, 6}
	same := func(what string, a, b []float32) {
		t.Helper()
		for k := range a {
			if math.Abs(float64(a[k]-b[k])) > 1e-6*max(1, math.Abs(float64(a[k]))) {
				t.Fatalf("%s[%d]: exact batch %v, padded batch %v", what, k, a[k], b[k])
			}
		}
	}
	z1, z2 := make([]float32, n*c), make([]float32, n*c)
	if err := exact.Logits(z1, x, n); err != nil {
		t.Fatal(err)
	}
	if err := padded.Logits(z2, x, n); err != nil {
		t.Fatal(err)
	}
	same("logits", z1, z2)
	for _, loss := range []engine.Loss{engine.CWMargin{Labels: labels, Kappa: 1}, hostLoss{engine.CrossEntropy{Labels: labels}}} {
		dx1, l1 := make([]float32, n*size), make([]float32, n)
		dx2, l2 := make([]float32, n*size), make([]float32, n)
		if err := exact.InputGrad(dx1, z1, l1, x, n, loss); err != nil {
			t.Fatal(err)
		}
		if err := padded.InputGrad(dx2, z2, l2, x, n, loss); err != nil {
			t.Fatal(err)
		}
		same("dx", dx1, dx2)
		same("losses", l1, l2)
		same("logits", z1, z2)
	}
	before := padded.Compiles()
	if err := padded.Logits(make([]float32, 4*c), randomInputs(tn.graph, 4, 26), 4); err != nil {
		t.Fatal(err)
	}
	if padded.Compiles() != before {
		t.Errorf("batch 4 compiled a program after batch 3 with buckets")
	}
}
