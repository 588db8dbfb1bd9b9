package stats

import (
	"math"
	"testing"
)

// Reference values were computed with 50-digit decimal arithmetic in Python (exact binomial
// sums and bisection for Clopper–Pearson, bisection on the score equation for Wilson); the
// closed forms are noted where they exist.
func TestClopperPearson(t *testing.T) {
	t.Parallel()
	for _, test := range []struct {
		k, n   int
		level  float64
		lo, hi float64
	}{
		{26, 300, 0.95, 0.057394832547051121, 0.12440736286509173},
		{277, 300, 0.95, 0.88718188463951769, 0.95078121612432552},
		{0, 10, 0.95, 0, 0.30849710781876082},  // 1 − 0.025^(1/10)
		{10, 10, 0.95, 0.69150289218123918, 1}, // 0.025^(1/10)
		{5, 10, 0.95, 0.18708602844739853, 0.81291397155260147},
		{1, 1000, 0.95, 0.000025317487491294043, 0.0055589242798266729},
		{110, 1000, 0.95, 0.091277774459466133, 0.13105246363748773},
		{22, 1000, 0.95, 0.013837414172073858, 0.033119664514987794},
	} {
		iv, err := ClopperPearson(test.k, test.n, test.level)
		if err != nil {
			t.Fatalf("ClopperPearson(%d, %d, %v): %v", test.k, test.n, test.level, err)
		}
		if !near(iv.Lo, test.lo, 1e-10) || !near(iv.Hi, test.hi, 1e-10) {
			t.Errorf("ClopperPearson(%d, %d, %v) = [%.17g, %.17g], want [%.17g, %.17g]",
				test.k, test.n, test.level, iv.Lo, iv.Hi, test.lo, test.hi)
		}
	}
	if got, want := 1-math.Pow(0.025, 0.1), 0.30849710781876082; !near(got, want, 1e-15) {
		t.Errorf("closed form 1 − 0.025^(1/10) = %.17g, want %.17g", got, want)
	}
}

// binomialCDF returns Pr[X ≤ k] for X ~ Binomial(n, q), summing the pmf in log space.
func binomialCDF(k, n int, q float64) float64 {
	if q <= 0 {
		return 1
	}
	if q >= 1 {
		if k >= n {
			return 1
		}
		return 0
	}
	lgn, _ := math.Lgamma(float64(n + 1))
	s := 0.0
	for i := 0; i <= k; i++ {
		lgi, _ := math.Lgamma(float64(i + 1))
		lgni, _ := math.Lgamma(float64(n - i + 1))
		s += math.Exp(lgn - lgi - lgni + float64(i)*math.Log(q) + float64(n-i)*math.Log1p(-q))
	}
	return s
}

// bisect returns the root in [lo, hi] of f, which must change sign from negative to positive.
func bisect(f func(float64) float64, lo, hi float64) float64 {
	for range 64 {
		m := (lo + hi) / 2
		if f(m) < 0 {
			lo = m
		} else {
			hi = m
		}
	}
	return (lo + hi) / 2
}

// TestClopperPearsonBisection checks the beta-quantile interval against its definition:
// Hi solves Pr[X ≤ k; Hi] = α/2 and Lo solves Pr[X ≥ k; Lo] = α/2.
func TestClopperPearsonBisection(t *testing.T) {
	t.Parallel()
	for _, n := range []int{1, 7, 30, 300, 1000} {
		for _, k := range []int{0, 1, n / 3, n / 2, n - 1, n} {
			if k < 0 || k > n {
				continue
			}
			for _, level := range []float64{0.8, 0.9, 0.95, 0.99} {
				a := (1 - level) / 2
				wantHi, wantLo := 1.0, 0.0
				if k < n {
					wantHi = bisect(func(q float64) float64 { return a - binomialCDF(k, n, q) }, 0, 1)
				}
				if k > 0 {
					wantLo = bisect(func(q float64) float64 { return 1 - binomialCDF(k-1, n, q) - a }, 0, 1)
				}
				iv, err := ClopperPearson(k, n, level)
				if err != nil {
					t.Fatal(err)
				}
				if !near(iv.Lo, wantLo, 1e-9) || !near(iv.Hi, wantHi, 1e-9) {
					t.Errorf("ClopperPearson(%d, %d, %v) = [%.12g, %.12g], bisection [%.12g, %.12g]",
						k, n, level, iv.Lo, iv.Hi, wantLo, wantHi)
				}
			}
		}
	}
}

func TestClopperPearsonBound(t *testing.T) {
	t.Parallel()
	for _, test := range []struct {
		k, n  int
		level float64
		side  Side
		want  float64
	}{
		{26, 300, 0.9, Upper, 0.11129760166165896},
		{26, 300, 0.9, Lower, 0.066318793602466612},
		{277, 300, 0.9, Upper, 0.94249702187189388},
		{277, 300, 0.9, Lower, 0.89976213081085664},
		{0, 10, 0.95, Lower, 0},
		{0, 10, 0.975, Upper, 0.30849710781876082}, // one-sided 97.5% = two-sided 95%
		{10, 10, 0.95, Upper, 1},
	} {
		got, err := ClopperPearsonBound(test.k, test.n, test.level, test.side)
		if err != nil {
			t.Fatal(err)
		}
		if !near(got, test.want, 1e-10) {
			t.Errorf("ClopperPearsonBound(%d, %d, %v, %v) = %.17g, want %.17g",
				test.k, test.n, test.level, test.side, got, test.want)
		}
	}
}

func TestWilson(t *testing.T) {
	t.Parallel()
	for _, test := range []struct {
		k, n   int
		lo, hi float64
	}{
		{26, 300, 0.059828897518043110, 0.12395595869424828},
		{0, 10, 0, 0.27753279986288925}, // z²/(n + z²)
		{5, 10, 0.23659309051256398, 0.76340690948743602},
		{277, 300, 0.88758989614982517, 0.94837238821339252},
	} {
		iv, err := Wilson(test.k, test.n, 0.95)
		if err != nil {
			t.Fatal(err)
		}
		if !near(iv.Lo, test.lo, 1e-12) || !near(iv.Hi, test.hi, 1e-12) {
			t.Errorf("Wilson(%d, %d, 0.95) = [%.17g, %.17g], want [%.17g, %.17g]",
				test.k, test.n, iv.Lo, iv.Hi, test.lo, test.hi)
		}
	}
}

func TestHoeffding(t *testing.T) {
	t.Parallel()
	const (
		t300two = 0.078410027569968544 // sqrt(log(2/0.05)/600)
		t300one = 0.061948703147497307 // sqrt(log(1/0.1)/600)
	)
	iv, err := Hoeffding(26, 300, 0.95)
	if err != nil {
		t.Fatal(err)
	}
	if p := 26.0 / 300; !near(iv.Lo, p-t300two, 1e-14) || !near(iv.Hi, p+t300two, 1e-14) {
		t.Errorf("Hoeffding(26, 300, 0.95) = %+v, want 26/300 ± %.17g", iv, t300two)
	}
	iv, err = Hoeffding(0, 300, 0.95)
	if err != nil {
		t.Fatal(err)
	}
	if iv.Lo != 0 || !near(iv.Hi, t300two, 1e-14) {
		t.Errorf("Hoeffding(0, 300, 0.95) = %+v, want [0, %.17g]", iv, t300two)
	}
	up, err := HoeffdingBound(26, 300, 0.9, Upper)
	if err != nil {
		t.Fatal(err)
	}
	if want := 26.0/300 + t300one; !near(up, want, 1e-14) {
		t.Errorf("HoeffdingBound(26, 300, 0.9, Upper) = %.17g, want %.17g", up, want)
	}
	lo, err := HoeffdingBound(277, 300, 0.9, Lower)
	if err != nil {
		t.Fatal(err)
	}
	if want := 277.0/300 - t300one; !near(lo, want, 1e-14) {
		t.Errorf("HoeffdingBound(277, 300, 0.9, Lower) = %.17g, want %.17g", lo, want)
	}
}

func TestIntervalErrors(t *testing.T) {
	t.Parallel()
	for _, test := range []struct {
		k, n  int
		level float64
	}{
		{0, 0, 0.95},
		{-1, 10, 0.95},
		{11, 10, 0.95},
		{1, 10, 0},
		{1, 10, 1},
		{1, 10, math.NaN()},
	} {
		if _, err := ClopperPearson(test.k, test.n, test.level); err == nil {
			t.Errorf("ClopperPearson(%d, %d, %v): no error", test.k, test.n, test.level)
		}
		if _, err := Wilson(test.k, test.n, test.level); err == nil {
			t.Errorf("Wilson(%d, %d, %v): no error", test.k, test.n, test.level)
		}
		if _, err := Hoeffding(test.k, test.n, test.level); err == nil {
			t.Errorf("Hoeffding(%d, %d, %v): no error", test.k, test.n, test.level)
		}
		if _, err := ClopperPearsonBound(test.k, test.n, test.level, Upper); err == nil {
			t.Errorf("ClopperPearsonBound(%d, %d, %v): no error", test.k, test.n, test.level)
		}
	}
	if _, err := HoeffdingBound(1, 10, 0.9, Side(7)); err == nil {
		t.Error("HoeffdingBound with Side(7): no error")
	}
}

// near reports whether a and b agree to the absolute tolerance tol.
func near(a, b, tol float64) bool {
	return math.Abs(a-b) <= tol
}
