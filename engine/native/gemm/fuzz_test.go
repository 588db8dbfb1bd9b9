package gemm

import "testing"

// FuzzSgemm compares NewGo(3) with Naive on small products of any shape,
// transposition, padding, alpha and beta. Sizes are reduced modulo 70.
func FuzzSgemm(f *testing.F) {
	f.Add(uint8(1), uint8(1), uint8(1), false, false, uint8(0), float32(1), float32(0))
	f.Add(uint8(13), uint8(33), uint8(17), true, false, uint8(3), float32(-0.5), float32(1))
	f.Add(uint8(12), uint8(32), uint8(64), false, true, uint8(1), float32(2), float32(0.5))
	f.Add(uint8(69), uint8(5), uint8(40), true, true, uint8(2), float32(1), float32(-1))
	g := NewGo(3)
	f.Fuzz(func(t *testing.T, m, n, k uint8, transA, transB bool, pad uint8, alpha, beta float32) {
		if alpha != alpha || beta != beta || alpha > 1e3 || alpha < -1e3 || beta > 1e3 || beta < -1e3 {
			t.Skip()
		}
		tc := gemmCase{transA, transB, int(m % 70), int(n % 70), int(k % 70), alpha, beta, int(pad % 5)}
		a, lda, b, ldb, c0, ldc := tc.operands()
		want, tol := reference(tc, a, lda, b, ldb, c0, ldc)
		got := append([]float32(nil), c0...)
		g.Sgemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, got, ldc)
		if err := checkClose(tc, got, want, tol, ldc); err != nil {
			t.Fatalf("%v: %v", tc, err)
		}
	})
}
