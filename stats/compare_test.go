package stats

import (
	"math"
	"math/big"
	"slices"
	"testing"
)

// fisherExactRat is Fisher's two-sided test by exact rational arithmetic,
// an independent check of FisherExact for small tables.
func fisherExactRat(k1, n1, k2, n2 int) float64 {
	c := k1 + k2
	prob := func(x int) *big.Rat {
		num := new(big.Int).Mul(new(big.Int).Binomial(int64(n1), int64(x)), new(big.Int).Binomial(int64(n2), int64(c-x)))
		return new(big.Rat).SetFrac(num, new(big.Int).Binomial(int64(n1+n2), int64(c)))
	}
	obs := prob(k1)
	sum := new(big.Rat)
	for x := max(0, c-n2); x <= min(c, n1); x++ {
		if px := prob(x); px.Cmp(obs) <= 0 {
			sum.Add(sum, px)
		}
	}
	f, _ := sum.Float64()
	return f
}

func TestFisherExact(t *testing.T) {
	for _, tc := range []struct {
		k1, n1, k2, n2 int
		want           float64 // scipy.stats.fisher_exact, where given
	}{
		// The tea-tasting table [[3, 1], [1, 3]]: p = 34/70.
		{3, 4, 1, 4, 34.0 / 70},
		// [[8, 2], [1, 5]]: scipy gives 0.034965034965034975.
		{8, 10, 1, 6, 0.034965034965034975},
		{0, 10, 0, 10, 1},
		{10, 10, 0, 10, 2.0 / 184756},
		{26, 300, 26, 300, 1},
	} {
		got, err := FisherExact(tc.k1, tc.n1, tc.k2, tc.n2)
		if err != nil || math.Abs(got-tc.want) > 1e-12*max(1, tc.want) {
			t.Errorf("FisherExact(%d/%d, %d/%d) = %.17g, %v; want %.17g", tc.k1, tc.n1, tc.k2, tc.n2, got, err, tc.want)
		}
	}
	// Against exact rational arithmetic, on tables of the harness's sizes.
	for _, tc := range [][4]int{{26, 300, 40, 300}, {110, 1000, 150, 1000}, {22, 1000, 5, 100}, {277, 300, 250, 300}, {94, 352, 0, 3}} {
		got, err := FisherExact(tc[0], tc[1], tc[2], tc[3])
		want := fisherExactRat(tc[0], tc[1], tc[2], tc[3])
		if err != nil || math.Abs(got-want) > 1e-9*max(want, 1e-12) {
			t.Errorf("FisherExact%v = %.12g, %v; exact %.12g", tc, got, err, want)
		}
	}
	for _, bad := range [][4]int{{-1, 3, 0, 3}, {4, 3, 0, 3}, {0, 0, 0, 3}} {
		if _, err := FisherExact(bad[0], bad[1], bad[2], bad[3]); err == nil {
			t.Errorf("FisherExact%v: no error", bad)
		}
	}
}

func TestHolm(t *testing.T) {
	// p = (0.01, 0.04, 0.03, 0.005), m = 4: sorted 0.005, 0.01, 0.03, 0.04
	// → 0.02, 0.03, 0.06, 0.06 (the last is max(0.06, 0.04)).
	got := Holm([]float64{0.01, 0.04, 0.03, 0.005})
	want := []float64{0.03, 0.06, 0.06, 0.02}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-15 {
			t.Errorf("Holm = %v, want %v", got, want)
			break
		}
	}
	if got := Holm([]float64{0.5, 0.9}); !slices.Equal(got, []float64{1, 1}) {
		t.Errorf("Holm clamps at 1: %v", got)
	}
	if got := Holm(nil); len(got) != 0 {
		t.Errorf("Holm(nil) = %v", got)
	}
}
