package xla

import (
	"context"
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

// hostPGD is the reference PGD loop on the host, built from InputGrad and
// Logits of the same executor.
func hostPGD(t *testing.T, e *Executor, x0, start []float32, n int, cfg PGDConfig) PGDResult {
	t.Helper()
	size, c := e.inputSize, e.model.Graph.Classes
	x := append([]float32{}, start[:n*size]...)
	res := PGDResult{Best: append([]float32{}, x...), BestConf: make([]float32, n), BestLabel: make([]int, n)}
	score := make([]float64, n) // attack's confidentWrong score
	for i := range score {
		score[i] = math.Inf(-1)
	}
	dx, z, p := make([]float32, n*size), make([]float32, n*c), make([]float32, n*c)
	keep := func() {
		engine.Softmax(p, z, n, c)
		for i := 0; i < n; i++ {
			best := 0
			for j := 1; j < c; j++ {
				if z[i*c+j] > z[i*c+best] {
					best = j
				}
			}
			conf := p[i*c+best]
			v := 1 - float64(conf)
			if best != cfg.Labels[i] {
				v = 1 + float64(conf)
			}
			if v > score[i] {
				score[i], res.BestConf[i], res.BestLabel[i] = v, conf, best
				copy(res.Best[i*size:(i+1)*size], x[i*size:(i+1)*size])
			}
		}
	}
	for s := 0; s < cfg.Steps; s++ {
		if err := e.InputGrad(dx, z, nil, x, n, cfg.Loss); err != nil {
			t.Fatal(err)
		}
		keep()
		for k := range x {
			g := float32(0)
			switch {
			case dx[k] > 0:
				g = 1
			case dx[k] < 0:
				g = -1
			}
			x[k] = min(max(x[k]+cfg.StepSize*g, x0[k]-cfg.Eps, 0), x0[k]+cfg.Eps, 1)
		}
	}
	if err := e.Logits(z, x, n); err != nil {
		t.Fatal(err)
	}
	keep()
	res.X = x
	return res
}

func TestPGDMatchesHostLoop(t *testing.T) {
	for _, tn := range testNets {
		t.Run(tn.name, func(t *testing.T) {
			m := newModel(t, tn.graph, 20)
			e := newTestExecutor(t, m)
			const n = 3
			x0 := randomInputs(tn.graph, n, 21)
			z := make([]float32, n*10)
			if err := e.Logits(z, x0, n); err != nil {
				t.Fatal(err)
			}
			// True labels: the clean predictions, so the start is correctly
			// classified and only a successful step counts.
			labels := make([]int, n)
			for i := range labels {
				for j := 1; j < 10; j++ {
					if z[i*10+j] > z[i*10+labels[i]] {
						labels[i] = j
					}
				}
			}
			targets := []int{(labels[0] + 1) % 10, (labels[1] + 3) % 10, (labels[2] + 5) % 10}
			cfg := PGDConfig{Loss: engine.TargetLogProb{Targets: targets}, Labels: labels, Eps: 0.3, StepSize: 0.05, Steps: 5, Unroll: 2}
			start := append([]float32{}, x0...)
			for k := range start {
				start[k] = min(max(start[k]+0.01*float32(k%3-1), 0), 1)
			}
			var got PGDResult
			if err := e.PGD(context.Background(), &got, x0, start, n, cfg); err != nil {
				t.Fatal(err)
			}
			if got.Compiles != 3 { // 2-step chunk, 1-step chunk, final
				t.Errorf("compiled %d programs, want 3", got.Compiles)
			}
			want := hostPGD(t, e, x0, start, n, cfg)
			for i := 0; i < n; i++ {
				if got.BestLabel[i] != want.BestLabel[i] || math.Abs(float64(got.BestConf[i]-want.BestConf[i])) > 1e-5 {
					t.Errorf("example %d: best label %d conf %.6f, host loop %d conf %.6f", i, got.BestLabel[i], got.BestConf[i], want.BestLabel[i], want.BestConf[i])
				}
			}
			for k := range want.X {
				if math.Abs(float64(got.X[k]-want.X[k])) > 1e-6 || math.Abs(float64(got.Best[k]-want.Best[k])) > 1e-6 {
					t.Fatalf("value %d: x %v best %v, host loop x %v best %v", k, got.X[k], got.Best[k], want.X[k], want.Best[k])
				}
				if d := got.X[k] - x0[k]; d > cfg.Eps+1e-6 || d < -cfg.Eps-1e-6 || got.X[k] < 0 || got.X[k] > 1 {
					t.Fatalf("value %d: x %v leaves the ball around %v or [0,1]", k, got.X[k], x0[k])
				}
			}
			found := 0
			for i, l := range got.BestLabel {
				if l != labels[i] {
					found++
				}
			}
			t.Logf("%d of %d examples found a misclassified iterate", found, n)
			// Cached programs: a second run compiles nothing.
			if err := e.PGD(context.Background(), &got, x0, start, n, cfg); err != nil || got.Compiles != 0 {
				t.Errorf("second run: err %v, compiled %d programs, want 0", err, got.Compiles)
			}
			// RunPGD, the flat form, gives the same results in place.
			x, best, conf, lab := append([]float32{}, start...), make([]float32, len(start)), make([]float32, n), make([]int, n)
			if err := e.RunPGD(context.Background(), x, best, conf, lab, x0, n, cfg.Loss, labels, cfg.Eps, cfg.StepSize, cfg.Steps); err != nil {
				t.Fatal(err)
			}
			for k := range x {
				if x[k] != got.X[k] || best[k] != got.Best[k] {
					t.Fatalf("RunPGD value %d: x %v best %v, PGD x %v best %v", k, x[k], best[k], got.X[k], got.Best[k])
				}
			}
			for i := range lab {
				if lab[i] != got.BestLabel[i] || conf[i] != got.BestConf[i] {
					t.Errorf("RunPGD example %d: label %d conf %v, PGD %d %v", i, lab[i], conf[i], got.BestLabel[i], got.BestConf[i])
				}
			}
			// Two halves with Continue keep the same best as one run when the
			// second half starts where the first stopped.
			half := cfg
			half.Steps = 3
			var split PGDResult
			if err := e.PGD(context.Background(), &split, x0, start, n, half); err != nil {
				t.Fatal(err)
			}
			half.Steps, half.Continue = 2, true
			// The end of the first half is evaluated again as the start of
			// the second; equal confidence does not replace the best.
			if err := e.PGD(context.Background(), &split, x0, append([]float32{}, split.X...), n, half); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < n; i++ {
				if split.BestLabel[i] != got.BestLabel[i] || split.BestConf[i] != got.BestConf[i] {
					t.Errorf("example %d: split run best label %d conf %v, one run %d %v", i, split.BestLabel[i], split.BestConf[i], got.BestLabel[i], got.BestConf[i])
				}
			}
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			if err := e.PGD(ctx, &got, x0, start, n, cfg); !errors.Is(err, context.Canceled) {
				t.Errorf("canceled context: error %v", err)
			}
			if err := e.PGD(context.Background(), &got, x0, start, n, PGDConfig{Loss: hostLoss{cfg.Loss}, Labels: labels, Steps: 1}); err == nil {
				t.Error("host-side loss accepted by PGD")
			}
		})
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
	cfg := PGDConfig{Loss: engine.CrossEntropy{Labels: labels}, Labels: labels, Eps: 0.1, StepSize: 0.03, Steps: 2}
	var r1, r2 PGDResult
	if err := exact.PGD(context.Background(), &r1, x, x, n, cfg); err != nil {
		t.Fatal(err)
	}
	if err := padded.PGD(context.Background(), &r2, x, x, n, cfg); err != nil {
		t.Fatal(err)
	}
	if len(r2.X) != n*size || len(r2.BestLabel) != n {
		t.Fatalf("padded PGD returned %d values and %d labels, want %d and %d", len(r2.X), len(r2.BestLabel), n*size, n)
	}
	same("pgd x", r1.X, r2.X)
	same("pgd best", r1.Best, r2.Best)
	same("pgd conf", r1.BestConf, r2.BestConf)
	for i := range r1.BestLabel {
		if r1.BestLabel[i] != r2.BestLabel[i] {
			t.Errorf("pgd label %d: exact %d, padded %d", i, r1.BestLabel[i], r2.BestLabel[i])
		}
	}
	before := padded.Compiles()
	if err := padded.Logits(make([]float32, 4*c), randomInputs(tn.graph, 4, 26), 4); err != nil {
		t.Fatal(err)
	}
	if padded.Compiles() != before {
		t.Errorf("batch 4 compiled a program after batch 3 with buckets")
	}
}
