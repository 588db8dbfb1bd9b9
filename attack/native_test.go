package attack

import (
	"context"
	"math"
	"testing"

	"confrobust/engine"
	"confrobust/engine/native"
	"confrobust/model"
)

// newNativeMNIST returns a native executor of Madry's MNIST CNN with the
// given widths and random weights.
func newNativeMNIST(tb testing.TB, cfg model.MNISTConfig, seed uint64) *native.Executor {
	tb.Helper()
	m, err := model.NewModel(model.MNISTCNN(cfg))
	if err != nil {
		tb.Fatal(err)
	}
	m.InitRandom(seed)
	ex, err := native.New(m)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ex.Close() })
	return ex
}

// TestPGDNativeMNIST runs PGD on a small MNIST CNN through the native
// executor: the kept point stays in the ball and raises the cross-entropy.
func TestPGDNativeMNIST(t *testing.T) {
	const n, eps = 6, 0.1
	ex := newNativeMNIST(t, model.MNISTConfig{Conv1: 4, Conv2: 8, Hidden: 32}, 1)
	d, k := 28*28, 10
	x := randomInputs(2, n, d)
	lg := make([]float32, n*k)
	if err := ex.Logits(lg, x, n); err != nil {
		t.Fatal(err)
	}
	labels := make([]int, n)
	Confidences(nil, labels, lg, n, k)
	res, err := (&PGD{Eps: eps, Iterations: 10, Loss: CrossEntropy, Keep: KeepHighestLoss}).Run(context.Background(), ex, x, labels, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkBall(t, "PGD", res.X, x, d, eps)
	for i := 0; i < n; i++ {
		before := -math.Log(Prob(lg[i*k:(i+1)*k], labels[i]))
		after := -math.Log(Prob(res.Logits[i*k:(i+1)*k], labels[i]))
		if after <= before {
			t.Errorf("input %d: cross-entropy %v → %v, want a rise", i, before, after)
		}
	}
	e, err := MCN(eps, 5).Run(context.Background(), ex, x[:2*d])
	if err != nil {
		t.Fatal(err)
	}
	checkBall(t, "MCN", e.Points, x[:2*d], d, eps)
}

// The step overhead of PGD over a bare InputGrad call, on Madry's MNIST CNN
// at batch 50 with random weights: compare ns/step of the two benchmarks
// (PGD runs 100 iterations, so its two extra forward passes per run, the
// last iterate's and the final check's, are amortised in ns/step too).
const benchBatch, benchIters = 50, 100

var benchSink float32

func BenchmarkInputGradMNIST(b *testing.B) {
	ex := newNativeMNIST(b, model.DefaultMNIST, 1)
	d, k := 28*28, 10
	x := randomInputs(3, benchBatch, d)
	dx, lg, ls := make([]float32, benchBatch*d), make([]float32, benchBatch*k), make([]float32, benchBatch)
	loss := engine.CrossEntropy{Labels: make([]int, benchBatch)}
	b.ReportAllocs()
	steps := 0
	for b.Loop() {
		if err := ex.InputGrad(dx, lg, ls, x, benchBatch, loss); err != nil {
			b.Fatal(err)
		}
		steps++
	}
	benchSink = dx[0]
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(steps), "ns/step")
	b.ReportMetric(float64(steps*benchBatch)/b.Elapsed().Seconds(), "images/s")
}

func BenchmarkPGDStepMNIST(b *testing.B) {
	ex := newNativeMNIST(b, model.DefaultMNIST, 1)
	d := 28 * 28
	x := randomInputs(3, benchBatch, d)
	labels := make([]int, benchBatch)
	a := &PGD{Eps: 0.3, Iterations: benchIters, Step: 0.01}
	b.ReportAllocs()
	steps := 0
	for b.Loop() {
		res, err := a.Run(context.Background(), ex, x, labels, nil)
		if err != nil {
			b.Fatal(err)
		}
		steps += res.Steps
		benchSink = res.X[0]
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(steps), "ns/step")
	b.ReportMetric(float64(steps*benchBatch)/b.Elapsed().Seconds(), "images/s")
}

// null is an executor that computes nothing: it isolates the attack's own
// per-step work (sign step, projection, criterion, copies).
type null struct {
	model *model.Model
	k     int
}

func (e *null) Model() *model.Model { return e.model }
func (e *null) Logits(dst, x []float32, n int) error {
	for i := range dst[:n*e.k] {
		dst[i] = float32(i % e.k)
	}
	return nil
}
func (e *null) InputGrad(dx, logits, losses, x []float32, n int, loss engine.Loss) error {
	e.Logits(logits, x, n)
	for i := range dx {
		dx[i] = float32(i%3) - 1
	}
	clear(losses)
	return nil
}
func (e *null) ParamGrad(map[string][]float32, []float32, []float32, []float32, int, engine.Loss) error {
	return nil
}
func (e *null) Sync() error  { return nil }
func (e *null) Close() error { return nil }

// BenchmarkPGDOverheadMNIST is PGD on MNIST-shaped inputs with an executor
// that does no work (it still fills dx and the logits, as a real one must):
// its ns/step is the attack's own cost per step, to set against
// BenchmarkInputGradMNIST's.
func BenchmarkPGDOverheadMNIST(b *testing.B) {
	g := model.MNISTCNN(model.DefaultMNIST)
	ex := &null{model: &model.Model{Graph: g}, k: 10}
	x := randomInputs(3, benchBatch, 28*28)
	labels := make([]int, benchBatch)
	a := &PGD{Eps: 0.3, Iterations: benchIters, Step: 0.01}
	b.ReportAllocs()
	steps := 0
	for b.Loop() {
		res, err := a.Run(context.Background(), ex, x, labels, nil)
		if err != nil {
			b.Fatal(err)
		}
		steps += res.Steps
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(steps), "ns/step")
}
