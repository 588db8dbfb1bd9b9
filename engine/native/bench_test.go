package native

import (
	"flag"
	"math/rand/v2"
	"testing"

	"confrobust/engine"
	"confrobust/model"
)

var (
	benchWorkers = flag.Int("workers", 0, "executor workers in benchmarks (0: GOMAXPROCS)")
	benchColumns = flag.Int("colbuf", 0, "im2col buffer in floats in benchmarks (0: DefaultColumnBuffer)")
)

// Results are stored here so that the compiler keeps the work.
var benchSink float32

// benchNet measures forward (Logits) or forward + input gradient
// (InputGrad, cross-entropy) images/s of g with random weights at batch n.
func benchNet(b *testing.B, g *model.Graph, n int, grad bool) {
	m := newRandModel(b, g, 1)
	e := newExec(b, m, WithWorkers(*benchWorkers), WithColumnBuffer(*benchColumns))
	x := randSlice(rand.New(rand.NewPCG(1, 1)), n*g.Input.Size(), 0, 1)
	logits := make([]float32, n*g.Classes)
	dx := make([]float32, len(x))
	labels := make([]int, n)
	for i := range labels {
		labels[i] = i % g.Classes
	}
	var loss engine.Loss = engine.CrossEntropy{Labels: labels}
	step := func() {
		var err error
		if grad {
			err = e.InputGrad(dx, logits, nil, x, n, loss)
		} else {
			err = e.Logits(logits, x, n)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	step() // size the buffers
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		step()
	}
	benchSink = logits[0]
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "images/s")
	b.ReportMetric(float64(e.Bytes())/(1<<20), "bufMiB")
}

func BenchmarkMNISTForward100(b *testing.B) {
	benchNet(b, model.MNISTCNN(model.DefaultMNIST), 100, false)
}

func BenchmarkMNISTInputGrad100(b *testing.B) {
	benchNet(b, model.MNISTCNN(model.DefaultMNIST), 100, true)
}

var smallWideResNet = model.WideResNetConfig{Image: 32, InitWidth: 16, Widths: [3]int{16, 32, 64}, Units: 1, Classes: 10, InputScale: 255}

func BenchmarkSmallWideResNetForward16(b *testing.B) {
	benchNet(b, model.WideResNet(smallWideResNet), 16, false)
}

func BenchmarkSmallWideResNetInputGrad16(b *testing.B) {
	benchNet(b, model.WideResNet(smallWideResNet), 16, true)
}

func BenchmarkWideResNetForward16(b *testing.B) {
	if testing.Short() {
		b.Skip("full Madry WideResNet skipped with -short")
	}
	benchNet(b, model.WideResNet(model.DefaultWideResNet), 16, false)
}

func BenchmarkWideResNetInputGrad16(b *testing.B) {
	if testing.Short() {
		b.Skip("full Madry WideResNet skipped with -short")
	}
	benchNet(b, model.WideResNet(model.DefaultWideResNet), 16, true)
}

// convGraph is one convolution of a real model's layer shape, followed by a
// global average pool and a small dense head, for per-layer benchmarks.
func convGraph(in model.Shape, k, s, out int) *model.Graph {
	return &model.Graph{Name: "conv", Input: in, Classes: 10, Nodes: []model.Node{
		{Op: model.OpConv2D, Name: "c", Inputs: []int{model.GraphInput}, Weight: "c/w", Bias: "c/b", Kernel: k, Stride: s, Out: out},
		{Op: model.OpReLU, Name: "r", Inputs: []int{0}},
		{Op: model.OpGlobalAvgPool, Name: "gap", Inputs: []int{1}},
		{Op: model.OpDense, Name: "d", Inputs: []int{2}, Weight: "d/w", Bias: "d/b", Out: 10},
	}}
}

func benchConv(b *testing.B, in model.Shape, k, s, out, n int, grad bool) {
	if testing.Short() && in.Size()*out*n > 1<<26 {
		b.Skip("large layer skipped with -short")
	}
	benchNet(b, convGraph(in, k, s, out), n, grad)
}

func BenchmarkConvMNIST1Forward100(b *testing.B) {
	benchConv(b, model.Shape{28, 28, 1}, 5, 1, 32, 100, false)
}
func BenchmarkConvMNIST1InputGrad100(b *testing.B) {
	benchConv(b, model.Shape{28, 28, 1}, 5, 1, 32, 100, true)
}
func BenchmarkConvMNIST2Forward100(b *testing.B) {
	benchConv(b, model.Shape{14, 14, 32}, 5, 1, 64, 100, false)
}
func BenchmarkConvMNIST2InputGrad100(b *testing.B) {
	benchConv(b, model.Shape{14, 14, 32}, 5, 1, 64, 100, true)
}
func BenchmarkConvWRNStage1Forward16(b *testing.B) {
	benchConv(b, model.Shape{32, 32, 160}, 3, 1, 160, 16, false)
}
func BenchmarkConvWRNStage1InputGrad16(b *testing.B) {
	benchConv(b, model.Shape{32, 32, 160}, 3, 1, 160, 16, true)
}
func BenchmarkConvWRNStage3Forward16(b *testing.B) {
	benchConv(b, model.Shape{8, 8, 640}, 3, 1, 640, 16, false)
}
func BenchmarkConvWRNStage3InputGrad16(b *testing.B) {
	benchConv(b, model.Shape{8, 8, 640}, 3, 1, 640, 16, true)
}
