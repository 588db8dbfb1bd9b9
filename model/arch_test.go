package model

import (
	"slices"
	"strings"
	"testing"
)

func TestMadryWideResNetParams(t *testing.T) {
	specs, err := WideResNet(DefaultWideResNet).Params()
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	names := map[string][]int{}
	for _, s := range specs {
		total += s.Size()
		names[s.Name] = s.Shape
	}
	if len(specs) != 157 || total != 45924346 {
		t.Errorf("got %d variables, %d floats; want 157, 45924346", len(specs), total)
	}
	for name, want := range map[string][]int{
		"input/init_conv/DW":                                      {3, 3, 3, 16},
		"unit_1_0/shared_activation/BatchNorm/gamma":              {16},
		"unit_1_0/sub1/conv1/DW":                                  {3, 3, 16, 160},
		"unit_1_1/residual_only_activation/BatchNorm/moving_mean": {160},
		"unit_2_0/sub1/conv1/DW":                                  {3, 3, 160, 320},
		"unit_3_4/sub2/conv2/DW":                                  {3, 3, 640, 640},
		"unit_last/BatchNorm/moving_variance":                     {640},
		"logit/DW":                                                {640, 10},
		"logit/biases":                                            {10},
	} {
		if got := names[name]; !slices.Equal(got, want) {
			t.Errorf("%s: shape %v, want %v", name, got, want)
		}
	}
}

func TestMadryMNISTParams(t *testing.T) {
	specs, err := MNISTCNN(DefaultMNIST).Params()
	if err != nil {
		t.Fatal(err)
	}
	want := []ParamSpec{
		{"Variable", []int{5, 5, 1, 32}}, {"Variable_1", []int{32}},
		{"Variable_2", []int{5, 5, 32, 64}}, {"Variable_3", []int{64}},
		{"Variable_4", []int{3136, 1024}}, {"Variable_5", []int{1024}},
		{"Variable_6", []int{1024, 10}}, {"Variable_7", []int{10}},
	}
	if len(specs) != len(want) {
		t.Fatalf("got %d variables, want %d", len(specs), len(want))
	}
	for i := range want {
		if specs[i].Name != want[i].Name || !slices.Equal(specs[i].Shape, want[i].Shape) {
			t.Errorf("variable %d: %v, want %v", i, specs[i], want[i])
		}
	}
}

func TestWideResNetShapes(t *testing.T) {
	cfg := WideResNetConfig{Image: 8, InitWidth: 4, Widths: [3]int{6, 8, 10}, Units: 2, Classes: 10, InputScale: 255}
	shapes, err := WideResNet(cfg).Shapes()
	if err != nil {
		t.Fatal(err)
	}
	// The last conv of stage 3 sees 8 → 8 → 4 → 2.
	var last Shape
	g := WideResNet(cfg)
	for i, n := range g.Nodes {
		if n.Op == OpConv2D {
			last = shapes[i]
		}
	}
	if last != (Shape{2, 2, 10}) {
		t.Errorf("last conv output %v, want [2 2 10]", last)
	}
	// As in TensorFlow, an odd size cannot be added to its VALID-pooled
	// shortcut after a stride-2 SAME convolution (5×5 against 4×4).
	cfg.Image = 9
	if _, err := WideResNet(cfg).Shapes(); err == nil || !strings.Contains(err.Error(), "adds shapes [5 5 8] and [4 4 8]") {
		t.Errorf("odd image: got %v", err)
	}
}

func TestGraphErrors(t *testing.T) {
	g := MNISTCNN(DefaultMNIST)
	g.Nodes[3].Inputs = []int{5}
	if _, err := g.Shapes(); err == nil || !strings.Contains(err.Error(), "does not come before") {
		t.Errorf("forward reference: got %v", err)
	}
	g = MNISTCNN(DefaultMNIST)
	g.Nodes[8].Out = 7
	if _, err := g.Shapes(); err == nil || !strings.Contains(err.Error(), "output shape") {
		t.Errorf("wrong classes: got %v", err)
	}
}
