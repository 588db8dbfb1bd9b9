package benchgemm

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"runtime"
	"syscall"
	"testing"
	"time"

	"confrobust/engine/native/gemm"
)

var cputime = flag.Bool("cputime", false, "compare kernels on one thread by best-of-N CPU time (robust on a busy machine)")

// TestCPUTime compares the kernels on one core: GOMAXPROCS is 1, the Go
// kernel runs one thread (and OpenBLAS one, under the openblas tag), and
// each product is timed by the CPU time of the whole process, best of nine
// alternating runs. On a machine shared with other work this is far steadier
// than wall time. Run with -cputime -v.
func TestCPUTime(t *testing.T) {
	if !*cputime {
		t.Skip("run with -cputime")
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	setOneThread()
	kerns := []gemm.Kernel{gonumKernel{}, gemm.NewGo(1)}
	if d := gemm.Default(); !isGo(d) {
		kerns = append(kerns, d)
	}
	for _, s := range shapes {
		rng := rand.New(rand.NewPCG(1, 1))
		fill := func(n int) []float32 {
			v := make([]float32, n)
			for i := range v {
				v[i] = 2*rng.Float32() - 1
			}
			return v
		}
		a, b, c := fill(s.m*s.k), fill(s.k*s.n), make([]float32, s.m*s.n)
		lda, ldb := s.k, s.n
		if s.transA {
			lda = s.m
		}
		if s.transB {
			ldb = s.k
		}
		best := make([]time.Duration, len(kerns))
		for range 9 {
			for i, kern := range kerns {
				start := processCPUTime()
				kern.Sgemm(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, b, ldb, 0, c, s.n)
				if d := processCPUTime() - start; best[i] == 0 || d < best[i] {
					best[i] = d
				}
			}
		}
		line := fmt.Sprintf("%-13s", s.name)
		for i, kern := range kerns {
			gflops := 2 * float64(s.m) * float64(s.n) * float64(s.k) / best[i].Seconds() / 1e9
			line += fmt.Sprintf("  %s %6.1f", kern.Name(), gflops)
		}
		t.Log(line + "  GFLOP/cpu-s")
	}
}

func isGo(k gemm.Kernel) bool { _, ok := k.(*gemm.Go); return ok }

// processCPUTime returns the user and system CPU time of the process.
func processCPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
