// Package gemm multiplies float32 matrices for the native engine:
// C = α·op(A)·op(B) + β·C on row-major flat slices with leading dimensions,
// where op(X) is X or Xᵀ. Every implementation satisfies Kernel; Naive is the
// reference triple loop the tests compare against.
//
// # Kernels
//
// Default returns the kernel to use. Without build tags it is the shared
// pure-Go kernel (NewGo(0)); built with -tags openblas it is OpenBLAS through
// cgo (install Debian's libopenblas-dev). NewGo(threads) builds a pure-Go
// kernel with its own worker pool. All kernels are safe for concurrent use.
//
//	k := gemm.Default()
//	// C (m×n) = A (m×k) · Bᵀ, with B stored n×k.
//	k.Sgemm(false, true, m, n, kk, 1, a, kk, b, kk, 0, c, n)
//
// "Pure Go" means no cgo: on amd64 the inner micro-kernels are Go assembly
// (AVX-512 12×32 or AVX2+FMA 6×16, picked at run time from CPUID); the noasm
// build tag, or any other GOARCH, uses a portable 4×4 kernel written in Go.
// NewGoWith picks a micro-kernel by name (MicroKernels lists those this
// machine runs), for instance the portable one to reproduce its rounding.
//
// # Blocking
//
// The pure-Go kernel follows Goto's scheme. C is cut into blocks of at most
// mc×nc elements (mc a multiple of the micro-kernel's MR, nc of NR). For each
// block, K is walked in blocks of kc ≤ 256 (K cut into equal parts): the
// kc×nc block of op(B) is packed into NR-column panels (element (p, j) of a
// panel at p*NR+j), transposing on the way when B is (by 16×16 blocks with
// AVX-512, 8×8 with AVX2). When C has several block rows and K several
// blocks, each such block of op(B) is instead packed once per call, by the
// first thread that needs it, into a buffer all threads share; a thread
// that finds a block being packed packs a private copy rather than wait. A is
// not packed: the micro-kernel reads an MR-row panel in place, with strides
// (lda, 1) or, for a transposed A, (1, lda); only a last panel of fewer than
// MR rows is copied into a zero-padded buffer. The micro-kernel keeps an
// MR×NR block of C in registers, walks p over the K block with one fused
// multiply-add per term, then writes C = α·acc + β·C (β = 1 for the second
// and later K blocks). Edge blocks of C are computed by the same
// micro-kernel on a scratch tile and copied. Packing buffers are kept and
// reused, so a warm kernel does not allocate.
//
// # Threads and determinism
//
// A Go kernel hands the blocks of C of one call to a fixed pool of worker
// goroutines (threads-1 of them plus the caller), which take blocks one at a
// time. K is never split across threads, and the K blocking depends only on
// k and the micro-kernel, so every element of C is computed by the same
// sequence of floating-point operations whichever goroutine computes it and
// however M and N are cut: the result is bit-identical for any thread count
// (TestDeterministic checks 1, 2, 3 and 7 threads, and packing A and B in
// different places). The AVX2 and AVX-512 kernels do the same operations in
// the same order (one fused multiply-add per term, the same K blocking), so
// they agree bit for bit too, and a result is the same on any x86-64 CPU
// with AVX2 and FMA (TestSameBitsAcrossAssemblyKernels). The portable Go
// kernel multiplies and adds separately, so it rounds differently: results
// differ between those CPUs and builds with the noasm tag, other GOARCHes or
// CPUs without AVX2.
//
// OpenBLAS gives the same bits on repeated calls with a fixed number of
// OpenBLAS threads, but not across thread counts: with Debian's OpenBLAS
// 0.3.21, products computed on 1 and 2 threads differ in the last bits
// (TestOpenBLASRepeatable logs it). Pin the count with SetOpenBLASThreads
// when bits matter, and do not compare bits across machines. Never split
// one product across goroutines of the native engine on top of OpenBLAS: it
// already uses all cores, and both layers together oversubscribe the CPU.
//
// # Panics
//
// Kernels panic on negative sizes, leading dimensions smaller than a row, or
// slices too short for the matrices they describe (programmer errors), with
// messages like "gemm: bad leading dimension of A". With m == 0 or n == 0 a
// call does nothing; with k == 0 or α == 0 it only scales C by β. When β == 0,
// C is overwritten without being read, so NaN in C is ignored. C must not
// overlap A or B; A and B are not modified.
package gemm
