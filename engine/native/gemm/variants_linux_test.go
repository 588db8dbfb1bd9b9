package gemm

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"runtime"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

var variants = flag.Bool("variants", false, "compare kernel variants by best-of-N timing (slow)")

// variantShapes are the products the variant tests time.
var variantShapes = []struct {
	name           string
	transA, transB bool
	m, n, k        int
}{
	{"conv1", false, false, 78400, 32, 25},
	{"conv2", false, false, 19600, 64, 800},
	{"conv2DX", false, true, 19600, 800, 64},
	{"conv2DW", true, false, 800, 64, 19600},
	{"fc1", false, false, 100, 1024, 3136},
	{"fc1DX", false, true, 100, 3136, 1024},
	{"wrn3x3", false, false, 8 * 32 * 32, 160, 9 * 160},
	{"wrn3x3DW", true, false, 9 * 160, 160, 8 * 32 * 32},
	{"fc2", false, false, 100, 10, 1024},
	{"sq1024", false, false, 1024, 1024, 1024},
	{"sq1024TT", true, true, 1024, 1024, 1024},
}

// TestVariants times variants of the fastest micro-kernel on one thread,
// alternately, and prints the best GFLOP/s of each, measured in CPU time of
// the calling thread: on a busy machine that is far less noisy than wall
// time. Run with -variants -v.
func TestVariants(t *testing.T) {
	if !*variants {
		t.Skip("run with -variants")
	}
	// Variants: every assembly kernel, and the best one packing A, packing
	// B per block of C, and packing a transposed B without block transposes.
	var names []string
	mkVariants := func() map[string]*Go {
		v := map[string]*Go{}
		names = names[:0]
		mks := kernels()
		if len(mks) > 1 {
			mks = mks[:len(mks)-1] // not the portable kernel
		}
		for _, mk := range mks {
			v[mk.name] = newGo(1, mk)
			names = append(names, mk.name)
		}
		g := newGo(1, mks[0])
		g.packA = true
		v["packA"] = g
		g = newGo(1, mks[0])
		g.noPrepackB = true
		v["noPrepackB"] = g
		v["noTranspose"] = newGo(1, mks[0])
		names = append(names, "packA", "noPrepackB", "noTranspose")
		return v
	}
	saved := blockTranspose
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for _, s := range variantShapes {
		rng := rand.New(rand.NewPCG(1, 1))
		a, b, c := randSlice(rng, s.m*s.k), randSlice(rng, s.k*s.n), make([]float32, s.m*s.n)
		lda, ldb := s.k, s.n
		if s.transA {
			lda = s.m
		}
		if s.transB {
			ldb = s.k
		}
		vs := mkVariants()
		best := map[string]time.Duration{}
		for range 9 {
			for _, name := range names {
				g := vs[name]
				if name == "noTranspose" {
					blockTranspose = transposer{}
				}
				start := threadCPUTime()
				g.Sgemm(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, b, ldb, 0, c, s.n)
				d := threadCPUTime() - start
				if name == "noTranspose" {
					blockTranspose = saved
				}
				if old, ok := best[name]; !ok || d < old {
					best[name] = d
				}
			}
		}
		flops := 2 * float64(s.m) * float64(s.n) * float64(s.k)
		line := s.name
		for _, name := range names {
			line += fmt.Sprintf("  %s %.1f", name, flops/best[name].Seconds()/1e9)
		}
		t.Log(line)
	}
}

// threadCPUTime returns the CPU time of the calling OS thread
// (CLOCK_THREAD_CPUTIME_ID), or 0 where that clock cannot be read.
func threadCPUTime() time.Duration {
	const clockThreadCPUTimeID = 3
	var ts syscall.Timespec
	_, _, errno := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTimeID, uintptr(unsafe.Pointer(&ts)), 0)
	if errno != 0 {
		return 0
	}
	return time.Duration(ts.Nano())
}
