//go:build openblas

package openblas

/*
#cgo LDFLAGS: -lopenblas

// Prototypes from OpenBLAS's cblas.h and openblas_config.h, declared here so
// the build does not depend on where the distribution puts the headers.
// blasint is int (LP64 builds, as Debian's libopenblas0).
void cblas_sgemm(int order, int transA, int transB, int m, int n, int k,
	float alpha, const float *a, int lda, const float *b, int ldb,
	float beta, float *c, int ldc);
void openblas_set_num_threads(int n);
int openblas_get_num_threads(void);
*/
import "C"

// CBLAS enumeration values (cblas.h).
const (
	cblasRowMajor = 101
	cblasNoTrans  = 111
	cblasTrans    = 112
)

// Sgemm calls cblas_sgemm with CblasRowMajor. All sizes must be positive
// and fit a C int; the slices must be long enough.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	tA, tB := C.int(cblasNoTrans), C.int(cblasNoTrans)
	if transA {
		tA = cblasTrans
	}
	if transB {
		tB = cblasTrans
	}
	C.cblas_sgemm(cblasRowMajor, tA, tB, C.int(m), C.int(n), C.int(k),
		C.float(alpha), (*C.float)(&a[0]), C.int(lda), (*C.float)(&b[0]), C.int(ldb),
		C.float(beta), (*C.float)(&c[0]), C.int(ldc))
}

// SetThreads calls openblas_set_num_threads(n).
func SetThreads(n int) { C.openblas_set_num_threads(C.int(n)) }

// Threads returns openblas_get_num_threads().
func Threads() int { return int(C.openblas_get_num_threads()) }
