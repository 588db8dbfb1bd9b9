//go:build openblas

package gemm

import (
	"math"
	"testing"
)

// TestOpenBLASRepeatable checks that OpenBLAS gives the same bits on repeated
// calls with a fixed thread count, and reports (without failing) whether it
// also does across thread counts, which OpenBLAS does not promise.
func TestOpenBLASRepeatable(t *testing.T) {
	defer SetOpenBLASThreads(OpenBLASThreads())
	shapes := []gemmCase{
		{false, false, 257, 131, 600, 1, 0, 1},
		{false, true, 1000, 200, 300, 0.5, 0.5, 0},
		{true, false, 300, 64, 5000, 1, 1, 2},
	}
	for _, tc := range shapes {
		t.Run(tc.String(), func(t *testing.T) {
			a, lda, b, ldb, c0, ldc := tc.operands()
			run := func(threads int) []float32 {
				SetOpenBLASThreads(threads)
				if got := OpenBLASThreads(); got != threads {
					t.Skipf("OpenBLAS runs %d threads, asked for %d", got, threads)
				}
				c := append([]float32(nil), c0...)
				OpenBLAS{}.Sgemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, c, ldc)
				return c
			}
			for _, threads := range []int{1, 2} {
				ref := run(threads)
				for range 3 {
					compareBits(t, threads, ref, run(threads))
				}
			}
			one, two := run(1), run(2)
			same := true
			for i := range one {
				if math.Float32bits(one[i]) != math.Float32bits(two[i]) {
					same = false
					break
				}
			}
			t.Logf("OpenBLAS bits identical with 1 and 2 threads: %v", same)
		})
	}
}
