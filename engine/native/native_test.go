package native

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"confrobust/engine"
	"confrobust/engine/internal/reference"
	"confrobust/engine/native/gemm"
	"confrobust/model"
)

func randSlice(r *rand.Rand, n int, lo, hi float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(lo + (hi-lo)*r.Float64())
	}
	return v
}

func newRandModel(t testing.TB, g *model.Graph, seed uint64) *model.Model {
	t.Helper()
	m, err := model.NewModel(g)
	if err != nil {
		t.Fatal(err)
	}
	m.InitRandom(seed)
	return m
}

func newExec(t testing.TB, m *model.Model, opts ...Option) *Executor {
	t.Helper()
	e, err := New(m, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// layerCase is a graph of a few hand-built nodes followed by a dense head
// to 3 classes.
type layerCase struct {
	name  string
	in    model.Shape
	nodes []model.Node
	lo    float64 // inputs uniform on [lo, hi)
	hi    float64
}

func (c layerCase) graph() *model.Graph {
	nodes := slices.Clone(c.nodes)
	nodes = append(nodes, model.Node{Op: model.OpDense, Name: "head", Inputs: []int{len(nodes) - 1},
		Weight: "head/w", Bias: "head/b", Out: 3})
	return &model.Graph{Name: c.name, Input: c.in, Classes: 3, Nodes: nodes}
}

func conv(name string, in, k, s, out int, bias bool) model.Node {
	n := model.Node{Op: model.OpConv2D, Name: name, Inputs: []int{in}, Weight: name + "/w", Kernel: k, Stride: s, Out: out}
	if bias {
		n.Bias = name + "/b"
	}
	return n
}

func bn(name string, in int) model.Node {
	return model.Node{Op: model.OpBatchNorm, Name: name, Inputs: []int{in}, Epsilon: 0.001,
		Gamma: name + "/gamma", Beta: name + "/beta", Mean: name + "/mean", Variance: name + "/var"}
}

func op(o model.Op, in ...int) model.Node {
	return model.Node{Op: o, Name: o.String(), Inputs: in}
}

func pooling(o model.Op, in, k, s int) model.Node {
	return model.Node{Op: o, Name: o.String(), Inputs: []int{in}, Kernel: k, Stride: s}
}

const in0 = model.GraphInput

var layerCases = []layerCase{
	{name: "conv3x3s2_7x7", in: model.Shape{7, 7, 2}, nodes: []model.Node{conv("c", in0, 3, 2, 3, true)}},
	{name: "conv3x3s2_8x8", in: model.Shape{8, 8, 2}, nodes: []model.Node{conv("c", in0, 3, 2, 3, true)}},
	{name: "conv3x3s1_6x5", in: model.Shape{6, 5, 3}, nodes: []model.Node{conv("c", in0, 3, 1, 2, false)}},
	{name: "conv5x5s1_7x7", in: model.Shape{7, 7, 1}, nodes: []model.Node{conv("c", in0, 5, 1, 3, true)}},
	{name: "conv5x5s1_8x8", in: model.Shape{8, 8, 2}, nodes: []model.Node{conv("c", in0, 5, 1, 2, true)}},
	{name: "conv2x2s1_5x5", in: model.Shape{5, 5, 2}, nodes: []model.Node{conv("c", in0, 2, 1, 2, false)}},
	{name: "conv4x4s3_7x8", in: model.Shape{7, 8, 2}, nodes: []model.Node{conv("c", in0, 4, 3, 2, true)}},
	{name: "conv1x1s1", in: model.Shape{5, 5, 3}, nodes: []model.Node{conv("c", in0, 1, 1, 4, true)}},
	{name: "conv1x1s2_7x7", in: model.Shape{7, 7, 2}, nodes: []model.Node{conv("c", in0, 1, 2, 3, false)}},
	{name: "conv_relu_fused", in: model.Shape{6, 6, 2}, nodes: []model.Node{conv("c", in0, 3, 1, 3, true), op(model.OpReLU, 0)}},
	{name: "conv_conv_s2", in: model.Shape{9, 9, 2}, nodes: []model.Node{conv("c1", in0, 3, 2, 3, true), conv("c2", 0, 3, 2, 2, true)}},
	{name: "maxpool2x2s2_7x7", in: model.Shape{7, 7, 2}, nodes: []model.Node{pooling(model.OpMaxPool, in0, 2, 2)}},
	{name: "maxpool2x2s2_8x8", in: model.Shape{8, 8, 2}, nodes: []model.Node{pooling(model.OpMaxPool, in0, 2, 2)}},
	{name: "maxpool3x3s2_7x7", in: model.Shape{7, 7, 2}, nodes: []model.Node{pooling(model.OpMaxPool, in0, 3, 2)}},
	{name: "maxpool3x3s1_6x6", in: model.Shape{6, 6, 1}, nodes: []model.Node{pooling(model.OpMaxPool, in0, 3, 1)}},
	{name: "conv_leaky_maxpool", in: model.Shape{7, 7, 2}, nodes: []model.Node{conv("c", in0, 3, 1, 3, true),
		{Op: model.OpLeakyReLU, Name: "l", Inputs: []int{0}, Alpha: 0.1}, pooling(model.OpMaxPool, 1, 3, 2)}},
	{name: "conv_leaky_maxpool_tiled", in: model.Shape{7, 7, 2}, nodes: []model.Node{conv("c", in0, 3, 1, 3, true),
		{Op: model.OpLeakyReLU, Name: "l", Inputs: []int{0}, Alpha: 0.1}, pooling(model.OpMaxPool, 1, 2, 2)}},
	{name: "maxpool3x3s3_8x8", in: model.Shape{8, 8, 2}, nodes: []model.Node{pooling(model.OpMaxPool, in0, 3, 3)}},
	{name: "relu_maxpool_input", in: model.Shape{6, 6, 2}, nodes: []model.Node{op(model.OpReLU, in0), pooling(model.OpMaxPool, 0, 2, 2)}},
	{name: "avgpool2x2s2_7x7", in: model.Shape{7, 7, 2}, nodes: []model.Node{pooling(model.OpAvgPool, in0, 2, 2)}},
	{name: "avgpool2x2s2_8x8", in: model.Shape{8, 8, 2}, nodes: []model.Node{pooling(model.OpAvgPool, in0, 2, 2)}},
	{name: "avgpool3x3s1_5x5", in: model.Shape{5, 5, 2}, nodes: []model.Node{pooling(model.OpAvgPool, in0, 3, 1)}},
	{name: "batchnorm", in: model.Shape{4, 5, 3}, nodes: []model.Node{bn("bn", in0)}},
	{name: "conv_bn_leaky", in: model.Shape{5, 5, 2}, nodes: []model.Node{conv("c", in0, 3, 1, 3, false), bn("bn", 0),
		{Op: model.OpLeakyReLU, Name: "lrelu", Inputs: []int{1}, Alpha: 0.1}}},
	{name: "leaky_alpha0", in: model.Shape{4, 4, 2}, nodes: []model.Node{conv("c", in0, 3, 1, 2, true),
		{Op: model.OpLeakyReLU, Name: "l", Inputs: []int{0}, Alpha: 0}}},
	{name: "leaky_alpha_negative", in: model.Shape{4, 4, 2}, nodes: []model.Node{conv("c", in0, 3, 1, 2, true),
		{Op: model.OpLeakyReLU, Name: "l", Inputs: []int{0}, Alpha: -0.5}, pooling(model.OpMaxPool, 1, 2, 2)}},
	{name: "relu_input", in: model.Shape{3, 4, 2}, nodes: []model.Node{op(model.OpReLU, in0)}},
	{name: "leaky_input", in: model.Shape{3, 4, 2}, nodes: []model.Node{{Op: model.OpLeakyReLU, Name: "l", Inputs: []int{in0}, Alpha: 0.1}}},
	{name: "scale", in: model.Shape{3, 3, 2}, nodes: []model.Node{{Op: model.OpScale, Name: "s", Inputs: []int{in0}, Scale: 255}}},
	{name: "standardize", in: model.Shape{4, 3, 3}, nodes: []model.Node{op(model.OpStandardize, in0)}},
	// Nearly constant images: the clamp 1/sqrt(H·W·C) is active and the
	// gradient flows only through the mean.
	{name: "standardize_clamped", in: model.Shape{4, 3, 3}, lo: 0.5, hi: 0.5 + 1e-3,
		nodes: []model.Node{op(model.OpStandardize, in0)}},
	{name: "scale_standardize_conv", in: model.Shape{5, 5, 3}, lo: 0, hi: 1, nodes: []model.Node{
		{Op: model.OpScale, Name: "s", Inputs: []int{in0}, Scale: 255}, op(model.OpStandardize, 0), conv("c", 1, 3, 1, 2, false)}},
	{name: "pad_channels", in: model.Shape{3, 3, 2}, nodes: []model.Node{{Op: model.OpPadChannels, Name: "p", Inputs: []int{in0}, PadBefore: 2, PadAfter: 1}}},
	{name: "add_fanout", in: model.Shape{5, 5, 2}, nodes: []model.Node{conv("c", in0, 3, 1, 2, true),
		{Op: model.OpLeakyReLU, Name: "l", Inputs: []int{0}, Alpha: 0.1}, op(model.OpAdd, 0, 1), op(model.OpReLU, 2)}},
	{name: "add_input_twice", in: model.Shape{3, 3, 2}, nodes: []model.Node{op(model.OpAdd, in0, in0)}},
	{name: "shortcut", in: model.Shape{6, 6, 2}, nodes: []model.Node{conv("c", in0, 3, 2, 4, false),
		pooling(model.OpAvgPool, in0, 2, 2), {Op: model.OpPadChannels, Name: "p", Inputs: []int{1}, PadBefore: 1, PadAfter: 1},
		op(model.OpAdd, 0, 2)}},
	{name: "global_avg_pool", in: model.Shape{3, 5, 4}, nodes: []model.Node{op(model.OpGlobalAvgPool, in0)}},
	{name: "dense_relu_dense", in: model.Shape{2, 3, 2}, nodes: []model.Node{
		{Op: model.OpDense, Name: "d", Inputs: []int{in0}, Weight: "d/w", Bias: "d/b", Out: 5}, op(model.OpReLU, 0)}},
}

// gradCheck compares the executor's logits, input gradient and parameter
// gradients with the float64 reference and its central finite differences.
func gradCheck(t *testing.T, m *model.Model, x []float32, n int, opts ...Option) {
	t.Helper()
	g := m.Graph
	e := newExec(t, m, opts...)
	size, classes := g.Input.Size(), g.Classes
	r := rand.New(rand.NewPCG(7, 7))
	w := randSlice(r, n*classes, -1, 1)
	loss := engine.LogitWeights{W: w}
	p64 := reference.Params(m)
	x64 := reference.To64(x)

	// Forward against the reference.
	logits := make([]float32, n*classes)
	if err := e.Logits(logits, x, n); err != nil {
		t.Fatal(err)
	}
	var zerr, zmax float64
	for i := 0; i < n; i++ {
		z := reference.Forward(g, p64, x64[i*size:(i+1)*size])
		for j, v := range z {
			zerr = max(zerr, math.Abs(float64(logits[i*classes+j])-v))
			zmax = max(zmax, math.Abs(v))
		}
	}
	if zerr > 1e-4*max(zmax, 1) {
		t.Errorf("logits differ from the reference by %g (max |logit| %g)", zerr, zmax)
	}

	// Input gradient.
	dx := make([]float32, n*size)
	lg, ls := make([]float32, n*classes), make([]float32, n)
	if err := e.InputGrad(dx, lg, ls, x, n, loss); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(lg, logits) {
		t.Errorf("InputGrad logits differ from Logits")
	}
	// Fewer samples under the race detector, which slows the reference ~10×.
	inSamples, paramSamples := 200, 12
	if raceEnabled {
		inSamples, paramSamples = 40, 3
	}
	coords := sample(r, n*size, inSamples)
	fd := make([]float64, len(coords))
	got := make([]float32, len(coords))
	for ci, j := range coords {
		i := j / size
		xi := slices.Clone(x64[i*size : (i+1)*size])
		h := 1e-6 * max(1, math.Abs(xi[j%size]))
		xi[j%size] += h
		fp := reference.Loss(g, p64, xi, 1, w[i*classes:])
		xi[j%size] -= 2 * h
		fm := reference.Loss(g, p64, xi, 1, w[i*classes:])
		fd[ci] = (fp - fm) / (2 * h)
		got[ci] = dx[j]
	}
	compare(t, "input", got, fd, dx)

	// Parameter gradients.
	grads := map[string][]float32{}
	if err := e.ParamGrad(grads, nil, nil, x, n, loss); err != nil {
		t.Fatal(err)
	}
	for _, s := range m.Specs {
		gv := grads[s.Name]
		if len(gv) != s.Size() {
			t.Fatalf("gradient of %s has %d values, want %d", s.Name, len(gv), s.Size())
		}
		coords := sample(r, s.Size(), paramSamples)
		fd := make([]float64, len(coords))
		got := make([]float32, len(coords))
		pv := p64[s.Name]
		for ci, j := range coords {
			v := pv[j]
			h := 1e-6 * max(1, math.Abs(v))
			pv[j] = v + h
			fp := reference.Loss(g, p64, x64, n, w)
			pv[j] = v - h
			fm := reference.Loss(g, p64, x64, n, w)
			pv[j] = v
			fd[ci] = (fp - fm) / (2 * h)
			got[ci] = gv[j]
		}
		compare(t, s.Name, got, fd, gv)
	}
}

// sample returns up to k distinct indices in [0, n), all of them if n <= k.
func sample(r *rand.Rand, n, k int) []int {
	if n <= k {
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		return idx
	}
	return r.Perm(n)[:k]
}

// compare checks the sampled gradient values got against finite differences
// fd, relative to the largest magnitude of fd and of the whole gradient all.
func compare(t *testing.T, what string, got []float32, fd []float64, all []float32) {
	t.Helper()
	scale := 1e-6
	for _, v := range fd {
		scale = max(scale, math.Abs(v))
	}
	for _, v := range all {
		scale = max(scale, math.Abs(float64(v)))
	}
	worst, at := 0.0, -1
	for i := range got {
		if d := math.Abs(float64(got[i]) - fd[i]); d > worst {
			worst, at = d, i
		}
	}
	if worst > 1e-3*scale {
		t.Errorf("%s gradient: error %.3g relative to scale %.3g at sample %d: got %g, finite differences %g",
			what, worst/scale, scale, at, got[at], fd[at])
	}
}

func TestLayerGradients(t *testing.T) {
	t.Parallel()
	for ci, c := range layerCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			g := c.graph()
			m := newRandModel(t, g, uint64(ci)+1)
			lo, hi := c.lo, c.hi
			if lo == 0 && hi == 0 {
				lo, hi = -1, 1
			}
			n := 3
			x := randSlice(rand.New(rand.NewPCG(uint64(ci), 3)), n*g.Input.Size(), lo, hi)
			gradCheck(t, m, x, n)
			// One image per im2col chunk.
			gradCheck(t, m, x, n, WithColumnBuffer(1), WithWorkers(3))
		})
	}
}

func smallMNIST() *model.Graph {
	return model.MNISTCNN(model.MNISTConfig{Conv1: 3, Conv2: 4, Hidden: 8})
}

func smallWRN() *model.Graph {
	return model.WideResNet(model.WideResNetConfig{Image: 8, InitWidth: 4, Widths: [3]int{6, 8, 10}, Units: 2, Classes: 10, InputScale: 255})
}

func TestNetworkGradients(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		g    *model.Graph
		opts []Option
	}{
		{"mnist", smallMNIST(), nil},
		{"mnist_chunked", smallMNIST(), []Option{WithColumnBuffer(1), WithWorkers(2)}},
		{"wide_resnet", smallWRN(), nil},
		{"wide_resnet_chunked", smallWRN(), []Option{WithColumnBuffer(1), WithWorkers(3)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := newRandModel(t, tc.g, 11)
			n := 2
			x := randSlice(rand.New(rand.NewPCG(5, 5)), n*tc.g.Input.Size(), 0, 1)
			gradCheck(t, m, x, n, tc.opts...)
		})
	}
}

// handModel builds a model of g with the given parameter values.
func handModel(t *testing.T, g *model.Graph, params map[string][]float32) *model.Model {
	t.Helper()
	m, err := model.NewModel(g)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range params {
		if len(m.Params[k]) != len(v) {
			t.Fatalf("%s: %d values, want %d", k, len(v), len(m.Params[k]))
		}
		copy(m.Params[k], v)
	}
	return m
}

func identity(n int) []float32 {
	w := make([]float32, n*n)
	for i := range n {
		w[i*n+i] = 1
	}
	return w
}

// TestHandComputed pins SAME padding (the extra row and column go at the
// bottom and right), the [kh, kw, cin, cout] weight layout, the NHWC flatten
// order of dense layers and their [in, out] layout, max-pool padding and
// ties, and TF 1.x's one-pass variance, with logits worked out by hand.
func TestHandComputed(t *testing.T) {
	t.Parallel()

	// Conv 3×3 stride 2 on a 4×4×2 input: out 2×2, pad_total 1, so no
	// padding on top or left. x[h][w][0] = 4h+w+1, x[h][w][1] = 100+4h+w+1.
	convW := make([]float32, 3*3*2*2)
	convW[((2*3+1)*2+1)*2+0] = 1 // kh=2, kw=1, cin=1 → cout 0
	convW[((0*3+0)*2+0)*2+1] = 2 // kh=0, kw=0, cin=0 → cout 1
	denseW := identity(8)
	denseW[0*8+1] = 1 // in 0 → out 1
	convGraph := &model.Graph{Name: "conv", Input: model.Shape{4, 4, 2}, Classes: 8, Nodes: []model.Node{
		conv("c", in0, 3, 2, 2, false),
		{Op: model.OpDense, Name: "d", Inputs: []int{0}, Weight: "d/w", Bias: "d/b", Out: 8},
	}}
	convX := make([]float32, 32)
	for p := range 16 {
		convX[2*p], convX[2*p+1] = float32(p+1), float32(100+p+1)
	}
	// ch0(oh,ow) = x[2oh+2][2ow+1][1] (zero below the input);
	// ch1(oh,ow) = 2·x[2oh][2ow][0]. NHWC flatten:
	// [110, 2, 112, 6, 0, 18, 0, 22]; logit 1 also gets flat[0].

	poolGraph := &model.Graph{Name: "pool", Input: model.Shape{3, 3, 1}, Classes: 4, Nodes: []model.Node{
		pooling(model.OpMaxPool, in0, 2, 2),
		{Op: model.OpDense, Name: "d", Inputs: []int{0}, Weight: "d/w", Bias: "d/b", Out: 4},
	}}
	poolX := []float32{-1, -2, -3, -4, -5, -6, -7, -8, -9}

	stdGraph := &model.Graph{Name: "std", Input: model.Shape{1, 1, 2}, Classes: 2, Nodes: []model.Node{
		op(model.OpStandardize, in0),
		{Op: model.OpDense, Name: "d", Inputs: []int{0}, Weight: "d/w", Bias: "d/b", Out: 2},
	}}
	// E[x²] = 100100050 rounds to 100100048 in float32 and mean² =
	// 100100025 to 100100024, so TF 1.x's variance is 24, not 25.
	s24 := float32(5 / math.Sqrt(24))

	for _, tc := range []struct {
		name   string
		g      *model.Graph
		params map[string][]float32
		x      []float32
		want   []float32
		tol    float64
	}{
		{"conv_same_stride2", convGraph, map[string][]float32{"c/w": convW, "d/w": denseW}, convX,
			[]float32{110, 112, 112, 6, 0, 18, 0, 22}, 0},
		// Windows {0,1}², {0,1}×{2}, {2}×{0,1}, {2}²; zero padding would win.
		{"maxpool_same", poolGraph, map[string][]float32{"d/w": identity(4)}, poolX,
			[]float32{-1, -3, -7, -9}, 0},
		{"standardize_tf1", stdGraph, map[string][]float32{"d/w": identity(2)}, []float32{10000, 10010},
			[]float32{-s24, s24}, 1e-6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newExec(t, handModel(t, tc.g, tc.params))
			got := make([]float32, tc.g.Classes)
			if err := e.Logits(got, tc.x, 1); err != nil {
				t.Fatal(err)
			}
			for i := range got {
				if math.Abs(float64(got[i]-tc.want[i])) > tc.tol*math.Abs(float64(tc.want[i])) {
					t.Fatalf("logits %v, want %v", got, tc.want)
				}
			}
		})
	}

	// Max-pool gradients go to the arg-max; on ties to the first cell of
	// the window in row-major order.
	for _, tc := range []struct {
		name string
		x    []float32
		want []float32
	}{
		{"argmax", poolX, []float32{1, 0, 2, 0, 0, 0, 3, 0, 4}},
		{"ties", make([]float32, 9), []float32{1, 0, 2, 0, 0, 0, 3, 0, 4}},
		{"ties_later", []float32{0, 5, 1, 5, 5, 1, 2, 2, 0}, []float32{0, 1, 2, 0, 0, 0, 3, 0, 4}},
	} {
		t.Run("maxpool_grad_"+tc.name, func(t *testing.T) {
			e := newExec(t, handModel(t, poolGraph, map[string][]float32{"d/w": identity(4)}))
			dx := make([]float32, 9)
			if err := e.InputGrad(dx, nil, nil, tc.x, 1, engine.LogitWeights{W: []float32{1, 2, 3, 4}}); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(dx, tc.want) {
				t.Fatalf("dx %v, want %v", dx, tc.want)
			}
		})
	}
}

// TestActivationKinks pins the derivatives at zero: ReLU's is 0 (TF's
// ReluGrad passes the gradient only where the output is > 0) and the leaky
// ReLU's is 1 (tf.where(x < 0, αx, x) takes the x branch at 0).
func TestActivationKinks(t *testing.T) {
	t.Parallel()
	x := []float32{0, 1, -1, 0}
	for _, tc := range []struct {
		act  model.Node
		want []float32
	}{
		{op(model.OpReLU, in0), []float32{0, 1, 0, 0}},
		{model.Node{Op: model.OpLeakyReLU, Name: "l", Inputs: []int{in0}, Alpha: 0.1}, []float32{1, 1, 0.1, 1}},
	} {
		g := &model.Graph{Name: "kink", Input: model.Shape{1, 1, 4}, Classes: 4, Nodes: []model.Node{tc.act,
			{Op: model.OpDense, Name: "d", Inputs: []int{0}, Weight: "d/w", Bias: "d/b", Out: 4}}}
		e := newExec(t, handModel(t, g, map[string][]float32{"d/w": identity(4)}))
		dx := make([]float32, 4)
		if err := e.InputGrad(dx, nil, nil, x, 1, engine.LogitWeights{W: []float32{1, 1, 1, 1}}); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(dx, tc.want) {
			t.Errorf("%s: dx %v, want %v", tc.act.Op, dx, tc.want)
		}
	}
}

// TestDeterminism runs the same batch with 1 and several workers, twice each
// and after a larger batch, and compares the bits of logits and gradients.
func TestDeterminism(t *testing.T) {
	t.Parallel()
	for _, g := range []*model.Graph{
		model.MNISTCNN(model.MNISTConfig{Conv1: 8, Conv2: 16, Hidden: 32}),
		model.WideResNet(model.WideResNetConfig{Image: 16, InitWidth: 8, Widths: [3]int{16, 32, 48}, Units: 1, Classes: 10, InputScale: 255}),
	} {
		t.Run(g.Name, func(t *testing.T) {
			t.Parallel()
			m := newRandModel(t, g, 3)
			n := 9
			x := randSlice(rand.New(rand.NewPCG(1, 2)), n*g.Input.Size(), 0, 1)
			labels := make([]int, n)
			for i := range labels {
				labels[i] = i % g.Classes
			}
			loss := engine.CrossEntropy{Labels: labels}
			type result struct {
				logits, dx []float32
				grads      map[string][]float32
			}
			run := func(e *Executor) result {
				r := result{logits: make([]float32, n*g.Classes), dx: make([]float32, len(x)), grads: map[string][]float32{}}
				if err := e.InputGrad(r.dx, r.logits, nil, x, n, loss); err != nil {
					t.Fatal(err)
				}
				if err := e.ParamGrad(r.grads, nil, nil, x, n, loss); err != nil {
					t.Fatal(err)
				}
				return r
			}
			// The pure-Go kernel is bit-identical across its thread counts;
			// the default kernel (OpenBLAS with the openblas tag) only for
			// a fixed thread count, so it varies the executor's workers.
			type setup struct {
				kernel  gemm.Kernel
				workers int
			}
			goSetups := []setup{{gemm.NewGo(1), 2}, {gemm.NewGo(2), 1}, {gemm.NewGo(3), 3}, {gemm.NewGo(2), 8}}
			defSetups := []setup{{gemm.Default(), 2}, {gemm.Default(), 3}}
			for _, group := range [][]setup{
				append([]setup{{gemm.NewGo(1), 1}}, goSetups...),
				append([]setup{{gemm.Default(), 1}}, defSetups...),
			} {
				ref := run(newExec(t, m, WithWorkers(group[0].workers), WithKernel(group[0].kernel)))
				for _, su := range group {
					workers := su.workers
					e := newExec(t, m, WithWorkers(workers), WithKernel(su.kernel))
					// A larger batch first: buffers are reused, results must not change.
					big := randSlice(rand.New(rand.NewPCG(9, 9)), (n+3)*g.Input.Size(), 0, 1)
					if err := e.Logits(make([]float32, (n+3)*g.Classes), big, n+3); err != nil {
						t.Fatal(err)
					}
					for rep := range 2 {
						got := run(e)
						where := fmt.Sprintf("%s, %d workers, run %d", su.kernel.Name(), workers, rep)
						sameBits(t, where+" logits", got.logits, ref.logits)
						fwd := make([]float32, n*g.Classes)
						if err := e.Logits(fwd, x, n); err != nil {
							t.Fatal(err)
						}
						sameBits(t, where+" Logits", fwd, ref.logits)
						sameBits(t, where+" dx", got.dx, ref.dx)
						for k, v := range ref.grads {
							sameBits(t, where+" "+k, got.grads[k], v)
						}
					}
				}
			}
		})
	}
}

func sameBits(t *testing.T, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s: first difference at %d: %08x (%g) vs %08x (%g)", what, i,
				math.Float32bits(got[i]), got[i], math.Float32bits(want[i]), want[i])
		}
	}
}

// TestNoAllocs checks that steady-state calls allocate nothing.
func TestNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are unreliable under -race")
	}
	for _, g := range []*model.Graph{smallMNIST(), smallWRN()} {
		m := newRandModel(t, g, 1)
		e := newExec(t, m, WithWorkers(2))
		n := 4
		x := randSlice(rand.New(rand.NewPCG(1, 1)), n*g.Input.Size(), 0, 1)
		dx := make([]float32, len(x))
		logits := make([]float32, n*g.Classes)
		var loss engine.Loss = engine.CrossEntropy{Labels: []int{1, 2, 3, 4}}
		grads := map[string][]float32{}
		for _, tc := range []struct {
			name string
			f    func()
		}{
			{"Logits", func() { _ = e.Logits(logits, x, n) }},
			{"InputGrad", func() { _ = e.InputGrad(dx, logits, nil, x, n, loss) }},
			{"InputGradSmallerBatch", func() { _ = e.InputGrad(dx[:2*g.Input.Size()], nil, nil, x, 2, loss) }},
			{"ParamGrad", func() { _ = e.ParamGrad(grads, nil, nil, x, n, loss) }},
		} {
			tc.f()
			if a := testing.AllocsPerRun(5, tc.f); a != 0 {
				t.Errorf("%s %s: %v allocations per call", g.Name, tc.name, a)
			}
		}
	}
}

// TestBytes checks that each kind of call holds only the buffers it needs:
// forward only the least, ParamGrad the most.
func TestBytes(t *testing.T) {
	t.Parallel()
	g := smallWRN()
	m := newRandModel(t, g, 1)
	n := 4
	x := randSlice(rand.New(rand.NewPCG(1, 1)), n*g.Input.Size(), 0, 1)
	loss := engine.LogitWeights{W: make([]float32, n*g.Classes)}
	var sizes []int64
	for _, call := range []func(e *Executor) error{
		func(e *Executor) error { return e.Logits(make([]float32, n*g.Classes), x, n) },
		func(e *Executor) error { return e.InputGrad(make([]float32, len(x)), nil, nil, x, n, loss) },
		func(e *Executor) error { return e.ParamGrad(map[string][]float32{}, nil, nil, x, n, loss) },
	} {
		e := newExec(t, m)
		if err := call(e); err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, e.Bytes())
	}
	if !(sizes[0] < sizes[1] && sizes[1] < sizes[2]) {
		t.Errorf("bytes held after Logits, InputGrad, ParamGrad: %v, want increasing", sizes)
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	g := smallMNIST()
	m := newRandModel(t, g, 1)
	e := newExec(t, m)
	size := g.Input.Size()
	x := make([]float32, 2*size)
	loss := engine.LogitWeights{W: make([]float32, 20)}
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"short x", e.Logits(make([]float32, 30), x, 3)},
		{"short logits", e.Logits(make([]float32, 10), x, 2)},
		{"negative n", e.Logits(make([]float32, 30), x, -1)},
		{"short dx", e.InputGrad(make([]float32, size), nil, nil, x, 2, loss)},
		{"nil loss", e.InputGrad(make([]float32, 2*size), nil, nil, x, 2, nil)},
		{"short losses", e.InputGrad(make([]float32, 2*size), nil, make([]float32, 1), x, 2, loss)},
		{"nil grads", e.ParamGrad(nil, nil, nil, x, 2, loss)},
		{"bad label", e.InputGrad(make([]float32, 2*size), nil, nil, x, 2, engine.CrossEntropy{Labels: []int{0, 10}})},
		{"short labels", e.ParamGrad(map[string][]float32{}, nil, nil, x, 2, engine.CrossEntropy{Labels: []int{0}})},
	} {
		if tc.err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
	if err := e.Logits(make([]float32, 20), x, 2); err != nil {
		t.Fatal(err)
	}
	// An empty batch does nothing, and ParamGrad gives zero gradients.
	grads := map[string][]float32{"Variable": {1, 2}}
	if err := e.Logits(nil, nil, 0); err == nil {
		t.Errorf("Logits with nil dst: no error")
	}
	if err := e.Logits([]float32{}, nil, 0); err != nil {
		t.Errorf("Logits of no examples: %v", err)
	}
	if err := e.InputGrad([]float32{}, nil, nil, nil, 0, loss); err != nil {
		t.Errorf("InputGrad of no examples: %v", err)
	}
	if err := e.ParamGrad(grads, nil, nil, nil, 0, loss); err != nil {
		t.Errorf("ParamGrad of no examples: %v", err)
	}
	for k, v := range grads {
		if len(v) != len(m.Params[k]) || slices.ContainsFunc(v, func(f float32) bool { return f != 0 }) {
			t.Errorf("ParamGrad of no examples: %s has %d values, not all zero", k, len(v))
		}
	}
	if name := newExec(t, m, WithKernel(gemm.Naive{}), WithWorkers(3)).Name(); name != "native/naive/w3" {
		t.Errorf("Name() = %q", name)
	}
	bad := newRandModel(t, g, 1)
	delete(bad.Params, "Variable")
	if _, err := New(bad); err == nil {
		t.Errorf("New with a missing variable: no error")
	}
	e.Close()
	e.Close()
	if e.Bytes() != 0 {
		t.Errorf("Bytes after Close: %d", e.Bytes())
	}
	if err := e.Logits(make([]float32, 20), x, 2); !errors.Is(err, ErrClosed) {
		t.Errorf("Logits after Close: %v, want ErrClosed", err)
	}
}

// TestSync checks that parameter changes take effect after Sync.
func TestSync(t *testing.T) {
	t.Parallel()
	g := smallWRN()
	m := newRandModel(t, g, 1)
	e := newExec(t, m)
	x := randSlice(rand.New(rand.NewPCG(1, 1)), g.Input.Size(), 0, 1)
	before := make([]float32, 10)
	if err := e.Logits(before, x, 1); err != nil {
		t.Fatal(err)
	}
	mv := m.Params["unit_last/BatchNorm/moving_variance"]
	for i := range mv {
		mv[i] *= 4
	}
	if err := e.Sync(); err != nil {
		t.Fatal(err)
	}
	after := make([]float32, 10)
	if err := e.Logits(after, x, 1); err != nil {
		t.Fatal(err)
	}
	want := make([]float32, 10)
	if err := newExec(t, m).Logits(want, x, 1); err != nil {
		t.Fatal(err)
	}
	if slices.Equal(before, after) || !slices.Equal(after, want) {
		t.Errorf("Sync: logits before %v, after %v, fresh executor %v", before, after, want)
	}
}
