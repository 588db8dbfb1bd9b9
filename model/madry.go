package model

import "fmt"

// MNISTConfig sets the widths of Madry's MNIST CNN. The zero value is not
// valid; DefaultMNIST is Madry's network.
type MNISTConfig struct {
	Conv1, Conv2, Hidden int // output channels of the two convolutions, hidden units
}

// DefaultMNIST is the configuration of MadryLab/mnist_challenge's model.py.
var DefaultMNIST = MNISTConfig{Conv1: 32, Conv2: 64, Hidden: 1024}

// MNISTCNN returns the graph of MadryLab/mnist_challenge's CNN: input [0,1]
// 28×28×1; conv 5×5 + bias, ReLU, max-pool 2×2/2 (SAME); conv 5×5 + bias,
// ReLU, max-pool; dense 7·7·Conv2 → Hidden + bias, ReLU; dense Hidden → 10 +
// bias. The source names none of its variables, so TensorFlow called them
// Variable, Variable_1, …, Variable_7 in creation order (weight, bias per layer).
func MNISTCNN(cfg MNISTConfig) *Graph {
	v := func(i int) string {
		if i == 0 {
			return "Variable"
		}
		return fmt.Sprintf("Variable_%d", i)
	}
	nodes := []Node{
		{Op: OpConv2D, Name: "conv1", Inputs: []int{GraphInput}, Weight: v(0), Bias: v(1), Kernel: 5, Stride: 1, Out: cfg.Conv1},
		{Op: OpReLU, Name: "conv1/relu", Inputs: []int{0}},
		{Op: OpMaxPool, Name: "pool1", Inputs: []int{1}, Kernel: 2, Stride: 2},
		{Op: OpConv2D, Name: "conv2", Inputs: []int{2}, Weight: v(2), Bias: v(3), Kernel: 5, Stride: 1, Out: cfg.Conv2},
		{Op: OpReLU, Name: "conv2/relu", Inputs: []int{3}},
		{Op: OpMaxPool, Name: "pool2", Inputs: []int{4}, Kernel: 2, Stride: 2},
		{Op: OpDense, Name: "fc1", Inputs: []int{5}, Weight: v(4), Bias: v(5), Out: cfg.Hidden},
		{Op: OpReLU, Name: "fc1/relu", Inputs: []int{6}},
		{Op: OpDense, Name: "fc2", Inputs: []int{7}, Weight: v(6), Bias: v(7), Out: 10},
	}
	return &Graph{Name: "mnist_cnn", Input: Shape{28, 28, 1}, Classes: 10, Nodes: nodes}
}

// WideResNetConfig sets the size of a WideResNet with the structure of
// MadryLab/cifar10_challenge's model.py. DefaultWideResNet is Madry's network;
// smaller ones (fewer units, narrower, smaller images) keep every layer type
// and both strides for fast tests.
type WideResNetConfig struct {
	Image      int    // input height and width (32 for CIFAR-10)
	InitWidth  int    // output channels of input/init_conv (16)
	Widths     [3]int // output channels of the three stages (160, 320, 640)
	Units      int    // residual units per stage (5)
	Classes    int    // 10
	InputScale float32
}

// DefaultWideResNet is the configuration of Madry's CIFAR-10 model: inputs on
// [0,255] (the graph scales [0,1] inputs by 255 first), 157 variables,
// 45,924,346 floats.
var DefaultWideResNet = WideResNetConfig{Image: 32, InitWidth: 16, Widths: [3]int{160, 320, 640}, Units: 5, Classes: 10, InputScale: 255}

// WideResNet returns the graph of Madry's CIFAR-10 WideResNet (model.py): the
// input scaled to Madry's [0,255] range → per-image standardization →
// input/init_conv (3×3, no bias) → 3 stages of Units residual units
// unit_{s}_{u} with strides 1, 2, 2 → unit_last BatchNorm + leaky ReLU 0.1 →
// global average pool → logit/DW, logit/biases.
//
// Each unit is pre-activation: BatchNorm + leaky ReLU under
// "shared_activation" in unit_1_0 (whose shortcut takes the activated input)
// or "residual_only_activation" elsewhere (shortcut takes the raw input);
// sub1/conv1 (3×3, stride); sub2/BatchNorm + leaky ReLU; sub2/conv2 (3×3). When
// widths differ the shortcut is an average pool (kernel = stride, VALID) and a
// zero padding of (out−in)/2 channels on each side. BatchNorm epsilon is 0.001
// (tf.contrib.layers.batch_norm's default).
func WideResNet(cfg WideResNetConfig) *Graph {
	g := &Graph{Name: "wide_resnet", Input: Shape{cfg.Image, cfg.Image, 3}, Classes: cfg.Classes}
	add := func(n Node) int {
		g.Nodes = append(g.Nodes, n)
		return len(g.Nodes) - 1
	}
	bn := func(scope string, in int) int {
		return add(Node{Op: OpBatchNorm, Name: scope, Inputs: []int{in}, Epsilon: 0.001,
			Beta: scope + "/BatchNorm/beta", Gamma: scope + "/BatchNorm/gamma",
			Mean: scope + "/BatchNorm/moving_mean", Variance: scope + "/BatchNorm/moving_variance"})
	}
	lrelu := func(scope string, in int) int {
		return add(Node{Op: OpLeakyReLU, Name: scope + "/leaky_relu", Inputs: []int{in}, Alpha: 0.1})
	}
	conv := func(scope string, in, stride, out int) int {
		return add(Node{Op: OpConv2D, Name: scope, Inputs: []int{in}, Weight: scope + "/DW", Kernel: 3, Stride: stride, Out: out})
	}
	x := GraphInput
	if cfg.InputScale != 0 && cfg.InputScale != 1 {
		x = add(Node{Op: OpScale, Name: "input/scale", Inputs: []int{x}, Scale: cfg.InputScale})
	}
	x = add(Node{Op: OpStandardize, Name: "input/per_image_standardization", Inputs: []int{x}})
	x = conv("input/init_conv", x, 1, cfg.InitWidth)
	in := cfg.InitWidth
	strides := [3]int{1, 2, 2}
	for s := 0; s < 3; s++ {
		for u := 0; u < cfg.Units; u++ {
			unit := fmt.Sprintf("unit_%d_%d", s+1, u)
			stride, out := 1, cfg.Widths[s]
			if u == 0 {
				stride = strides[s]
			}
			var short int
			if s == 0 && u == 0 {
				x = lrelu(unit+"/shared_activation", bn(unit+"/shared_activation", x))
				short = x
			} else {
				short = x
				x = lrelu(unit+"/residual_only_activation", bn(unit+"/residual_only_activation", x))
			}
			x = conv(unit+"/sub1/conv1", x, stride, out)
			x = lrelu(unit+"/sub2", bn(unit+"/sub2", x))
			x = conv(unit+"/sub2/conv2", x, 1, out)
			if in != out {
				short = add(Node{Op: OpAvgPool, Name: unit + "/sub_add/avg_pool", Inputs: []int{short}, Kernel: stride, Stride: stride})
				short = add(Node{Op: OpPadChannels, Name: unit + "/sub_add/pad", Inputs: []int{short}, PadBefore: (out - in) / 2, PadAfter: (out - in) / 2})
			}
			x = add(Node{Op: OpAdd, Name: unit + "/sub_add", Inputs: []int{x, short}})
			in = out
		}
	}
	x = lrelu("unit_last", bn("unit_last", x))
	x = add(Node{Op: OpGlobalAvgPool, Name: "unit_last/global_avg_pool", Inputs: []int{x}})
	add(Node{Op: OpDense, Name: "logit", Inputs: []int{x}, Weight: "logit/DW", Bias: "logit/biases", Out: cfg.Classes})
	return g
}
