package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// testKernels returns every kernel the tests check: each micro-kernel this
// CPU runs, with one thread and with three, and with two threads packing A
// and packing B per block of C, and Default (OpenBLAS under the openblas
// tag).
func testKernels() []Kernel {
	var ks []Kernel
	for _, mk := range kernels() {
		packed := newGo(2, mk)
		packed.packA, packed.noPrepackB = true, true
		ks = append(ks, newGo(1, mk), newGo(3, mk), packed)
	}
	return append(ks, Default())
}

func randSlice(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = 2*rng.Float32() - 1
	}
	return s
}

type gemmCase struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	pad            int // extra columns in lda, ldb and ldc
}

func (tc gemmCase) String() string {
	t := func(b bool) string {
		if b {
			return "T"
		}
		return "N"
	}
	return fmt.Sprintf("%s%s_m%d_n%d_k%d_a%g_b%g_pad%d", t(tc.transA), t(tc.transB), tc.m, tc.n, tc.k, tc.alpha, tc.beta, tc.pad)
}

// operands builds A, B and C for tc from a fixed seed. C's padding columns
// and, when beta == 0, C itself hold NaN, which the kernels must not read.
func (tc gemmCase) operands() (a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	rng := rand.New(rand.NewPCG(uint64(tc.m*131+tc.n), uint64(tc.k)))
	ra, ca := tc.m, tc.k
	if tc.transA {
		ra, ca = tc.k, tc.m
	}
	rb, cb := tc.k, tc.n
	if tc.transB {
		rb, cb = tc.n, tc.k
	}
	lda, ldb, ldc = max(1, ca+tc.pad), max(1, cb+tc.pad), max(1, tc.n+tc.pad)
	// A and B end right after their last element, as short as Sgemm
	// allows, so that reading past them panics.
	a = randSlice(rng, ra*lda)[:max(0, lda*(ra-1)+ca)]
	b = randSlice(rng, rb*ldb)[:max(0, ldb*(rb-1)+cb)]
	c = randSlice(rng, tc.m*ldc)
	nan := float32(math.NaN())
	for i := range tc.m {
		for j := range ldc {
			if j >= tc.n || tc.beta == 0 {
				c[i*ldc+j] = nan
			}
		}
	}
	return a, lda, b, ldb, c, ldc
}

func gemmCases() []gemmCase {
	var cases []gemmCase
	sizes := [][3]int{
		{1, 1, 1}, {1, 1, 0}, {3, 5, 0}, {0, 4, 3}, {4, 0, 3},
		{2, 3, 4}, {5, 7, 3}, {6, 16, 8}, {12, 32, 9}, {7, 17, 33},
		{13, 33, 1}, {1, 40, 17}, {40, 1, 17}, {25, 10, 300},
		{100, 10, 64}, {129, 67, 257}, {61, 130, 531},
		{13, 20, 512}, {512, 9, 40}, // lda of 2 KiB: A is packed
	}
	for _, s := range sizes {
		for _, ta := range []bool{false, true} {
			for _, tb := range []bool{false, true} {
				for _, beta := range []float32{0, 1, 0.5} {
					for _, alpha := range []float32{1, -0.75} {
						for _, pad := range []int{0, 3} {
							cases = append(cases, gemmCase{ta, tb, s[0], s[1], s[2], alpha, beta, pad})
						}
					}
				}
			}
		}
	}
	cases = append(cases, gemmCase{false, false, 5, 6, 7, 0, 0.5, 1}) // alpha == 0
	return cases
}

// reference returns Naive's result for tc and, per element, the float32
// rounding allowed relative to Σ|a||b| and |βc|.
func reference(tc gemmCase, a []float32, lda int, b []float32, ldb int, c0 []float32, ldc int) (want []float32, tol []float64) {
	want = append([]float32(nil), c0...)
	if tc.alpha != 0 {
		Naive{}.Sgemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, want, ldc)
	} else {
		scaleC(tc.m, tc.n, tc.beta, want, ldc)
	}
	eps := float64(math.Nextafter32(1, 2) - 1)
	tol = make([]float64, len(c0))
	for i := range tc.m {
		for j := range tc.n {
			var mag float64
			for p := range tc.k {
				var av, bv float32
				if tc.transA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if tc.transB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				mag += math.Abs(float64(av) * float64(bv))
			}
			mag *= math.Abs(float64(tc.alpha))
			if tc.beta != 0 {
				mag += math.Abs(float64(tc.beta) * float64(c0[i*ldc+j]))
			}
			tol[i*ldc+j] = 2*float64(tc.k+2)*eps*mag + 1e-30
		}
	}
	return want, tol
}

// checkClose reports the first element of got farther from want than tol;
// padding columns of C must still hold NaN.
func checkClose(tc gemmCase, got, want []float32, tol []float64, ldc int) error {
	for i := range tc.m {
		for j := range ldc {
			g, w := got[i*ldc+j], want[i*ldc+j]
			if j >= tc.n {
				if !math.IsNaN(float64(g)) {
					return fmt.Errorf("C[%d,%d] in padding changed to %v", i, j, g)
				}
				continue
			}
			if d := math.Abs(float64(g) - float64(w)); !(d <= tol[i*ldc+j]) {
				return fmt.Errorf("C[%d,%d] = %v, want %v (|diff| %g > tol %g)", i, j, g, w, d, tol[i*ldc+j])
			}
		}
	}
	return nil
}

func TestSgemm(t *testing.T) {
	kerns := testKernels()
	for _, tc := range gemmCases() {
		t.Run(tc.String(), func(t *testing.T) {
			a, lda, b, ldb, c0, ldc := tc.operands()
			want, tol := reference(tc, a, lda, b, ldb, c0, ldc)
			for _, kern := range kerns {
				got := append([]float32(nil), c0...)
				kern.Sgemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, got, ldc)
				if err := checkClose(tc, got, want, tol, ldc); err != nil {
					t.Errorf("%s: %v", kern.Name(), err)
				}
			}
		})
	}
}

// TestDeterministic checks that the thread count does not change a single
// bit of the result, for products large enough to be cut into many blocks
// of C and of K.
func TestDeterministic(t *testing.T) {
	shapes := []gemmCase{
		{false, false, 257, 131, 600, 1, 0, 1},
		{false, true, 131, 257, 600, 0.5, 0.5, 0},
		{true, false, 300, 64, 1000, 1, 1, 2},
		{true, true, 77, 300, 513, -1, 0.5, 0},
		{false, false, 1000, 32, 25, 1, 0, 0},
	}
	for _, mk := range kernels() {
		for _, tc := range shapes {
			t.Run(mk.name+"/"+tc.String(), func(t *testing.T) {
				a, lda, b, ldb, c0, ldc := tc.operands()
				var ref []float32
				for _, threads := range []int{1, 2, 3, 7} {
					got := append([]float32(nil), c0...)
					newGo(threads, mk).Sgemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, got, ldc)
					if ref == nil {
						ref = got
						continue
					}
					compareBits(t, threads, ref, got)
				}
				// Packing A and packing B per block of C changes where the
				// operands come from, never the arithmetic.
				g := newGo(2, mk)
				g.packA, g.noPrepackB = true, true
				got := append([]float32(nil), c0...)
				g.Sgemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, got, ldc)
				compareBits(t, 2, ref, got)
			})
		}
	}
}

// compareBits fails at the first element whose bits differ.
func compareBits(t *testing.T, threads int, want, got []float32) {
	t.Helper()
	for i := range want {
		if math.Float32bits(want[i]) != math.Float32bits(got[i]) {
			t.Fatalf("threads=%d: element %d = %08x (%v), reference %08x (%v)",
				threads, i, math.Float32bits(got[i]), got[i], math.Float32bits(want[i]), want[i])
		}
	}
}

func TestPanics(t *testing.T) {
	buf := make([]float32, 100)
	tests := []struct {
		name           string
		transA, transB bool
		m, n, k        int
		lenA, lenB     int
		lda, ldb, ldc  int
		lenC           int
		want           string
	}{
		{"m<0", false, false, -1, 2, 2, 4, 4, 2, 2, 2, 4, mLT0},
		{"n<0", false, false, 2, -1, 2, 4, 4, 2, 2, 2, 4, nLT0},
		{"k<0", false, false, 2, 2, -1, 4, 4, 2, 2, 2, 4, kLT0},
		{"lda", false, false, 2, 3, 4, 100, 100, 3, 3, 3, 100, badLdA},
		{"ldaT", true, false, 5, 3, 4, 100, 100, 4, 3, 3, 100, badLdA},
		{"ldb", false, false, 2, 3, 4, 100, 100, 4, 2, 3, 100, badLdB},
		{"ldbT", false, true, 2, 3, 4, 100, 100, 4, 3, 3, 100, badLdB},
		{"ldc", false, false, 2, 3, 4, 100, 100, 4, 3, 2, 100, badLdC},
		{"shortA", false, false, 2, 3, 4, 7, 100, 4, 3, 3, 100, shortA},
		{"shortAT", true, false, 2, 3, 4, 7, 100, 2, 3, 3, 100, shortA},
		{"shortB", false, false, 2, 3, 4, 100, 11, 4, 3, 3, 100, shortB},
		{"shortBT", false, true, 2, 3, 4, 100, 11, 4, 4, 3, 100, shortB},
		{"shortC", false, false, 2, 3, 4, 100, 100, 4, 3, 3, 5, shortC},
		{"shortCk0", false, false, 2, 3, 0, 0, 0, 1, 3, 3, 5, shortC},
	}
	for _, kern := range testKernels() {
		for _, tt := range tests {
			t.Run(kern.Name()+"/"+tt.name, func(t *testing.T) {
				defer func() {
					r := recover()
					if r != tt.want {
						t.Errorf("panic %v, want %q", r, tt.want)
					}
				}()
				kern.Sgemm(tt.transA, tt.transB, tt.m, tt.n, tt.k, 1, buf[:tt.lenA], tt.lda, buf[:tt.lenB], tt.ldb, 0, make([]float32, tt.lenC), tt.ldc)
			})
		}
	}
}

// TestNoAllocs checks that a warmed-up kernel reuses its buffers.
func TestNoAllocs(t *testing.T) {
	const m, n, k = 150, 70, 300
	rng := rand.New(rand.NewPCG(1, 1))
	a, b, c := randSlice(rng, m*k), randSlice(rng, k*n), make([]float32, m*n)
	for _, mk := range kernels() {
		g := newGo(2, mk)
		allocs := testing.AllocsPerRun(20, func() {
			g.Sgemm(false, true, m, n, k, 1, a, k, b, k, 0, c, n)
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per call, want 0", g.Name(), allocs)
		}
	}
}

// TestTransposers runs the products with a transposed B through every block
// transpose this CPU has, and through none.
func TestTransposers(t *testing.T) {
	saved := blockTranspose
	defer func() { blockTranspose = saved }()
	for _, tr := range append(transposers(), transposer{}) {
		blockTranspose = tr
		g := NewGo(2)
		for _, tc := range gemmCases() {
			if !tc.transB || tc.k < 8 || tc.n < 8 {
				continue
			}
			a, lda, b, ldb, c0, ldc := tc.operands()
			want, tol := reference(tc, a, lda, b, ldb, c0, ldc)
			got := append([]float32(nil), c0...)
			g.Sgemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, got, ldc)
			if err := checkClose(tc, got, want, tol, ldc); err != nil {
				t.Errorf("%d×%d transposes, %v: %v", tr.n, tr.n, tc, err)
			}
		}
	}
}
