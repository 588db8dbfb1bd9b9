//go:build openblas

package gemm

import (
	"math"
	"strconv"

	"confrobust/engine/native/gemm/internal/openblas"
)

const tooLarge = "gemm: dimension too large for OpenBLAS"

// OpenBLAS is the kernel backed by OpenBLAS's cblas_sgemm (row-major)
// through cgo; it exists only in builds with the openblas tag. OpenBLAS runs
// each call on its own threads (see SetOpenBLASThreads), so callers must not
// split one product across goroutines on top of it.
//
// OpenBLAS gives bit-identical results on repeated calls with a fixed
// OpenBLAS thread count, but not across thread counts (unlike Go): pin the
// count with SetOpenBLASThreads when bits matter. Calls from several
// goroutines at once gain nothing: they share OpenBLAS's threads.
type OpenBLAS struct{}

// Name implements Kernel, e.g. "openblas-t2" for two OpenBLAS threads.
func (OpenBLAS) Name() string { return "openblas-t" + strconv.Itoa(OpenBLASThreads()) }

// Sgemm implements Kernel by calling cblas_sgemm with CblasRowMajor. It panics on bad
// arguments, as the pure-Go kernel does, before OpenBLAS sees them, and on
// sizes or leading dimensions that do not fit a C int.
func (OpenBLAS) Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkArgs(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	for _, v := range [...]int{m, n, k, lda, ldb, ldc} {
		if v > math.MaxInt32 {
			panic(tooLarge)
		}
	}
	openblas.Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// SetOpenBLASThreads sets the number of threads OpenBLAS uses for every
// later call in the process (openblas_set_num_threads); n <= 0 is ignored.
// The native engine must then run its layers on one goroutine per product:
// OpenBLAS threads plus engine goroutines beyond the core count
// oversubscribe the CPU and slow both down.
func SetOpenBLASThreads(n int) {
	if n > 0 {
		openblas.SetThreads(n)
	}
}

// OpenBLASThreads returns the number of threads OpenBLAS uses
// (openblas_get_num_threads).
func OpenBLASThreads() int { return openblas.Threads() }

// Default returns the kernel the native engine should use: this build has
// the openblas tag, so it is OpenBLAS.
func Default() Kernel { return OpenBLAS{} }
