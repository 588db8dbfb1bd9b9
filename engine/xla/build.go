package xla

import (
	"fmt"
	"math"

	"confrobust/model"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // GoMLX graph code reads best unqualified, as in its own examples.
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// layout says where the batch and spatial axes of a 4-D activation are; the
// channel axis is always the last (3).
//
// The portable forms keep activations as [H, W, N, C] ("HWNC"): a gather on
// axis 0 of the flattened spatial positions then builds the im2col matrix of
// the whole batch without a transpose, and DotGeneral contracts the window
// and channel axes directly. The native forms (XLA's own convolution and
// reduce-window) use NHWC, the layout TensorFlow and cuDNN expect.
type layout struct{ n, h, w int }

var (
	layoutHWNC = layout{n: 2, h: 0, w: 1}
	layoutNHWC = layout{n: 0, h: 1, w: 2}
)

// dims returns the dimensions of a batch of n tensors of shape s.
func (l layout) dims(n int, s model.Shape) []int {
	d := make([]int, 4)
	d[l.n], d[l.h], d[l.w], d[3] = n, s[0], s[1], s[2]
	return d
}

// netBuilder builds the computation of one model.Graph for a fixed batch
// size inside a GoMLX graph.
type netBuilder struct {
	graph  *model.Graph
	shapes []model.Shape
	native bool // XLA's Convolve and MaxPool instead of the portable forms
	lay    layout
	n      int
	params map[string]*Node // checkpoint name → parameter node (float32)
	// low is the dtype of the convolutions, dense layers, batch norms and
	// activations (float32, or bfloat16 for mixed precision); scaling,
	// standardization and average pooling always run in float32, as
	// PyTorch's autocast does (TF 1.x's one-pass variance loses every digit
	// to cancellation in bfloat16), and the logits come out in float32.
	low dtypes.DType
}

func newNetBuilder(g *model.Graph, shapes []model.Shape, native bool, n int, params map[string]*Node) *netBuilder {
	b := &netBuilder{graph: g, shapes: shapes, native: native, n: n, params: params, lay: layoutHWNC, low: dtypes.Float32}
	if native {
		b.lay = layoutNHWC
	}
	return b
}

// forward maps x, a batch [n, H, W, C] in NHWC order, to the logits [n, Classes].
func (b *netBuilder) forward(x *Node) *Node {
	if b.lay == layoutHWNC {
		x = TransposeAllAxes(x, 1, 2, 0, 3)
	}
	vals := make([]*Node, len(b.graph.Nodes))
	in := func(i, k int) *Node {
		if j := b.graph.Nodes[i].Inputs[k]; j != model.GraphInput {
			return vals[j]
		}
		return x
	}
	for i := range b.graph.Nodes {
		nd := &b.graph.Nodes[i]
		s := b.graph.InputShape(b.shapes, i, 0)
		v := in(i, 0)
		var out *Node
		switch nd.Op {
		case model.OpScale, model.OpStandardize, model.OpAvgPool, model.OpGlobalAvgPool:
			v = b.to(v, dtypes.Float32)
		case model.OpConv2D, model.OpDense, model.OpBatchNorm:
			v = b.to(v, b.low)
		}
		switch nd.Op {
		case model.OpScale:
			out = MulScalar(v, float64(nd.Scale))
		case model.OpStandardize:
			out = b.standardize(v, s)
		case model.OpConv2D:
			out = b.conv(v, s, nd)
		case model.OpBatchNorm:
			out = b.batchNorm(v, nd)
		case model.OpReLU:
			out = Where(GreaterThan(v, ZerosLike(v)), v, ZerosLike(v))
		case model.OpLeakyReLU:
			out = Where(LessThan(v, ZerosLike(v)), MulScalar(v, float64(nd.Alpha)), v)
		case model.OpMaxPool:
			out = b.maxPool(v, s, nd.Kernel, nd.Stride)
		case model.OpAvgPool:
			out = b.avgPool(v, s, nd.Kernel, nd.Stride)
		case model.OpPadChannels:
			out = b.padChannels(v, s, nd.PadBefore, nd.PadAfter)
		case model.OpAdd:
			w := in(i, 1)
			if v.DType() != w.DType() {
				v, w = b.to(v, b.low), b.to(w, b.low)
			}
			out = Add(v, w)
		case model.OpGlobalAvgPool:
			out = ReduceAndKeep(v, ReduceMean, b.lay.h, b.lay.w)
		case model.OpDense:
			out = b.dense(v, s, nd)
		default:
			panic(fmt.Sprintf("engine/xla: node %d (%s): unsupported operation %s", i, nd.Name, nd.Op))
		}
		vals[i] = out
	}
	return Reshape(b.to(vals[len(vals)-1], dtypes.Float32), b.n, b.graph.Classes)
}

// to converts x to dtype t (a no-op when it has it).
func (b *netBuilder) to(x *Node, t dtypes.DType) *Node {
	if x.DType() == t {
		return x
	}
	return ConvertDType(x, t)
}

// param returns the parameter name in the low dtype.
func (b *netBuilder) param(name string) *Node { return b.to(b.params[name], b.low) }

// channel reshapes a per-channel vector [C] to broadcast over a 4-D activation.
func channel(v *Node) *Node { return Reshape(v, 1, 1, 1, v.Shape().Size()) }

// standardize is TF 1.x per_image_standardization: the variance is the
// one-pass E[x²] − mean², and max(std, 1/sqrt(HWC)) is computed as
// sqrt(max(var, 1/HWC)), which is the same function (and clamps the one-pass
// variance's rounding below zero) without an infinite derivative at var = 0.
func (b *netBuilder) standardize(x *Node, s model.Shape) *Node {
	axes := []int{b.lay.h, b.lay.w, 3}
	mean := ReduceAndKeep(x, ReduceMean, axes...)
	ex2 := ReduceAndKeep(Square(x), ReduceMean, axes...)
	variance := Sub(ex2, Square(mean))
	std := Sqrt(MaxScalar(variance, 1/float64(s.Size())))
	return Div(Sub(x, mean), std)
}

func (b *netBuilder) batchNorm(x *Node, nd *model.Node) *Node {
	gamma, beta := b.params[nd.Gamma], b.params[nd.Beta]
	mean, variance := b.params[nd.Mean], b.params[nd.Variance]
	scale := Div(gamma, Sqrt(AddScalar(variance, float64(nd.Epsilon)))) // Rsqrt has no gradient in GoMLX v0.26.0
	shift := Sub(beta, Mul(mean, scale))
	return Add(Mul(x, channel(b.to(scale, b.low))), channel(b.to(shift, b.low)))
}

// samePad returns TensorFlow's SAME output size and padding of one spatial
// axis: the total padding is split with the extra cell at the end (bottom or
// right).
func samePad(in, k, s int) (out, before, after int) {
	out = (in + s - 1) / s
	total := max((out-1)*s+k-in, 0)
	return out, total / 2, total - total/2
}

// windowIndex returns, for a k×k window with stride s sliding over an h×w
// grid padded by (top, left), the flat index ih·w+iw of every (output
// position, window cell) in row-major [oh, ow, kh, kw] order; padded cells get
// the index h·w, which callers point at an appended fill row.
func windowIndex(h, w, k, s, ho, wo, top, left int) []int32 {
	idx := make([]int32, 0, ho*wo*k*k)
	for oh := 0; oh < ho; oh++ {
		for ow := 0; ow < wo; ow++ {
			for kh := 0; kh < k; kh++ {
				for kw := 0; kw < k; kw++ {
					ih, iw := oh*s+kh-top, ow*s+kw-left
					if ih < 0 || ih >= h || iw < 0 || iw >= w {
						idx = append(idx, int32(h*w))
					} else {
						idx = append(idx, int32(ih*w+iw))
					}
				}
			}
		}
	}
	return idx
}

// gatherWindows gathers the k×k windows of x ([H, W, N, C], HWNC) into
// [Ho·Wo, k·k, N, C], with fill in the padded cells. Gather and its gradient
// (a scatter-add) are what GoMLX's pure-Go backend can differentiate.
func (b *netBuilder) gatherWindows(x *Node, s model.Shape, k, stride, ho, wo, top, left int, fill float64) *Node {
	g := x.Graph()
	h, w, c := s[0], s[1], s[2]
	flat := Reshape(x, h*w, b.n*c)
	pad := AddScalar(Zeros(g, shapes.Make(x.DType(), 1, b.n*c)), fill)
	flat = Concatenate([]*Node{flat, pad}, 0)
	idx := windowIndex(h, w, k, stride, ho, wo, top, left)
	indices := Reshape(Const(g, idx), len(idx), 1)
	cols := Gather(flat, indices)
	return Reshape(cols, ho*wo, k*k, b.n, c)
}

func (b *netBuilder) conv(x *Node, s model.Shape, nd *model.Node) *Node {
	k, stride := nd.Kernel, nd.Stride
	ho, top, bottom := samePad(s[0], k, stride)
	wo, left, right := samePad(s[1], k, stride)
	w := b.param(nd.Weight) // [k, k, cin, cout]
	var out *Node
	switch {
	case b.native:
		out = Convolve(x, w).StridePerAxis(stride, stride).
			PaddingPerDim([][2]int{{top, bottom}, {left, right}}).Done()
	case k == 1 && stride == 1:
		out = DotGeneral(x, []int{3}, nil, Reshape(w, s[2], nd.Out), []int{0}, nil)
	default:
		cols := b.gatherWindows(x, s, k, stride, ho, wo, top, left, 0)
		out = DotGeneral(cols, []int{1, 3}, nil, Reshape(w, k*k, s[2], nd.Out), []int{0, 1}, nil)
		out = Reshape(out, ho, wo, b.n, nd.Out)
	}
	if nd.Bias != "" {
		out = Add(out, channel(b.param(nd.Bias)))
	}
	return out
}

// splitPool reduces k×k windows with stride k over x, whose spatial size is
// a multiple of k, by reshaping each spatial axis into (out, k).
func (b *netBuilder) splitPool(x *Node, reduce func(*Node, ...int) *Node, k int) *Node {
	d := x.Shape().Dimensions
	h := b.lay.h // w = h+1 in both layouts
	dims := append(append(append([]int{}, d[:h]...), d[h]/k, k, d[h+1]/k, k), d[h+2:]...)
	return reduce(Reshape(x, dims...), h+1, h+3)
}

// padSpatial appends rows and columns of fill around x's spatial axes.
func (b *netBuilder) padSpatial(x *Node, top, bottom, left, right int, fill float64) *Node {
	g := x.Graph()
	band := func(axis, size int) *Node {
		d := x.Shape().Clone()
		d.Dimensions[axis] = size
		return AddScalar(Zeros(g, d), fill)
	}
	padAxis := func(axis, before, after int) {
		parts := []*Node{}
		if before > 0 {
			parts = append(parts, band(axis, before))
		}
		parts = append(parts, x)
		if after > 0 {
			parts = append(parts, band(axis, after))
		}
		if len(parts) > 1 {
			x = Concatenate(parts, axis)
		}
	}
	padAxis(b.lay.h, top, bottom)
	padAxis(b.lay.w, left, right)
	return x
}

func (b *netBuilder) maxPool(x *Node, s model.Shape, k, stride int) *Node {
	ho, top, bottom := samePad(s[0], k, stride)
	wo, left, right := samePad(s[1], k, stride)
	negInf := math.Inf(-1)
	switch {
	case b.native:
		return MaxPool(x).Window(k).Strides(stride).
			PaddingPerDim([][2]int{{top, bottom}, {left, right}}).Done()
	case k == stride:
		// (out−1)·s + k = out·k: the padded input tiles exactly.
		return b.splitPool(b.padSpatial(x, top, bottom, left, right, negInf), ReduceMax, k)
	default:
		cols := b.gatherWindows(x, s, k, stride, ho, wo, top, left, negInf)
		return Reshape(ReduceMax(cols, 1), ho, wo, b.n, s[2])
	}
}

func (b *netBuilder) avgPool(x *Node, s model.Shape, k, stride int) *Node {
	if k == 1 && stride == 1 {
		return x
	}
	ho, wo := (s[0]-k)/stride+1, (s[1]-k)/stride+1
	switch {
	case k == stride && s[0] == ho*k && s[1] == wo*k:
		return b.splitPool(x, ReduceMean, k)
	case b.native:
		return MeanPool(x).Window(k).Strides(stride).NoPadding().Done()
	default:
		cols := b.gatherWindows(x, s, k, stride, ho, wo, 0, 0, 0)
		return Reshape(ReduceMean(cols, 1), ho, wo, b.n, s[2])
	}
}

func (b *netBuilder) padChannels(x *Node, s model.Shape, before, after int) *Node {
	g := x.Graph()
	zeros := func(c int) *Node {
		return Zeros(g, shapes.Make(x.DType(), b.lay.dims(b.n, model.Shape{s[0], s[1], c})...))
	}
	parts := []*Node{}
	if before > 0 {
		parts = append(parts, zeros(before))
	}
	parts = append(parts, x)
	if after > 0 {
		parts = append(parts, zeros(after))
	}
	if len(parts) == 1 {
		return x
	}
	return Concatenate(parts, 3)
}

// dense flattens in NHWC order by contracting H, W and C against the weight
// reshaped to [H, W, C, out], whatever the activation layout.
func (b *netBuilder) dense(x *Node, s model.Shape, nd *model.Node) *Node {
	w := Reshape(b.param(nd.Weight), s[0], s[1], s[2], nd.Out)
	out := DotGeneral(x, []int{b.lay.h, b.lay.w, 3}, nil, w, []int{0, 1, 2}, nil) // [n, out]
	if nd.Bias != "" {
		out = Add(out, Reshape(b.param(nd.Bias), 1, nd.Out))
	}
	return Reshape(out, b.lay.dims(b.n, model.Shape{1, 1, nd.Out})...)
}
