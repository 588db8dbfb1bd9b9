package experiments

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"confrobust/dataset"
	"confrobust/engine"
	"confrobust/model"
)

// ramp is a one-pixel, ten-class executor with closed-form logits: label 0
// has logit 0, label 1 has 20(x − ½) and every other label j has
// 20(x − ½) − (1 + j). At x = ½ it predicts 0 (1 ties with it, and the
// smaller index wins); every wrong label's log-probability grows with x, so
// a targeted PGD toward any label t ≥ 2 ends at x = 1, where it predicts
// label 1: the label changes, though not to the target.
type ramp struct{ m *model.Model }

func newRamp() *ramp {
	return &ramp{&model.Model{Graph: &model.Graph{Name: "ramp", Input: model.Shape{1, 1, 1}, Classes: 10}}}
}

func (r *ramp) Model() *model.Model { return r.m }
func (r *ramp) Sync() error         { return nil }
func (r *ramp) Close() error        { return nil }

func (r *ramp) Logits(dst, x []float32, n int) error {
	for i := 0; i < n; i++ {
		for j := 0; j < 10; j++ {
			switch j {
			case 0:
				dst[i*10] = 0
			case 1:
				dst[i*10+1] = 20 * (x[i] - 0.5)
			default:
				dst[i*10+j] = 20*(x[i]-0.5) - float32(1+j)
			}
		}
	}
	return nil
}

func (r *ramp) InputGrad(dx, logits, losses, x []float32, n int, loss engine.Loss) error {
	if logits == nil {
		logits = make([]float32, n*10)
	}
	if losses == nil {
		losses = make([]float32, n)
	}
	r.Logits(logits, x, n)
	g := make([]float32, n*10)
	loss.Eval(losses, g, logits, n, 10)
	for i := 0; i < n; i++ {
		dx[i] = 0
		for j := 1; j < 10; j++ {
			dx[i] += 20 * g[i*10+j]
		}
	}
	return nil
}

func (r *ramp) ParamGrad(map[string][]float32, []float32, []float32, []float32, int, engine.Loss) error {
	return nil
}

// TestLabelChangeIsPredictionNotTarget: Table 4 splits the adversarial
// examples by whether the attack changed the predicted label, whatever the
// target: on the ramp every example of a target t ≥ 2 lands on label 1 and
// is a label change (counting "prediction = target" instead would call
// them confidence reductions).
func TestLabelChangeIsPredictionNotTarget(t *testing.T) {
	p, env := tinyRun(t, Embedding, "[attack]\neta = [0.5]\niterations = 5\n[defense]\niterations = 2\n", "data.points=2", "data.unit_points=2")
	p.data = &dataset.Set{Name: "half", Shape: dataset.Shape{1, 1, 1}, Classes: 10, Images: []float32{0.5, 0.5, 0.5}, Labels: []int{0, 0, 0}}
	env.NewExecutor = func(*model.Model) (engine.Executor, error) { return newRamp(), nil }
	r, err := Run(context.Background(), p, env, RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, pt := range r.Points.([][]embeddingPoint)[0] {
		if len(pt.Targets) != 9 {
			t.Fatalf("%d targets, want 9", len(pt.Targets))
		}
		for _, tr := range pt.Targets {
			if tr.AdvPred != 1 || !tr.LabelChange {
				t.Errorf("target %d: adversarial prediction %d, label change %v; want 1 and true", tr.Target, tr.AdvPred, tr.LabelChange)
			}
		}
	}
	if s := r.Settings.([]embeddingResult)[0]; s.LabelChange.Total() != 18 || s.ConfidenceReduction.Total() != 0 {
		t.Errorf("label changes %d, confidence reductions %d; want 18 and 0", s.LabelChange.Total(), s.ConfidenceReduction.Total())
	}
}

// TestSeparationSamplesAnyPoint: Table 1 samples test points whatever the
// model predicts. On data the model gets wrong everywhere, the separation
// run samples (misclassified) points, while the rejection protocol, which
// needs correctly classified points, finds none.
func TestSeparationSamplesAnyPoint(t *testing.T) {
	if testing.Short() {
		t.Skip("runs an attack")
	}
	p, env := tinyRun(t, Separation, protocolCases[0].extra, "attack.iterations=1")
	for i := range p.data.Labels {
		p.data.Labels[i] = (p.data.Labels[i] + 1) % 10 // the model is wrong on every point
	}
	r, err := Run(context.Background(), p, env, RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, pt := range r.Points.([][]separationPoint)[0] {
		if pt.Pred == pt.Label {
			t.Errorf("point %d classified correctly on data the model gets all wrong", pt.Index)
		}
	}
	if n := len(r.Points.([][]separationPoint)[0]); n != 6 {
		t.Errorf("%d points sampled, want 6", n)
	}
	q, env := tinyRun(t, Rejection, protocolCases[1].extra)
	q.data = p.data
	if _, err := Run(context.Background(), q, env, RunOptions{}); err == nil || !strings.Contains(err.Error(), "classified correctly") {
		t.Errorf("rejection on data with no correct point: %v, want an error about correctly classified points", err)
	}
}

// TestNonFiniteModelRefused: a checkpoint with NaN and Inf weights is
// refused before any work, naming the variables; AllowNonFinite loads it.
func TestNonFiniteModelRefused(t *testing.T) {
	p, env := tinyRun(t, Rejection, protocolCases[1].extra)
	mc := p.Config.Models[0]
	m, err := LoadModel(mc, false)
	if err != nil {
		t.Fatal(err)
	}
	m.Params["Variable_2"][3] = float32(math.NaN())
	m.Params["Variable_7"][0] = float32(math.Inf(1))
	if err := m.Save(mc.Checkpoint); err != nil {
		t.Fatal(err)
	}
	_, err = Run(context.Background(), p, env, RunOptions{})
	if !errors.Is(err, model.ErrNonFinite) || !strings.Contains(err.Error(), "Variable_2 (1 NaN") || !strings.Contains(err.Error(), "-allow-nonfinite") {
		t.Errorf("run on NaN weights: %v, want a refusal naming Variable_2 and the flag", err)
	}
	if _, err := LoadModel(mc, true); err != nil {
		t.Errorf("LoadModel allowing non-finite weights: %v", err)
	}
}
