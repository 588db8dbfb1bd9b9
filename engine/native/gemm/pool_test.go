package gemm

import (
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"
)

// TestConcurrentCalls runs products on one kernel from several goroutines at
// once and checks each against the same product computed alone.
func TestConcurrentCalls(t *testing.T) {
	g := NewGo(3)
	const m, n, k = 150, 70, 300
	type product struct{ a, b, want []float32 }
	rng := rand.New(rand.NewPCG(2, 2))
	ps := make([]product, 6)
	for i := range ps {
		p := product{a: randSlice(rng, m*k), b: randSlice(rng, k*n), want: make([]float32, m*n)}
		g.Sgemm(false, false, m, n, k, 1, p.a, k, p.b, n, 0, p.want, n)
		ps[i] = p
	}
	var wg sync.WaitGroup
	errs := make(chan string, len(ps))
	for _, p := range ps {
		wg.Go(func() {
			c := make([]float32, m*n)
			for range 20 {
				g.Sgemm(false, false, m, n, k, 1, p.a, k, p.b, n, 0, c, n)
				for i := range c {
					if c[i] != p.want[i] {
						errs <- "concurrent result differs from the same product alone"
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
}

// TestWorkersStop checks that an unreachable kernel's workers exit.
func TestWorkersStop(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		g := NewGo(5)
		const n = 200
		a := make([]float32, n*n)
		g.Sgemm(false, false, n, n, n, 1, a, n, a, n, 0, make([]float32, n*n), n)
		if got := runtime.NumGoroutine(); got < before+4 {
			t.Fatalf("%d goroutines after a parallel call, want at least %d", got, before+4)
		}
	}()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines 5 s after the kernel became unreachable, want %d", runtime.NumGoroutine(), before)
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
}

// TestPanelsBNeverWaits checks the three states of a shared piece of B:
// a packed piece is used as it is, a free one is packed in place, and one
// another goroutine is packing is packed privately instead of waited for.
func TestPanelsBNeverWaits(t *testing.T) {
	const k, n = 40, 70
	rng := rand.New(rand.NewPCG(3, 3))
	b := randSlice(rng, k*n)
	g := newGo(1, kernels()[0])
	nr := g.kern.nr
	j := &job{g: g, kern: g.kern, transB: false, k: k, n: n, b: b, ldb: n, kc: k, nc: n, tilesN: 1, prepackB: true}
	j.npad = (n + nr - 1) / nr * nr
	j.shared = g.getSharedB(k*j.npad, 1)
	bufs := g.getBufs()
	want := make([]float32, k*j.npad)
	packB(want, false, b, n, 0, 0, k, n, nr)
	check := func(name string, got []float32, private bool) {
		t.Helper()
		if isPrivate := &got[0] == &bufs.b[0]; isPrivate != private {
			t.Errorf("%s: private copy %v, want %v", name, isPrivate, private)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%s: element %d = %v, want %v", name, i, got[i], want[i])
			}
		}
	}
	j.shared.state[0].Store(1) // another goroutine is packing it
	check("being packed", j.panelsB(bufs, 0, 0, k, n), true)
	j.shared.state[0].Store(0)
	check("free", j.panelsB(bufs, 0, 0, k, n), false)
	if s := j.shared.state[0].Load(); s != 2 {
		t.Errorf("state after packing = %d, want 2", s)
	}
	clear(bufs.b)
	check("packed", j.panelsB(bufs, 0, 0, k, n), false)
}

func TestNewGoWith(t *testing.T) {
	names := MicroKernels()
	if names[len(names)-1] != "go4x4" {
		t.Errorf("MicroKernels() = %v, want go4x4 last", names)
	}
	for _, name := range names {
		g, err := NewGoWith(2, name)
		if err != nil {
			t.Fatalf("NewGoWith(2, %q): %v", name, err)
		}
		if want := "go-" + name + "-t2"; g.Name() != want {
			t.Errorf("Name() = %q, want %q", g.Name(), want)
		}
	}
	if _, err := NewGoWith(1, "sse-1x1"); err == nil {
		t.Error("NewGoWith(1, \"sse-1x1\") did not fail")
	}
}
