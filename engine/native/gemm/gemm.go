// Package gemm multiplies float32 matrices for the native engine: C = αAB + βC
// on row-major flat slices with leading dimensions, optionally transposing A
// or B. The pure-Go kernel is the default; building with the openblas tag
// adds OpenBLAS through cgo.
package gemm

// Kernel computes C = alpha·op(A)·op(B) + beta·C where op(A) is m×k, op(B) is
// k×n and C is m×n, all row-major: element (i, j) of C is c[i*ldc+j]. With
// transA, A is stored k×m (op(A) = Aᵀ); with transB, B is stored n×k.
// Implementations panic on bad dimensions (programmer error) and must give
// bit-identical results whatever the number of threads.
type Kernel interface {
	Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)
	// Name says which implementation this is, for results metadata.
	Name() string
}

// Naive is the reference triple loop, for tests.
type Naive struct{}

// Name implements Kernel.
func (Naive) Name() string { return "naive" }

// Sgemm implements Kernel.
func (Naive) Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float32
			for p := 0; p < k; p++ {
				av := a[i*lda+p]
				if transA {
					av = a[p*lda+i]
				}
				bv := b[p*ldb+j]
				if transB {
					bv = b[j*ldb+p]
				}
				s += av * bv
			}
			if beta == 0 {
				c[i*ldc+j] = alpha * s
			} else {
				c[i*ldc+j] = alpha*s + beta*c[i*ldc+j]
			}
		}
	}
}
