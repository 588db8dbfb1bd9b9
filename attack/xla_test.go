//go:build !noxla

package attack

import (
	"context"
	"math"
	"testing"

	"confrobust/engine/xla"
	"confrobust/model"
)

// TestXLAHostLosses runs the searches whose objectives are computed in Go
// (F(z)_ℓ, the entropies, the CW hinge, the untargeted CW margin) through
// the GoMLX executor on its pure-Go backend and checks them against the
// native executor: the same points up to float rounding.
func TestXLAHostLosses(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles GoMLX programs on the pure-Go backend; run without -short")
	}
	m, err := model.NewModel(model.MNISTCNN(model.MNISTConfig{Conv1: 2, Conv2: 2, Hidden: 8}))
	if err != nil {
		t.Fatal(err)
	}
	m.InitRandom(3)
	xe, err := xla.New(m, xla.WithBackend("go"))
	if err != nil {
		t.Fatal(err)
	}
	defer xe.Close()
	ne := newNativeMNIST(t, model.MNISTConfig{Conv1: 2, Conv2: 2, Hidden: 8}, 3)
	const n, d, k = 2, 28 * 28, 10
	x := randomInputs(4, n, d)
	labels := []int{1, 2}
	ctx := context.Background()
	compare := func(name string, a, b []float32) {
		t.Helper()
		worst := 0.0
		for i := range a {
			worst = max(worst, math.Abs(float64(a[i]-b[i])))
		}
		t.Logf("%s: largest difference native vs xla %g", name, worst)
		if worst > 1e-3 {
			t.Errorf("%s: native and xla points differ by %g", name, worst)
		}
	}
	for _, h := range []*HCNN{{Xi: 0.05, Lambda: 0.3, Norm: L2, Iterations: 3}} {
		a, err := h.Run(ctx, ne, x)
		if err != nil {
			t.Fatal(err)
		}
		b, err := h.Run(ctx, xe, x)
		if err != nil {
			t.Fatal(err)
		}
		compare("HCNN λ>0", a.Points, b.Points)
	}
	for _, en := range []*Entropy{{Xi: 0.05, Iterations: 3}, {Xi: 0.05, Kind: Renyi, Alpha: 2, Iterations: 3}} {
		a, err := en.Run(ctx, ne, x)
		if err != nil {
			t.Fatal(err)
		}
		b, err := en.Run(ctx, xe, x)
		if err != nil {
			t.Fatal(err)
		}
		compare("Entropy "+en.Kind.String(), a.X, b.X)
	}
	cw := &CW{Eps: 0.05, P: 0.99, Iterations: 3}
	a, err := cw.Run(ctx, ne, x, labels)
	if err != nil {
		t.Fatal(err)
	}
	b, err := cw.Run(ctx, xe, x, labels)
	if err != nil {
		t.Fatal(err)
	}
	compare("CW", a.X, b.X)
	inf := float32(math.Inf(1))
	pgd := &PGD{Eps: 0.05, Iterations: 3, Loss: CWMargin, Kappa: inf}
	pa, err := pgd.Run(ctx, ne, x, labels, nil)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := pgd.Run(ctx, xe, x, labels, nil)
	if err != nil {
		t.Fatal(err)
	}
	compare("PGD CW margin", pa.X, pb.X)
}
