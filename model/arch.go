package model

import (
	"fmt"
)

// Op is the kind of one layer operation in a Graph.
type Op uint8

// The layer operations. Every tensor between nodes is NHWC float32; a dense
// layer's output has shape [1, 1, out].
const (
	// OpScale multiplies its input by Node.Scale (the model's input scale, for
	// example 255 for Madry's CIFAR-10 model, whose inputs are on [0,255]).
	OpScale Op = iota
	// OpStandardize is TensorFlow 1.x's tf.image.per_image_standardization:
	// (x − mean) / max(std, 1/sqrt(H·W·C)) per image, with the variance
	// computed as E[x²] − mean² clamped at 0 (TF 2 uses a two-pass variance;
	// Madry's models were trained with TF 1.x, so the one-pass form is used).
	OpStandardize
	// OpConv2D is tf.nn.conv2d with SAME padding and the given stride, kernel
	// Weight of shape [kh, kw, cin, cout], plus an optional Bias [cout].
	OpConv2D
	// OpBatchNorm is inference-mode batch normalisation:
	// gamma·(x − moving_mean)/sqrt(moving_variance + Epsilon) + beta per channel.
	OpBatchNorm
	// OpReLU is max(x, 0).
	OpReLU
	// OpLeakyReLU is Madry's tf.where(x < 0, Alpha·x, x).
	OpLeakyReLU
	// OpMaxPool is max pooling with a square Kernel, Stride and SAME padding
	// (padded cells never win).
	OpMaxPool
	// OpAvgPool is average pooling with a square Kernel and Stride and VALID
	// padding.
	OpAvgPool
	// OpPadChannels appends PadBefore zero channels before and PadAfter after
	// the input's channels.
	OpPadChannels
	// OpAdd is the elementwise sum of its two inputs.
	OpAdd
	// OpGlobalAvgPool is the mean over H and W: [H, W, C] → [1, 1, C].
	OpGlobalAvgPool
	// OpDense flattens its input in NHWC (row-major H, W, C) order and computes
	// x·Weight + Bias with Weight [in, out] and Bias [out].
	OpDense
)

var opNames = [...]string{"scale", "standardize", "conv2d", "batch_norm", "relu", "leaky_relu",
	"max_pool", "avg_pool", "pad_channels", "add", "global_avg_pool", "dense"}

// String returns the operation's name.
func (o Op) String() string {
	if int(o) < len(opNames) {
		return opNames[o]
	}
	return fmt.Sprintf("op(%d)", int(o))
}

// GraphInput is the index that Node.Inputs uses for the graph's input.
const GraphInput = -1

// Node is one operation of a Graph. Only the fields of its Op are used.
type Node struct {
	Op     Op
	Name   string // the variable scope, for messages
	Inputs []int  // indices of earlier nodes, or GraphInput

	Weight, Bias                string  // OpConv2D, OpDense (Bias may be empty for conv)
	Gamma, Beta, Mean, Variance string  // OpBatchNorm
	Kernel, Stride              int     // OpConv2D, OpMaxPool, OpAvgPool (square kernels)
	Out                         int     // OpConv2D output channels, OpDense output size
	Alpha                       float32 // OpLeakyReLU
	Epsilon                     float32 // OpBatchNorm
	Scale                       float32 // OpScale
	PadBefore, PadAfter         int     // OpPadChannels
}

// Shape is the [H, W, C] shape of one example's tensor.
type Shape [3]int

// Size returns H·W·C.
func (s Shape) Size() int { return s[0] * s[1] * s[2] }

// Graph describes a network once, bound to checkpoint variable names. Both
// executors build their computation from it. Nodes are in topological order;
// the last node is the output (the logits, shape [1, 1, Classes]).
type Graph struct {
	Name    string
	Input   Shape // one example's input shape; inputs are on the [0,1] pixel scale
	Classes int
	Nodes   []Node
}

// ParamSpec is one checkpoint variable a Graph needs: name and shape.
type ParamSpec struct {
	Name  string
	Shape []int
}

// Size returns the number of float32 values of the variable.
func (p ParamSpec) Size() int {
	n := 1
	for _, d := range p.Shape {
		n *= d
	}
	return n
}

// Shapes returns the output shape of every node, checking that the graph is
// well formed: inputs exist and come earlier, shapes agree, parameters are
// named, and the last node produces [1, 1, Classes].
func (g *Graph) Shapes() ([]Shape, error) {
	if len(g.Nodes) == 0 {
		return nil, fmt.Errorf("model: graph %s has no nodes", g.Name)
	}
	shapes := make([]Shape, len(g.Nodes))
	for i := range g.Nodes {
		n := &g.Nodes[i]
		bad := func(format string, a ...any) error {
			return fmt.Errorf("model: graph %s: node %d (%s %s): %s", g.Name, i, n.Op, n.Name, fmt.Sprintf(format, a...))
		}
		in := func(k int) (Shape, error) {
			if k >= len(n.Inputs) {
				return Shape{}, bad("needs %d inputs", k+1)
			}
			j := n.Inputs[k]
			if j == GraphInput {
				return g.Input, nil
			}
			if j < 0 || j >= i {
				return Shape{}, bad("reads node %d, which does not come before it", j)
			}
			return shapes[j], nil
		}
		x, err := in(0)
		if err != nil {
			return nil, err
		}
		switch n.Op {
		case OpScale, OpStandardize, OpReLU, OpLeakyReLU:
			shapes[i] = x
		case OpBatchNorm:
			if n.Gamma == "" || n.Beta == "" || n.Mean == "" || n.Variance == "" {
				return nil, bad("needs gamma, beta, moving mean and moving variance names")
			}
			shapes[i] = x
		case OpConv2D:
			if n.Weight == "" || n.Kernel <= 0 || n.Stride <= 0 || n.Out <= 0 {
				return nil, bad("needs a weight name and positive kernel, stride and output channels")
			}
			shapes[i] = Shape{ceilDiv(x[0], n.Stride), ceilDiv(x[1], n.Stride), n.Out}
		case OpMaxPool:
			if n.Kernel <= 0 || n.Stride <= 0 {
				return nil, bad("kernel %d and stride %d must be positive", n.Kernel, n.Stride)
			}
			shapes[i] = Shape{ceilDiv(x[0], n.Stride), ceilDiv(x[1], n.Stride), x[2]}
		case OpAvgPool:
			if n.Kernel <= 0 || n.Stride <= 0 || n.Kernel > x[0] || n.Kernel > x[1] {
				return nil, bad("kernel %d and stride %d do not fit input %v", n.Kernel, n.Stride, x)
			}
			shapes[i] = Shape{(x[0]-n.Kernel)/n.Stride + 1, (x[1]-n.Kernel)/n.Stride + 1, x[2]}
		case OpPadChannels:
			if n.PadBefore < 0 || n.PadAfter < 0 {
				return nil, bad("negative padding")
			}
			shapes[i] = Shape{x[0], x[1], x[2] + n.PadBefore + n.PadAfter}
		case OpAdd:
			y, err := in(1)
			if err != nil {
				return nil, err
			}
			if x != y {
				return nil, bad("adds shapes %v and %v", x, y)
			}
			shapes[i] = x
		case OpGlobalAvgPool:
			shapes[i] = Shape{1, 1, x[2]}
		case OpDense:
			if n.Weight == "" || n.Out <= 0 {
				return nil, bad("needs a weight name and positive output size")
			}
			shapes[i] = Shape{1, 1, n.Out}
		default:
			return nil, bad("unknown operation")
		}
	}
	if last := shapes[len(shapes)-1]; last != (Shape{1, 1, g.Classes}) {
		return nil, fmt.Errorf("model: graph %s: output shape %v, want [1 1 %d]", g.Name, last, g.Classes)
	}
	return shapes, nil
}

// InputShape returns the shape of input k of node i.
func (g *Graph) InputShape(shapes []Shape, i, k int) Shape {
	if j := g.Nodes[i].Inputs[k]; j != GraphInput {
		return shapes[j]
	}
	return g.Input
}

// Params returns the checkpoint variables the graph needs, in node order,
// with their shapes. A variable named twice is an error.
func (g *Graph) Params() ([]ParamSpec, error) {
	shapes, err := g.Shapes()
	if err != nil {
		return nil, err
	}
	var specs []ParamSpec
	seen := map[string]bool{}
	add := func(name string, shape ...int) error {
		if seen[name] {
			return fmt.Errorf("model: graph %s: variable %s used twice", g.Name, name)
		}
		seen[name] = true
		specs = append(specs, ParamSpec{Name: name, Shape: shape})
		return nil
	}
	for i := range g.Nodes {
		n := &g.Nodes[i]
		x := g.InputShape(shapes, i, 0)
		var err error
		switch n.Op {
		case OpConv2D:
			err = add(n.Weight, n.Kernel, n.Kernel, x[2], n.Out)
			if err == nil && n.Bias != "" {
				err = add(n.Bias, n.Out)
			}
		case OpDense:
			err = add(n.Weight, x.Size(), n.Out)
			if err == nil && n.Bias != "" {
				err = add(n.Bias, n.Out)
			}
		case OpBatchNorm:
			for _, name := range []string{n.Beta, n.Gamma, n.Mean, n.Variance} {
				if err = add(name, x[2]); err != nil {
					break
				}
			}
		}
		if err != nil {
			return nil, err
		}
	}
	return specs, nil
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }
