package attack

import (
	"context"
	"errors"
	"testing"
)

// TestEvaluationHiddenSpike: side by side on the constructed case, Γ is robust under the
// paper's attack and not under the adaptive ones, and the union says not robust.
func TestEvaluationHiddenSpike(t *testing.T) {
	t.Parallel()
	m := hiddenSpike()
	x, labels := []float32{0.5, 0.3}, []int{0, 0}
	const eta = 0.2
	ev := &Evaluation{
		Defense: HCNN{Xi: 0.1, Iterations: 50},
		Paper:   MaxConfidence{PGD: PGD{Eps: eta, Iterations: 40, Step: 0.01}},
		Attacks: []NamedAttack{
			{"margin/identity", Adaptive{Eps: eta, Iterations: 40, Step: 0.01}},
			{"neighbourhood/unrolled", Adaptive{Eps: eta, Iterations: 40, Step: 0.01, Objective: Neighbourhood, Backward: Unrolled}},
		},
		WarmStart: true,
	}
	var last, total int
	ev.Progress = func(done, tot int) error { last, total = done, tot; return nil }
	want, err := ev.RowSteps(len(x), 2)
	if err != nil {
		t.Fatal(err)
	}
	r, err := ev.Run(context.Background(), m, x, labels)
	if err != nil {
		t.Fatal(err)
	}
	if last != want || total != want || r.Done != 3 || r.Status != IterationLimit {
		t.Errorf("progress %d/%d, RowSteps %d, done %d, status %v", last, total, want, r.Done, r.Status)
	}
	if len(r.Names) != 3 || r.Names[0] != PaperAttackName || r.Names[2] != "neighbourhood/unrolled" {
		t.Fatalf("names %v", r.Names)
	}
	// Input 0 is the spike's case; input 1, at 0.3, reaches [0.3, 0.5]: Γ = 0 throughout.
	for i, want := range [][3]bool{{true, false, false}, {true, true, true}} {
		if !r.CleanCorrect(i) {
			t.Fatalf("input %d: Γ wrong on the clean point (%d, %v)", i, r.CleanPrediction[i], r.CleanConf[i])
		}
		for a := range r.Names {
			if r.Robust(a, i) != want[a] {
				t.Errorf("input %d, %s: robust %v, want %v", i, r.Names[a], r.Robust(a, i), want[a])
			}
		}
	}
	if r.Count(0) != 2 || r.Count(1) != 1 || r.Count(-1) != 1 {
		t.Errorf("counts %d, %d, union %d; want 2, 1, 1", r.Count(0), r.Count(1), r.Count(-1))
	}
	if r.Prediction[1][0] != 1 || r.Prediction[0][0] != 0 {
		t.Errorf("Γ at the points: paper %d, adaptive %d", r.Prediction[0][0], r.Prediction[1][0])
	}
}

// TestEvaluationRejection: with P above every confidence Γ reaches, nothing is accepted:
// no input is accurate, so none is robust, and no attack succeeds.
func TestEvaluationRejection(t *testing.T) {
	t.Parallel()
	m := hiddenSpike()
	ev := &Evaluation{
		Defense: HCNN{Xi: 0.1, Iterations: 50}, P: 0.99999,
		Paper:   MaxConfidence{PGD: PGD{Eps: 0.2, Iterations: 40, Step: 0.01}},
		Attacks: []NamedAttack{{"margin", Adaptive{Eps: 0.2, Iterations: 40, Step: 0.01}}},
	}
	r, err := ev.Run(context.Background(), m, []float32{0.5}, []int{0})
	if err != nil {
		t.Fatal(err)
	}
	if r.CleanCorrect(0) || r.Success[0][0] || r.Success[1][0] || r.Count(-1) != 0 {
		t.Errorf("clean %v (conf %v), successes %v %v", r.CleanCorrect(0), r.CleanConf[0], r.Success[0][0], r.Success[1][0])
	}
}

func TestEvaluationStops(t *testing.T) {
	t.Parallel()
	const d, n, k = 5, 3, 3
	x := randomInputs(7, n, d)
	labels := []int{0, 1, 2}
	ev := &Evaluation{
		Defense: HCNN{Xi: 0.1, Iterations: 3},
		Paper:   MaxConfidence{PGD: PGD{Eps: 0.1, Iterations: 3}},
		Attacks: []NamedAttack{{"a", Adaptive{Eps: 0.1, Iterations: 3}}, {"b", Adaptive{Eps: 0.1, Iterations: 3, Objective: 9}}},
	}
	var pe *ParamError
	if _, err := ev.Run(context.Background(), randomLinear(1, d, k, 1), x, labels); !errors.As(err, &pe) || pe.Param != "Objective" {
		t.Fatalf("bad attack: %v", err)
	}
	ev.Attacks = ev.Attacks[:1]
	stop := errors.New("enough")
	calls := 0
	ev.Progress = func(done, total int) error {
		if calls++; calls == 10 {
			return stop
		}
		return nil
	}
	r, err := ev.Run(context.Background(), randomLinear(1, d, k, 1), x, labels)
	if !errors.Is(err, stop) || r.Status != Stopped || r.Done != 1 {
		t.Errorf("progress error: %v, status %v, done %d", err, r.Status, r.Done)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ev.Progress = nil
	if r, err := ev.Run(ctx, randomLinear(1, d, k, 1), x, labels); !errors.Is(err, context.Canceled) || r.Status != Canceled {
		t.Errorf("canceled: %v", err)
	}
}
