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
