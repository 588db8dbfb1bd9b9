// Package benchgemm compares the native engine's GEMM kernels with gonum's
// pure-Go Sgemm on the shapes of the project's models. It is a separate
// module so that the main module does not depend on gonum's BLAS. Run it
// from this directory, side by side in one process:
//
//	go test -bench . -benchtime=20x -count=3
//	go test -tags openblas -bench . -benchtime=20x -count=3   # adds OpenBLAS
//	go test -run CPUTime -cputime -v [-tags openblas]         # one core, CPU time
package benchgemm

import (
	"math/rand/v2"
	"testing"

	"confrobust/engine/native/gemm"

	"gonum.org/v1/gonum/blas"
	gonumblas "gonum.org/v1/gonum/blas/gonum"
)

var sink float32

// gonumKernel adapts gonum's Sgemm to gemm.Kernel.
type gonumKernel struct{}

func (gonumKernel) Name() string { return "gonum" }

func (gonumKernel) Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	tA, tB := blas.NoTrans, blas.NoTrans
	if transA {
		tA = blas.Trans
	}
	if transB {
		tB = blas.Trans
	}
	gonumblas.Implementation{}.Sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func kernels() []gemm.Kernel {
	ks := []gemm.Kernel{gonumKernel{}, gemm.NewGo(0)}
	if d := gemm.Default(); d.Name() != ks[1].Name() {
		ks = append(ks, d)
	}
	return ks
}

func bench(b *testing.B, transA, transB bool, m, n, k int) {
	rng := rand.New(rand.NewPCG(1, 1))
	fill := func(n int) []float32 {
		s := make([]float32, n)
		for i := range s {
			s[i] = 2*rng.Float32() - 1
		}
		return s
	}
	a, bm, c := fill(m*k), fill(k*n), make([]float32, m*n)
	lda, ldb := k, n
	if transA {
		lda = m
	}
	if transB {
		ldb = k
	}
	for _, kern := range kernels() {
		b.Run(kern.Name(), func(b *testing.B) {
			for b.Loop() {
				kern.Sgemm(transA, transB, m, n, k, 1, a, lda, bm, ldb, 0, c, n)
			}
			sink = c[0]
			b.ReportMetric(2*float64(m)*float64(n)*float64(k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// shapes are the products of the project's models: Madry's MNIST CNN at
// batch 100 (convolutions by im2col; DX and DW are the input and weight
// gradients) and a WideResNet 3×3 convolution with 160 channels at batch 8.
var shapes = []struct {
	name           string
	transA, transB bool
	m, n, k        int
}{
	{"Conv1MNIST", false, false, 78400, 32, 25},
	{"Conv2MNIST", false, false, 19600, 64, 800},
	{"Conv2DXMNIST", false, true, 19600, 800, 64},
	{"Conv2DWMNIST", true, false, 800, 64, 19600},
	{"FC1MNIST", false, false, 100, 1024, 3136},
	{"FC1DXMNIST", false, true, 100, 3136, 1024},
	{"FC2MNIST", false, false, 100, 10, 1024},
	{"Conv3x3WRN", false, false, 8 * 32 * 32, 160, 9 * 160},
	{"Conv3x3DWWRN", true, false, 9 * 160, 160, 8 * 32 * 32},
	{"Square1024", false, false, 1024, 1024, 1024},
}

func BenchmarkShapes(b *testing.B) {
	for _, s := range shapes {
		b.Run(s.name, func(b *testing.B) { bench(b, s.transA, s.transB, s.m, s.n, s.k) })
	}
}
