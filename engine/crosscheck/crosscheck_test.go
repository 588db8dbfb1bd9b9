package crosscheck

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"confrobust/engine"
	"confrobust/engine/native"
	"confrobust/engine/xla"
	"confrobust/model"
)

// models are small networks of both Madry architectures: every layer type,
// both strides.
var models = []struct {
	name string
	g    *model.Graph
}{
	{"mnist", model.MNISTCNN(model.MNISTConfig{Conv1: 3, Conv2: 4, Hidden: 8})},
	{"wide_resnet", model.WideResNet(model.WideResNetConfig{Image: 8, InitWidth: 4, Widths: [3]int{6, 8, 10}, Units: 2, Classes: 10, InputScale: 255})},
}

// load writes a random model of g to a bundle and loads it back twice, once
// per executor, so that both run exactly what a checkpoint holds.
func load(t *testing.T, g *model.Graph, seed uint64) (*model.Model, *model.Model) {
	t.Helper()
	m, err := model.NewModel(g)
	if err != nil {
		t.Fatal(err)
	}
	m.InitRandom(seed)
	prefix := filepath.Join(t.TempDir(), "model")
	if err := m.Save(prefix); err != nil {
		t.Fatal(err)
	}
	a, err := model.LoadModel(g, prefix)
	if err != nil {
		t.Fatal(err)
	}
	b, err := model.LoadModel(g, prefix)
	if err != nil {
		t.Fatal(err)
	}
	return a, b
}

func inputs(g *model.Graph, n int) []float32 {
	r := rand.New(rand.NewPCG(3, 4))
	x := make([]float32, n*g.Input.Size())
	for i := range x {
		x[i] = r.Float32()
	}
	return x
}

// maxRel returns max |a−b| / max(max|b|, tiny).
func maxRel(a, b []float32) float64 {
	scale, diff := 1e-30, 0.0
	for i := range b {
		scale = max(scale, math.Abs(float64(b[i])))
		diff = max(diff, math.Abs(float64(a[i])-float64(b[i])))
	}
	return diff / scale
}

// TestLogitsAgree compares the native executor's logits with GoMLX's forward
// pass using its own convolution and pooling (XLA ops with TensorFlow's SAME
// paddings, OpsNative) and with the portable forms, to 1e-4 relative.
func TestLogitsAgree(t *testing.T) {
	const n = 5
	for _, tc := range models {
		for _, ops := range []xla.Ops{xla.OpsNative, xla.OpsPortable} {
			t.Run(fmt.Sprintf("%s/%s", tc.name, opsName[ops]), func(t *testing.T) {
				mn, mx := load(t, tc.g, 11)
				ne, err := native.New(mn)
				if err != nil {
					t.Fatal(err)
				}
				defer ne.Close()
				xe, err := xla.New(mx, xla.WithBackend("go:ops_sequential"), xla.WithOps(ops))
				if err != nil {
					t.Fatal(err)
				}
				defer xe.Close()
				x := inputs(tc.g, n)
				k := tc.g.Classes
				a, b := make([]float32, n*k), make([]float32, n*k)
				if err := ne.Logits(a, x, n); err != nil {
					t.Fatal(err)
				}
				if err := xe.Logits(b, x, n); err != nil {
					t.Fatal(err)
				}
				if d := maxRel(a, b); d > 1e-4 {
					t.Errorf("%s: logits differ by %.3g relative\nnative %v\ngomlx  %v", opsName[ops], d, a[:k], b[:k])
				}
			})
		}
	}
}

// TestInputGradientsAgree compares input gradients of each engine loss on
// the portable forms, which GoMLX's pure-Go backend can differentiate.
func TestInputGradientsAgree(t *testing.T) {
	const n = 4
	labels := []int{1, 7, 3, 0}
	for _, tc := range models {
		t.Run(tc.name, func(t *testing.T) {
			mn, mx := load(t, tc.g, 12)
			ne, err := native.New(mn)
			if err != nil {
				t.Fatal(err)
			}
			defer ne.Close()
			xe, err := xla.New(mx, xla.WithBackend("go:ops_sequential"), xla.WithOps(xla.OpsPortable))
			if err != nil {
				t.Fatal(err)
			}
			defer xe.Close()
			x := inputs(tc.g, n)
			d, k := tc.g.Input.Size(), tc.g.Classes
			for _, loss := range []engine.Loss{
				engine.CrossEntropy{Labels: labels},
				engine.TargetLogProb{Targets: labels},
				engine.CWMargin{Labels: labels, Kappa: 100},
			} {
				ga, gb := make([]float32, n*d), make([]float32, n*d)
				la, lb := make([]float32, n*k), make([]float32, n*k)
				if err := ne.InputGrad(ga, la, nil, x, n, loss); err != nil {
					t.Fatal(err)
				}
				if err := xe.InputGrad(gb, lb, nil, x, n, loss); err != nil {
					t.Fatal(err)
				}
				if r := maxRel(ga, gb); r > 1e-3 {
					t.Errorf("%T: input gradients differ by %.3g relative", loss, r)
				}
				if r := maxRel(la, lb); r > 1e-4 {
					t.Errorf("%T: logits differ by %.3g relative", loss, r)
				}
			}
		})
	}
}

// TestComparisonCanFail changes one weight of the GoMLX copy by 1% and
// checks that the comparison notices.
func TestComparisonCanFail(t *testing.T) {
	g := models[1].g
	mn, mx := load(t, g, 13)
	w := mx.Params["unit_2_0/sub1/conv1/DW"]
	w[0] *= 1.01
	w[1] += 0.05
	ne, err := native.New(mn)
	if err != nil {
		t.Fatal(err)
	}
	defer ne.Close()
	xe, err := xla.New(mx, xla.WithBackend("go:ops_sequential"), xla.WithOps(xla.OpsNative))
	if err != nil {
		t.Fatal(err)
	}
	defer xe.Close()
	x := inputs(g, 3)
	a, b := make([]float32, 30), make([]float32, 30)
	if err := ne.Logits(a, x, 3); err != nil {
		t.Fatal(err)
	}
	if err := xe.Logits(b, x, 3); err != nil {
		t.Fatal(err)
	}
	if d := maxRel(a, b); d <= 1e-4 {
		t.Errorf("a changed weight went unnoticed: logits differ by only %.3g", d)
	}
}

var opsName = map[xla.Ops]string{xla.OpsNative: "xla-ops", xla.OpsPortable: "portable"}
