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

// benchPGD times PGD steps (image-steps/s) with unroll steps per program.
func benchPGD(b *testing.B, g *model.Graph, n, steps, unroll int) {
	e := newTestExecutor(b, newModel(b, g, 1))
	x := randomInputs(g, n, 2)
	cfg := PGDConfig{Loss: engine.TargetLogProb{Targets: make([]int, n)}, Labels: make([]int, n),
		Eps: 0.03, StepSize: 0.01, Steps: steps, Unroll: unroll}
	var res PGDResult
	if err := e.PGD(context.Background(), &res, x, x, n, cfg); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := e.PGD(context.Background(), &res, x, x, n, cfg); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n*steps*b.N)/b.Elapsed().Seconds(), "image-steps/s")
}

func BenchmarkInputGradSmallMNIST(b *testing.B) { benchInputGrad(b, testNets[0].graph, 16) }
func BenchmarkInputGradSmallWRN(b *testing.B)   { benchInputGrad(b, testNets[1].graph, 16) }
func BenchmarkPGDSmallMNISTUnroll1(b *testing.B) {
	benchPGD(b, testNets[0].graph, 16, 4, 1)
}
func BenchmarkPGDSmallMNISTUnroll4(b *testing.B) {
	benchPGD(b, testNets[0].graph, 16, 4, 4)
}
