//go:build !noxla

package attack

import (
	"context"
	"fmt"
	"math"
	"testing"

	"confrobust/engine"
	"confrobust/engine/native"
	"confrobust/engine/xla"
	"confrobust/model"
)

// outcome is what the equality tests compare of one run: the decisions
// (labels, flags, choices) exactly, the confidences and points to float
// tolerance.
type outcome struct {
	decisions []int
	conf      []float64
	points    []float32
	steps     int
}

// xlaRuns are the searches of every protocol in small settings: Table 1's
// CW, Tables 2/3's MaxConfidence, Table 4's PGD and MCN, and the other
// defenses.
var xlaRuns = []struct {
	name string
	run  func(ctx context.Context, e engine.Executor, x []float32, y []int) (outcome, error)
}{
	{"MaxConfidence 2 restarts", func(ctx context.Context, e engine.Executor, x []float32, y []int) (outcome, error) {
		a := &MaxConfidence{PGD: PGD{Eps: 0.1, Iterations: 4, Restarts: 2, RandomStart: true, Seed: 3, Batch: 7}}
		r, err := a.Run(ctx, e, x, y)
		if err != nil {
			return outcome{}, err
		}
		dec := append(append([]int{}, r.Target...), r.Pred...)
		for _, w := range r.CandWrong {
			dec = append(dec, b2i(w))
		}
		return outcome{dec, append(append([]float64{}, r.Conf...), r.CandConf...), r.X, r.Steps}, nil
	}},
	{"PGD cross-entropy, highest loss", func(ctx context.Context, e engine.Executor, x []float32, y []int) (outcome, error) {
		a := &PGD{Eps: 0.1, Iterations: 4, Keep: KeepHighestLoss}
		return pgdOutcome(a.Run(ctx, e, x, y, nil))
	}},
	{"PGD targeted CW margin, last", func(ctx context.Context, e engine.Executor, x []float32, y []int) (outcome, error) {
		t := make([]int, len(y))
		for i := range t {
			t[i] = (y[i] + 3) % 10
		}
		a := &PGD{Eps: 0.1, Iterations: 4, Loss: CWMargin, Kappa: float32(math.Inf(1)), Keep: KeepLast}
		return pgdOutcome(a.Run(ctx, e, x, y, t))
	}},
	{"Table 4 PGD, most confident wrong", func(ctx context.Context, e engine.Executor, x []float32, y []int) (outcome, error) {
		t := make([]int, len(y))
		for i := range t {
			t[i] = (y[i] + 1) % 10
		}
		a := &PGD{Eps: 0.1, Iterations: 4, Loss: TargetLogProb, Restarts: 3, RandomStart: true, Seed: 5, Batch: 4}
		return pgdOutcome(a.Run(ctx, e, x, y, t))
	}},
	{"MCN", func(ctx context.Context, e engine.Executor, x []float32, _ []int) (outcome, error) {
		return embOutcome(MCN(0.1, 4).Run(ctx, e, x))
	}},
	{"HCNN ℓ∞", func(ctx context.Context, e engine.Executor, x []float32, _ []int) (outcome, error) {
		h := &HCNN{Xi: 0.1, Lambda: 0.3, Iterations: 4, Batch: 9}
		return embOutcome(h.Run(ctx, e, x))
	}},
	{"HCNN ℓ2, random start", func(ctx context.Context, e engine.Executor, x []float32, _ []int) (outcome, error) {
		h := &HCNN{Xi: 0.1, Lambda: 0.05, Norm: L2, Iterations: 4, RandomStart: true, Seed: 2}
		return embOutcome(h.Run(ctx, e, x))
	}},
	{"NCN", func(ctx context.Context, e engine.Executor, x []float32, _ []int) (outcome, error) {
		a := &NCN{Xi: 0.1, P: 0.2, Iterations: 3, Rounds: 2}
		return embOutcome(a.Run(ctx, e, x))
	}},
	{"Shannon", func(ctx context.Context, e engine.Executor, x []float32, _ []int) (outcome, error) {
		a := &Entropy{Xi: 0.1, Iterations: 4}
		return embOutcome(a.Run(ctx, e, x))
	}},
	{"Rényi α=2", func(ctx context.Context, e engine.Executor, x []float32, _ []int) (outcome, error) {
		a := &Entropy{Xi: 0.1, Kind: Renyi, Alpha: 2, Iterations: 4, RandomStart: true, Seed: 4}
		return embOutcome(a.Run(ctx, e, x))
	}},
	{"CW 2 restarts", func(ctx context.Context, e engine.Executor, x []float32, y []int) (outcome, error) {
		a := &CW{Eps: 0.1, P: 0.25, Iterations: 6, Restarts: 2, Seed: 7, Batch: 5, Distance: 0.1}
		r, err := a.Run(ctx, e, x, y)
		if err != nil {
			return outcome{}, err
		}
		dec := append([]int{}, r.Label...)
		for _, f := range r.Found {
			dec = append(dec, b2i(f))
		}
		return outcome{dec, r.Conf, r.X, r.Steps}, nil
	}},
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func pgdOutcome(r *Result, err error) (outcome, error) {
	if err != nil {
		return outcome{}, err
	}
	dec := append([]int{}, r.Pred...)
	for _, w := range r.Wrong {
		dec = append(dec, b2i(w))
	}
	return outcome{dec, append(append([]float64{}, r.Conf...), r.Score...), r.X, r.Steps}, nil
}

func embOutcome(e *Embedding, err error) (outcome, error) {
	if err != nil {
		return outcome{}, err
	}
	dec := append(append(append([]int{}, e.Chosen...), e.Prediction...), e.Pred...)
	return outcome{dec, append(append([]float64{}, e.Conf...), e.Objective...), e.Points, e.Steps}, nil
}

// inputGradOnly hides an executor's engine.Searcher, so that the attacks
// step through InputGrad.
type inputGradOnly struct{ engine.Executor }

// compareOutcomes reports where b differs from a: any decision, a
// confidence or objective by more than tol (relative above 1), a point
// value by more than tol.
func compareOutcomes(t *testing.T, what string, a, b outcome, tol float64) {
	t.Helper()
	if len(a.decisions) != len(b.decisions) || len(a.conf) != len(b.conf) || len(a.points) != len(b.points) {
		t.Fatalf("%s: outcomes of different sizes", what)
	}
	for i := range a.decisions {
		if a.decisions[i] != b.decisions[i] {
			t.Errorf("%s: decision %d: %d vs %d", what, i, a.decisions[i], b.decisions[i])
		}
	}
	worst := 0.0
	for i := range a.conf {
		if math.IsInf(a.conf[i], 0) && a.conf[i] == b.conf[i] {
			continue
		}
		d := math.Abs(a.conf[i]-b.conf[i]) / max(1, math.Abs(a.conf[i]))
		worst = max(worst, d)
		if !(d <= tol) {
			t.Errorf("%s: confidence %d: %.8g vs %.8g", what, i, a.conf[i], b.conf[i])
		}
	}
	wp := 0.0
	for i := range a.points {
		wp = max(wp, math.Abs(float64(a.points[i]-b.points[i])))
	}
	if wp > tol {
		t.Errorf("%s: points differ by up to %g", what, wp)
	}
	t.Logf("%s: largest confidence difference %.3g, point difference %.3g; steps %d vs %d", what, worst, wp, a.steps, b.steps)
}

// TestCompiledSearchMatchesInputGrad runs every protocol's search on the
// small Madry architectures through GoMLX's compiled search (pure-Go
// backend), through the same executor's InputGrad, and on engine/native:
// the same decisions, and confidences and points to float tolerance.
func TestCompiledSearchMatchesInputGrad(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles GoMLX programs on the pure-Go backend; run without -short")
	}
	for _, g := range []*model.Graph{
		model.MNISTCNN(model.MNISTConfig{Conv1: 2, Conv2: 3, Hidden: 8}),
		model.WideResNet(model.WideResNetConfig{Image: 8, InitWidth: 4, Widths: [3]int{6, 8, 10}, Units: 1, Classes: 10, InputScale: 255}),
	} {
		m, err := model.NewModel(g)
		if err != nil {
			t.Fatal(err)
		}
		m.InitRandom(11)
		xe, err := xla.New(m, xla.WithBackend("go"), xla.WithUnroll(3))
		if err != nil {
			t.Fatal(err)
		}
		defer xe.Close()
		ne, err := native.New(m)
		if err != nil {
			t.Fatal(err)
		}
		const n = 3
		d := g.Input.Size()
		x := randomInputs(12, n, d)
		z := make([]float32, n*10)
		if err := ne.Logits(z, x, n); err != nil {
			t.Fatal(err)
		}
		y := make([]int, n)
		Confidences(nil, y, z, n, 10)
		ctx := context.Background()
		for _, r := range xlaRuns {
			t.Run(fmt.Sprintf("%s/%s", g.Name, r.name), func(t *testing.T) {
				compiled, err := r.run(ctx, xe, x, y)
				if err != nil {
					t.Fatal(err)
				}
				stepped, err := r.run(ctx, inputGradOnly{xe}, x, y)
				if err != nil {
					t.Fatal(err)
				}
				onNative, err := r.run(ctx, ne, x, y)
				if err != nil {
					t.Fatal(err)
				}
				compareOutcomes(t, "compiled vs InputGrad", stepped, compiled, 1e-5)
				compareOutcomes(t, "compiled vs native", onNative, compiled, 1e-4)
			})
		}
	}
}
