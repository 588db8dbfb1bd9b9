package xla

import (
	"context"
	"testing"

	"confrobust/engine"
	"confrobust/model"
)

// benchInputGrad times InputGrad of a batch of n on the pure-Go backend
// (the program is compiled before the timer starts).
func benchInputGrad(b *testing.B, g *model.Graph, n int) {
	e := newTestExecutor(b, newModel(b, g, 1))
	x := randomInputs(g, n, 2)
	dx, z := make([]float32, len(x)), make([]float32, n*g.Classes)
	loss := engine.TargetLogProb{Targets: make([]int, n)}
	if err := e.InputGrad(dx, z, nil, x, n, loss); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := e.InputGrad(dx, z, nil, x, n, loss); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "images/s")
}

// benchSearch times a max-confidence search of n rows (image-steps/s),
// compiled with unroll steps per program (unroll 0: through
// engine.RunSearch, one InputGrad call per step).
func benchSearch(b *testing.B, g *model.Graph, n, steps, unroll int) {
	e := newTestExecutor(b, newModel(b, g, 1), WithUnroll(max(unroll, 1)))
	x := randomInputs(g, n, 2)
	s := newSearch(x, n, g.Input.Size(), steps, 0.03)
	labels := make([]int, n)
	s.Loss = engine.TargetLogProb{Targets: labels}
	s.Keep = engine.Keep{Criterion: engine.ConfidentWrong{Labels: labels}}
	var res engine.SearchResult
	run := func() error {
		if unroll == 0 {
			return engine.RunSearch(context.Background(), e, &res, s)
		}
		return e.Search(context.Background(), &res, s)
	}
	if err := run(); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := run(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n*steps*b.N)/b.Elapsed().Seconds(), "image-steps/s")
}

func BenchmarkInputGradSmallMNIST(b *testing.B)     { benchInputGrad(b, testNets[0].graph, 16) }
func BenchmarkInputGradSmallWRN(b *testing.B)       { benchInputGrad(b, testNets[1].graph, 16) }
func BenchmarkSearchSmallMNISTHost(b *testing.B)    { benchSearch(b, testNets[0].graph, 16, 4, 0) }
func BenchmarkSearchSmallMNISTUnroll1(b *testing.B) { benchSearch(b, testNets[0].graph, 16, 4, 1) }
func BenchmarkSearchSmallMNISTUnroll4(b *testing.B) { benchSearch(b, testNets[0].graph, 16, 4, 4) }
func BenchmarkSearchSmallWRNHost(b *testing.B)      { benchSearch(b, testNets[1].graph, 16, 4, 0) }
func BenchmarkSearchSmallWRNUnroll4(b *testing.B)   { benchSearch(b, testNets[1].graph, 16, 4, 4) }
