"""Generates kernel_amd64.s, the amd64 micro-kernels: python3 asm_gen.py"""
import os


out = []
w = out.append
w("// Register-blocked SGEMM micro-kernels and CPU feature detection for amd64.\n// Each kernel keeps an MR×NR block of C in vector registers while it streams\n// a panel of A (packed or strided) and a packed panel of B.\n")
w("//go:build !noasm\n")
w('#include "textflag.h"\n')

w("""// func cpuid(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)
TEXT ·cpuid(SB), NOSPLIT, $0-24
	MOVL eaxArg+0(FP), AX
	MOVL ecxArg+4(FP), CX
	CPUID
	MOVL AX, eax+8(FP)
	MOVL BX, ebx+12(FP)
	MOVL CX, ecx+16(FP)
	MOVL DX, edx+20(FP)
	RET

// func xgetbv() (eax, edx uint32)
TEXT ·xgetbv(SB), NOSPLIT, $0-8
	MOVL $0, CX
	XGETBV
	MOVL AX, eax+0(FP)
	MOVL DX, edx+4(FP)
	RET
""")

def kernel(name, mr, vecs, R, vbytes, unroll):
    # vecs: vectors per row; R: register prefix 'Y' or 'Z'
    nacc = mr*vecs
    bregs = [nacc + v for v in range(vecs)]
    bc = [nacc + vecs + i for i in range(2)]
    nr = vecs*vbytes//4
    bases = ["SI", "R11", "R12", "R13"][:(mr+2)//3]
    def aaddr(i):
        b = bases[i//3]
        return [f"({b})", f"({b})(R10*1)", f"({b})(R10*2)"][i%3]
    w(f"// func {name}(k int, a, b, c *float32, ldc, as, ps int, alpha, beta float32)")
    w(f"//")
    w(f"// Computes acc[i][j] = Σ_p a[i*as+p*ps]·b[p*{nr}+j] for i < {mr}, j < {nr},")
    w(f"// p < k (k >= 1), one fused multiply-add per term in order of p, then")
    w(f"// c[i*ldc+j] = alpha·acc + beta·c[i*ldc+j] (alpha·acc rounded, then one")
    w(f"// fused multiply-add), or alpha·acc when beta == 0 without reading c.")
    w(f"TEXT ·{name}(SB), NOSPLIT, $0-64")
    w("\tMOVQ k+0(FP), CX")
    w("\tMOVQ a+8(FP), SI")
    w("\tMOVQ b+16(FP), DI")
    w("\tMOVQ c+24(FP), DX")
    w("\tMOVQ ldc+32(FP), R8")
    w("\tSHLQ $2, R8")
    w("\tMOVQ as+40(FP), R10")
    w("\tSHLQ $2, R10")
    w("\tMOVQ ps+48(FP), R9")
    w("\tSHLQ $2, R9")
    for bi in range(1, len(bases)):
        w(f"\tLEAQ ({bases[bi-1]})(R10*2), {bases[bi]}")
        w(f"\tADDQ R10, {bases[bi]}")
    for r in range(nacc):
        w(f"\tVXORPS {R}{r}, {R}{r}, {R}{r}")
    def body():
        for v in range(vecs):
            w(f"\tVMOVUPS {v*vbytes}(DI), {R}{bregs[v]}")
        for i in range(mr):
            t = bc[i % 2]
            w(f"\tVBROADCASTSS {aaddr(i)}, {R}{t}")
            for v in range(vecs):
                w(f"\tVFMADD231PS {R}{bregs[v]}, {R}{t}, {R}{i*vecs+v}")
        w(f"\tADDQ ${nr*4}, DI")
        for b in bases:
            w(f"\tADDQ R9, {b}")
    if unroll > 1:
        w(f"\tCMPQ CX, ${unroll}")
        w(f"\tJLT {name}_tail")
        w(f"{name}_loop{unroll}:")
        for u in range(unroll):
            body()
        w(f"\tSUBQ ${unroll}, CX")
        w(f"\tCMPQ CX, ${unroll}")
        w(f"\tJGE {name}_loop{unroll}")
        w(f"{name}_tail:")
        w("\tTESTQ CX, CX")
        w(f"\tJEQ {name}_store")
    w(f"{name}_loop:")
    body()
    w("\tDECQ CX")
    w(f"\tJNE {name}_loop")
    w(f"{name}_store:")
    al, be = bc[0], bc[1]
    w(f"\tVBROADCASTSS alpha+56(FP), {R}{al}")
    w(f"\tVBROADCASTSS beta+60(FP), {R}{be}")
    for r in range(nacc):
        w(f"\tVMULPS {R}{al}, {R}{r}, {R}{r}")
    w("\tMOVL beta+60(FP), AX")
    w("\tANDL $0x7fffffff, AX")
    w(f"\tJEQ {name}_store0")
    for i in range(mr):
        for v in range(vecs):
            w(f"\tVFMADD231PS {v*vbytes}(DX), {R}{be}, {R}{i*vecs+v}")
            w(f"\tVMOVUPS {R}{i*vecs+v}, {v*vbytes}(DX)")
        if i < mr-1:
            w("\tADDQ R8, DX")
    w("\tVZEROUPPER")
    w("\tRET")
    w(f"{name}_store0:")
    for i in range(mr):
        for v in range(vecs):
            w(f"\tVMOVUPS {R}{i*vecs+v}, {v*vbytes}(DX)")
        if i < mr-1:
            w("\tADDQ R8, DX")
    w("\tVZEROUPPER")
    w("\tRET")
    w("")

def transpose():
    w("// func transpose16x16(dst, src *float32, ldd, lds int)")
    w("//")
    w("// Stores the transpose of the 16×16 block at src (row r at src[r*lds])")
    w("// into dst (row c at dst[c*ldd]). Needs AVX-512F.")
    w("TEXT ·transpose16x16(SB), NOSPLIT, $0-32")
    w("\tMOVQ dst+0(FP), DI")
    w("\tMOVQ src+8(FP), SI")
    w("\tMOVQ ldd+16(FP), DX")
    w("\tSHLQ $2, DX")
    w("\tMOVQ lds+24(FP), CX")
    w("\tSHLQ $2, CX")
    for r in range(16):
        w(f"\tVMOVUPS (SI), Z{r}")
        if r < 15:
            w("\tADDQ CX, SI")
    # stage 1: t in Z16..Z31
    for i in range(0, 16, 2):
        w(f"\tVUNPCKLPS Z{i+1}, Z{i}, Z{16+i}")
        w(f"\tVUNPCKHPS Z{i+1}, Z{i}, Z{16+i+1}")
    # stage 2: u in Z0..Z15; u[i+q] lane l = column 4l+q of rows i..i+3
    for i in range(0, 16, 4):
        t = 16 + i
        w(f"\tVUNPCKLPD Z{t+2}, Z{t}, Z{i}")
        w(f"\tVUNPCKHPD Z{t+2}, Z{t}, Z{i+1}")
        w(f"\tVUNPCKLPD Z{t+3}, Z{t+1}, Z{i+2}")
        w(f"\tVUNPCKHPD Z{t+3}, Z{t+1}, Z{i+3}")
    # stages 3 and 4 per q
    for q in range(4):
        w(f"\tVSHUFF32X4 $0x44, Z{4+q}, Z{0+q}, Z16")
        w(f"\tVSHUFF32X4 $0xEE, Z{4+q}, Z{0+q}, Z17")
        w(f"\tVSHUFF32X4 $0x44, Z{12+q}, Z{8+q}, Z18")
        w(f"\tVSHUFF32X4 $0xEE, Z{12+q}, Z{8+q}, Z19")
        w("\tVSHUFF32X4 $0x88, Z18, Z16, Z20")
        w("\tVSHUFF32X4 $0xDD, Z18, Z16, Z21")
        w("\tVSHUFF32X4 $0x88, Z19, Z17, Z22")
        w("\tVSHUFF32X4 $0xDD, Z19, Z17, Z23")
        for o, col in enumerate([q, 4+q, 8+q, 12+q]):
            # dst + col*ldd bytes: use AX = col*DX
            w(f"\tMOVQ ${col}, AX")
            w("\tIMULQ DX, AX")
            w(f"\tVMOVUPS Z{20+o}, (DI)(AX*1)")
    w("\tVZEROUPPER")
    w("\tRET")
    w("")

def transpose8():
    w("// func transpose8x8(dst, src *float32, ldd, lds int)")
    w("//")
    w("// Stores the transpose of the 8×8 block at src (row r at src[r*lds])")
    w("// into dst (row c at dst[c*ldd]). Needs AVX.")
    w("TEXT ·transpose8x8(SB), NOSPLIT, $0-32")
    w("\tMOVQ dst+0(FP), DI")
    w("\tMOVQ src+8(FP), SI")
    w("\tMOVQ ldd+16(FP), DX")
    w("\tSHLQ $2, DX")
    w("\tMOVQ lds+24(FP), CX")
    w("\tSHLQ $2, CX")
    for r in range(8):
        w(f"\tVMOVUPS (SI), Y{r}")
        if r < 7:
            w("\tADDQ CX, SI")
    # t in Y8..Y15: t[i] = unpcklps(r[i], r[i+1]), t[i+1] = unpckhps
    for i in range(0, 8, 2):
        w(f"\tVUNPCKLPS Y{i+1}, Y{i}, Y{8+i}")
        w(f"\tVUNPCKHPS Y{i+1}, Y{i}, Y{8+i+1}")
    # u in Y0..Y7: for row group g (0: rows 0-3 from t0..t3, 1: rows 4-7 from t4..t7)
    # u[4g+0] = shufps(t[4g], t[4g+2], 0x44) col 0|4; u[4g+1] = 0xEE col 1|5;
    # u[4g+2] = shufps(t[4g+1], t[4g+3], 0x44) col 2|6; u[4g+3] = 0xEE col 3|7
    for g in range(2):
        t = 8 + 4*g
        w(f"\tVSHUFPS $0x44, Y{t+2}, Y{t}, Y{4*g}")
        w(f"\tVSHUFPS $0xEE, Y{t+2}, Y{t}, Y{4*g+1}")
        w(f"\tVSHUFPS $0x44, Y{t+3}, Y{t+1}, Y{4*g+2}")
        w(f"\tVSHUFPS $0xEE, Y{t+3}, Y{t+1}, Y{4*g+3}")
    # columns: col q = perm(u[q], u[4+q], 0x20), col 4+q = perm(..., 0x31)
    for q in range(4):
        w(f"\tVPERM2F128 $0x20, Y{4+q}, Y{q}, Y{8+q}")
        w(f"\tVPERM2F128 $0x31, Y{4+q}, Y{q}, Y{12+q}")
    for col in range(8):
        reg = 8 + col if col < 4 else 12 + (col - 4)
        w(f"\tVMOVUPS Y{reg}, (DI)")
        if col < 7:
            w("\tADDQ DX, DI")
    w("\tVZEROUPPER")
    w("\tRET")
    w("")

transpose()
transpose8()
kernel("kernelAVX2x6x16", 6, 2, 'Y', 32, 2)
kernel("kernelAVX512x12x32", 12, 2, 'Z', 64, 2)
open(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'kernel_amd64.s'), 'w').write("\n".join(out)+"\n")
