package gemm

import (
	"flag"
	"math/rand/v2"
	"testing"
)

var (
	benchPortable = flag.Bool("portable", false, "also benchmark the portable Go micro-kernel where an assembly one runs")
	benchPackA    = flag.Bool("packa", false, "also benchmark the Go kernels with A always packed")
)

// benchSink keeps benchmark results alive.
var benchSink float32

// benchKernels returns the kernels compared in every benchmark: each
// assembly micro-kernel on GOMAXPROCS threads (the portable one too with
// -portable or where it is the only one), and Default (OpenBLAS under the
// openblas tag). Compare with gonum's Sgemm in scripts/bench-gemm.
func benchKernels() []Kernel {
	var ks []Kernel
	mks := kernels()
	if len(mks) > 1 && !*benchPortable {
		mks = mks[:len(mks)-1]
	}
	for i, mk := range mks {
		if i == 0 {
			ks = append(ks, NewGo(0)) // with its narrow kernel, if any
		} else {
			ks = append(ks, newGo(0, mk))
		}
		if *benchPackA {
			g := newGo(0, mk)
			g.packA = true
			ks = append(ks, g)
		}
	}
	if d := Default(); d.Name() != ks[0].Name() {
		ks = append(ks, d)
	}
	return ks
}

// gemmBench times C = op(A)·op(B) for an m×n×k product and reports GFLOP/s,
// one sub-benchmark per kernel.
func gemmBench(b *testing.B, transA, transB bool, m, n, k int) {
	rng := rand.New(rand.NewPCG(1, 1))
	a := randSlice(rng, m*k)
	bm := randSlice(rng, k*n)
	c := make([]float32, m*n)
	lda, ldb := k, n
	if transA {
		lda = m
	}
	if transB {
		ldb = k
	}
	for _, kern := range benchKernels() {
		b.Run(kern.Name(), func(b *testing.B) {
			b.ReportAllocs()
			kern.Sgemm(transA, transB, m, n, k, 1, a, lda, bm, ldb, 0, c, n) // warm up buffers
			for b.Loop() {
				kern.Sgemm(transA, transB, m, n, k, 1, a, lda, bm, ldb, 0, c, n)
			}
			benchSink = c[0]
			flops := 2 * float64(m) * float64(n) * float64(k) * float64(b.N)
			b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// Madry's MNIST CNN at batch 100, convolutions by im2col.
func BenchmarkConv1MNIST(b *testing.B)   { gemmBench(b, false, false, 78400, 32, 25) }
func BenchmarkConv2MNIST(b *testing.B)   { gemmBench(b, false, false, 19600, 64, 800) }
func BenchmarkFC1MNIST(b *testing.B)     { gemmBench(b, false, false, 100, 1024, 3136) }
func BenchmarkFC2MNIST(b *testing.B)     { gemmBench(b, false, false, 100, 10, 1024) }
func BenchmarkConv2DXMNIST(b *testing.B) { gemmBench(b, false, true, 19600, 800, 64) }
func BenchmarkConv2DWMNIST(b *testing.B) { gemmBench(b, true, false, 800, 64, 19600) }
func BenchmarkFC1DXMNIST(b *testing.B)   { gemmBench(b, false, true, 100, 3136, 1024) }
func BenchmarkFC1DWMNIST(b *testing.B)   { gemmBench(b, true, false, 3136, 1024, 100) }

// WideResNet 3×3 convolution with 160 channels on 32×32 images, batch 8.
func BenchmarkConv3x3WRN(b *testing.B)   { gemmBench(b, false, false, 8*32*32, 160, 9*160) }
func BenchmarkConv3x3DXWRN(b *testing.B) { gemmBench(b, false, true, 8*32*32, 9*160, 160) }
func BenchmarkConv3x3DWWRN(b *testing.B) { gemmBench(b, true, false, 9*160, 160, 8*32*32) }

// Square products for comparison with other BLAS numbers.
func BenchmarkSquare256(b *testing.B)  { gemmBench(b, false, false, 256, 256, 256) }
func BenchmarkSquare1024(b *testing.B) { gemmBench(b, false, false, 1024, 1024, 1024) }
