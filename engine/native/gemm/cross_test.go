package gemm

import "testing"

// TestSameBitsAcrossAssemblyKernels checks that the AVX2 and AVX-512
// micro-kernels give identical bits: both do one fused multiply-add per term
// in the same order, with the same K blocking.
func TestSameBitsAcrossAssemblyKernels(t *testing.T) {
	var asm []*microKernel
	for _, mk := range kernels() {
		if mk != &goKernel {
			asm = append(asm, mk)
		}
	}
	if len(asm) < 2 {
		t.Skip("this CPU runs fewer than two assembly kernels")
	}
	for _, tc := range gemmCases() {
		a, lda, b, ldb, c0, ldc := tc.operands()
		var ref []float32
		for _, mk := range asm {
			got := append([]float32(nil), c0...)
			newGo(2, mk).Sgemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, got, ldc)
			if ref == nil {
				ref = got
				continue
			}
			t.Run(tc.String()+"/"+mk.name, func(t *testing.T) { compareBits(t, 2, ref, got) })
		}
	}
}
