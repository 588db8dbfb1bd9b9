//go:build !noasm

package gemm

//go:generate python3 asm_gen.py

// Implemented in kernel_amd64.s.
func cpuid(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)
func xgetbv() (eax, edx uint32)

//go:noescape
func kernelAVX2x6x16(k int, a, b, c *float32, ldc, as, ps int, alpha, beta float32)

//go:noescape
func kernelAVX512x12x32(k int, a, b, c *float32, ldc, as, ps int, alpha, beta float32)

//go:noescape
func transpose16x16(dst, src *float32, ldd, lds int)

//go:noescape
func transpose8x8(dst, src *float32, ldd, lds int)

// Both kernels use kc = 256: the K blocking fixes the rounding, and with the
// same kc the two give the same bits.
var (
	avx2Kernel = microKernel{
		name: "avx2-6x16", mr: 6, nr: 16,
		kc: 256, mc: 120, nc: 256,
		fn: kernelAVX2x6x16,
	}
	avx512Kernel = microKernel{
		name: "avx512-12x32", mr: 12, nr: 32,
		kc: 256, mc: 120, nc: 256,
		fn: kernelAVX512x12x32,
	}
)

func init() {
	if ts := transposers(); len(ts) > 0 {
		blockTranspose = ts[0]
	}
}

// transposers returns the block transposes this CPU supports, best first.
func transposers() []transposer {
	avx2, avx512 := cpuFeatures()
	var ts []transposer
	if avx512 {
		ts = append(ts, transposer{16, transpose16x16})
	}
	if avx2 {
		ts = append(ts, transposer{8, transpose8x8})
	}
	return ts
}

// asmKernels returns the assembly kernels this CPU and OS support, best first.
func asmKernels() []*microKernel {
	hasAVX2, hasAVX512 := cpuFeatures()
	var ks []*microKernel
	if hasAVX512 {
		ks = append(ks, &avx512Kernel)
	}
	if hasAVX2 {
		ks = append(ks, &avx2Kernel)
	}
	return ks
}

// cpuFeatures reports whether AVX2 with FMA, and AVX-512F, can be used: the
// CPU must have them and the OS must save their registers (XCR0).
func cpuFeatures() (avx2, avx512 bool) {
	maxID, _, _, _ := cpuid(0, 0)
	if maxID < 7 {
		return false, false
	}
	_, _, ecx1, _ := cpuid(1, 0)
	const (
		fma     = 1 << 12
		osxsave = 1 << 27
		avx     = 1 << 28
	)
	if ecx1&(fma|osxsave|avx) != fma|osxsave|avx {
		return false, false
	}
	xcr0, _ := xgetbv()
	if xcr0&0x6 != 0x6 { // SSE and AVX state
		return false, false
	}
	_, ebx7, _, _ := cpuid(7, 0)
	avx2 = ebx7&(1<<5) != 0
	avx512 = avx2 && ebx7&(1<<16) != 0 && xcr0&0xe0 == 0xe0 // opmask, ZMM0-15 upper, ZMM16-31
	return avx2, avx512
}
