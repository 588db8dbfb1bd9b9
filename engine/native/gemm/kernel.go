package gemm

import "unsafe"

// microKernel describes one register-blocked inner kernel and the cache
// blocking that suits it.
//
// fn computes, for an mr×nr block, acc[i][j] = Σ_p a[i*as+p*ps]·b[p*nr+j]
// over 0 <= p < k (k >= 1) in increasing order of p, then stores
// c[i*ldc+j] = alpha·acc[i][j] + beta·c[i*ldc+j], or alpha·acc[i][j] when
// beta == 0 (c is then not read). b points at a packed panel; a at a packed
// panel (as = 1, ps = mr) or straight into A (as = lda, ps = 1, or for a
// transposed A as = 1, ps = lda); c at the top-left element of the block.
type microKernel struct {
	name   string
	mr, nr int
	// kc, mc and nc bound the K, M and N blocks: a kc×nr panel of B should
	// stay in L1, an mc×kc block of A and a kc×nc block of B in L2.
	kc, mc, nc int
	fn         func(k int, a, b, c *float32, ldc, as, ps int, alpha, beta float32)
}

// kernels returns the micro-kernels this CPU can run, best first. The last
// one is always the portable Go kernel.
func kernels() []*microKernel {
	return append(asmKernels(), &goKernel)
}

// goKernel is the portable micro-kernel, used where no assembly kernel runs.
var goKernel = microKernel{
	name: "go4x4", mr: 4, nr: 4,
	kc: 256, mc: 128, nc: 256,
	fn: kernelGo4x4,
}

// kernelGo4x4 is the portable 4×4 micro-kernel. The explicit float32
// conversions forbid the compiler to fuse the multiply-adds, so the results do
// not depend on GOAMD64 or GOARCH.
func kernelGo4x4(k int, a, b, c *float32, ldc, as, ps int, alpha, beta float32) {
	av := unsafe.Slice(a, 3*as+(k-1)*ps+1)
	bs := unsafe.Slice(b, 4*k)
	var c00, c01, c02, c03 float32
	var c10, c11, c12, c13 float32
	var c20, c21, c22, c23 float32
	var c30, c31, c32, c33 float32
	for p := 0; p < k; p++ {
		o := p * ps
		a0, a1, a2, a3 := av[o], av[o+as], av[o+2*as], av[o+3*as]
		bp := bs[4*p : 4*p+4 : 4*p+4]
		b0, b1, b2, b3 := bp[0], bp[1], bp[2], bp[3]
		c00 += float32(a0 * b0)
		c01 += float32(a0 * b1)
		c02 += float32(a0 * b2)
		c03 += float32(a0 * b3)
		c10 += float32(a1 * b0)
		c11 += float32(a1 * b1)
		c12 += float32(a1 * b2)
		c13 += float32(a1 * b3)
		c20 += float32(a2 * b0)
		c21 += float32(a2 * b1)
		c22 += float32(a2 * b2)
		c23 += float32(a2 * b3)
		c30 += float32(a3 * b0)
		c31 += float32(a3 * b1)
		c32 += float32(a3 * b2)
		c33 += float32(a3 * b3)
	}
	cs := unsafe.Slice(c, 3*ldc+4)
	store4(cs[0:4:4], c00, c01, c02, c03, alpha, beta)
	store4(cs[ldc:ldc+4:ldc+4], c10, c11, c12, c13, alpha, beta)
	store4(cs[2*ldc:2*ldc+4:2*ldc+4], c20, c21, c22, c23, alpha, beta)
	store4(cs[3*ldc:3*ldc+4:3*ldc+4], c30, c31, c32, c33, alpha, beta)
}

// store4 writes one row of a 4×4 block: c = alpha·acc + beta·c.
func store4(c []float32, s0, s1, s2, s3, alpha, beta float32) {
	if beta == 0 {
		c[0] = alpha * s0
		c[1] = alpha * s1
		c[2] = alpha * s2
		c[3] = alpha * s3
		return
	}
	c[0] = float32(alpha*s0) + float32(beta*c[0])
	c[1] = float32(alpha*s1) + float32(beta*c[1])
	c[2] = float32(alpha*s2) + float32(beta*c[2])
	c[3] = float32(alpha*s3) + float32(beta*c[3])
}
