package gemm

// Kernel computes C = alpha·op(A)·op(B) + beta·C where op(A) is m×k, op(B) is
// k×n and C is m×n, all row-major: element (i, j) of C is c[i*ldc+j]. With
// transA, A is stored k×m (op(A) = Aᵀ); with transB, B is stored n×k.
// Implementations panic on bad dimensions (programmer error). The pure-Go
// kernel gives bit-identical results whatever the number of threads; OpenBLAS
// only for a fixed number of OpenBLAS threads (see the package documentation).
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
				var av, bv float32
				if transA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if transB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
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

// Panic messages for bad arguments (programmer error), in the style of
// gonum's blas package.
const (
	mLT0   = "gemm: m < 0"
	nLT0   = "gemm: n < 0"
	kLT0   = "gemm: k < 0"
	badLdA = "gemm: bad leading dimension of A"
	badLdB = "gemm: bad leading dimension of B"
	badLdC = "gemm: bad leading dimension of C"
	shortA = "gemm: insufficient length of A"
	shortB = "gemm: insufficient length of B"
	shortC = "gemm: insufficient length of C"
)

// checkArgs panics unless the arguments describe valid matrices, in the
// order gonum's Sgemm checks them. Slice lengths are checked only when the
// product is not empty.
func checkArgs(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	switch {
	case m < 0:
		panic(mLT0)
	case n < 0:
		panic(nLT0)
	case k < 0:
		panic(kLT0)
	}
	if transA {
		if lda < max(1, m) {
			panic(badLdA)
		}
	} else if lda < max(1, k) {
		panic(badLdA)
	}
	if transB {
		if ldb < max(1, k) {
			panic(badLdB)
		}
	} else if ldb < max(1, n) {
		panic(badLdB)
	}
	if ldc < max(1, n) {
		panic(badLdC)
	}
	if m == 0 || n == 0 {
		return
	}
	if k > 0 {
		if transA {
			if len(a) < lda*(k-1)+m {
				panic(shortA)
			}
		} else if len(a) < lda*(m-1)+k {
			panic(shortA)
		}
		if transB {
			if len(b) < ldb*(n-1)+k {
				panic(shortB)
			}
		} else if len(b) < ldb*(k-1)+n {
			panic(shortB)
		}
	}
	if len(c) < ldc*(m-1)+n {
		panic(shortC)
	}
}

// scaleC sets C = beta·C for the m×n matrix C; beta == 0 writes zeros
// without reading C, so NaN garbage in C is ignored.
func scaleC(m, n int, beta float32, c []float32, ldc int) {
	if beta == 1 {
		return
	}
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}
