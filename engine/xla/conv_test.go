package xla

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"confrobust/model"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // GoMLX graph code reads best unqualified.
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// TestPortableConvMatchesConvolve compares the gather-im2col convolution
// with GoMLX's own Convolve on the pure-Go backend (forward only: that
// backend cannot differentiate Convolve). With PadSame the two agree
// wherever TensorFlow's SAME padding is symmetric; for the asymmetric cases
// (even total padding split with the extra cell at the bottom/right) the
// native path passes TensorFlow's explicit paddings, which is checked too.
func TestPortableConvMatchesConvolve(t *testing.T) {
	newTestExecutor(t, newModel(t, testNets[0].graph, 1)) // creates goBackend
	cases := []struct{ h, w, cin, cout, k, s int }{
		{8, 8, 3, 4, 3, 1}, {7, 9, 2, 3, 5, 1}, {8, 8, 3, 4, 3, 2}, {7, 7, 2, 3, 3, 2}, {6, 6, 2, 2, 1, 2}, {5, 5, 2, 2, 1, 1},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%dx%dx%d_k%d_s%d", tc.h, tc.w, tc.cin, tc.k, tc.s), func(t *testing.T) {
			const n = 2
			r := rand.New(rand.NewPCG(uint64(tc.h*100+tc.k), uint64(tc.s)))
			x := make([]float32, n*tc.h*tc.w*tc.cin)
			w := make([]float32, tc.k*tc.k*tc.cin*tc.cout)
			for i := range x {
				x[i] = r.Float32()
			}
			for i := range w {
				w[i] = float32(r.NormFloat64())
			}
			s := model.Shape{tc.h, tc.w, tc.cin}
			nd := &model.Node{Op: model.OpConv2D, Weight: "w", Kernel: tc.k, Stride: tc.s, Out: tc.cout}
			_, top, bottom := samePad(tc.h, tc.k, tc.s)
			_, left, right := samePad(tc.w, tc.k, tc.s)
			symmetric := top == bottom && left == right
			exec, err := NewExec(goBackend, func(xn, wn *Node) []*Node {
				params := map[string]*Node{"w": wn}
				portable := newNetBuilder(nil, nil, false, n, params)
				native := newNetBuilder(nil, nil, true, n, params)
				p := TransposeAllAxes(portable.conv(TransposeAllAxes(xn, 1, 2, 0, 3), s, nd), 2, 0, 1, 3)
				explicit := native.conv(xn, s, nd)
				same := Convolve(xn, wn).StridePerAxis(tc.s, tc.s).PadSame().Done()
				return []*Node{p, explicit, same}
			})
			if err != nil {
				t.Fatal(err)
			}
			outs, err := exec.Exec(tensors.FromFlatDataAndDimensions(x, n, tc.h, tc.w, tc.cin),
				tensors.FromFlatDataAndDimensions(w, tc.k, tc.k, tc.cin, tc.cout))
			if err != nil {
				t.Fatal(err)
			}
			vals := make([][]float32, len(outs))
			for i, o := range outs {
				vals[i] = tensors.MustCopyFlatData[float32](o)
				o.FinalizeAll()
			}
			diff := func(a, b []float32) float64 {
				if len(a) != len(b) {
					return math.Inf(1)
				}
				d := 0.0
				for i := range a {
					d = max(d, math.Abs(float64(a[i]-b[i])))
				}
				return d
			}
			if d := diff(vals[0], vals[1]); d > 1e-5 {
				t.Errorf("portable vs Convolve with TensorFlow's paddings: max |diff| %.3g", d)
			}
			d := diff(vals[0], vals[2])
			switch {
			case symmetric && d > 1e-5:
				t.Errorf("portable vs Convolve(...).PadSame(): max |diff| %.3g", d)
			case !symmetric:
				t.Logf("asymmetric SAME padding (%d,%d)×(%d,%d): portable vs PadSame max |diff| %.3g", top, bottom, left, right, d)
			}
		})
	}
}

// TestPortablePoolsMatchReduceWindow compares the reshape and gather forms
// of max pooling (SAME) and average pooling (VALID) with GoMLX's MaxPool and
// MeanPool given TensorFlow's paddings, including odd sizes where SAME pads
// only the bottom and right.
func TestPortablePoolsMatchReduceWindow(t *testing.T) {
	newTestExecutor(t, newModel(t, testNets[0].graph, 1)) // creates goBackend
	cases := []struct {
		h, w, k, s int
		avg        bool
	}{
		{8, 8, 2, 2, false}, {7, 7, 2, 2, false}, {7, 6, 3, 2, false}, {5, 5, 3, 1, false},
		{8, 8, 2, 2, true}, {7, 7, 2, 2, true}, {7, 8, 3, 2, true},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%dx%d_k%d_s%d_avg%v", tc.h, tc.w, tc.k, tc.s, tc.avg), func(t *testing.T) {
			const n, c = 2, 3
			r := rand.New(rand.NewPCG(uint64(tc.h), uint64(tc.k)))
			x := make([]float32, n*tc.h*tc.w*c)
			for i := range x {
				x[i] = float32(r.NormFloat64())
			}
			s := model.Shape{tc.h, tc.w, c}
			exec, err := NewExec(goBackend, func(xn *Node) []*Node {
				portable := newNetBuilder(nil, nil, false, n, nil)
				native := newNetBuilder(nil, nil, true, n, nil)
				hwnc := TransposeAllAxes(xn, 1, 2, 0, 3)
				if tc.avg {
					return []*Node{TransposeAllAxes(portable.avgPool(hwnc, s, tc.k, tc.s), 2, 0, 1, 3), native.avgPool(xn, s, tc.k, tc.s)}
				}
				return []*Node{TransposeAllAxes(portable.maxPool(hwnc, s, tc.k, tc.s), 2, 0, 1, 3), native.maxPool(xn, s, tc.k, tc.s)}
			})
			if err != nil {
				t.Fatal(err)
			}
			outs, err := exec.Exec(tensors.FromFlatDataAndDimensions(x, n, tc.h, tc.w, c))
			if err != nil {
				t.Fatal(err)
			}
			a, b := tensors.MustCopyFlatData[float32](outs[0]), tensors.MustCopyFlatData[float32](outs[1])
			if outs[0].Shape().String() != outs[1].Shape().String() {
				t.Fatalf("shapes %s and %s", outs[0].Shape(), outs[1].Shape())
			}
			for i := range a {
				if math.Abs(float64(a[i]-b[i])) > 1e-6 {
					t.Fatalf("value %d: portable %v, native %v", i, a[i], b[i])
				}
			}
		})
	}
}
