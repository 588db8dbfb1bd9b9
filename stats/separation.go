package stats

import (
	"fmt"
	"math"
	"math/big"
)

// Separation is a one-sided bound on the probability q of an event from k occurrences in n
// independent samples, computed as in the paper's Proposition 4 and, beside it, by the exact
// Clopper–Pearson and the Hoeffding bounds at the same level.
//
// The paper's method: the estimate p̂ = k/n has variance q(1 − q)/n ≤ 1/(4n), so by
// Chebyshev's inequality Pr[|p̂ − q| ≥ t] ≤ 1/(4nt²). Any t with 1/(4nt²) ≤ 1 − level gives
// q ≤ p̂ + t (and q ≥ p̂ − t) with probability at least level. For n = 300 and level 0.9 the
// smallest such t is 0.0913; the paper takes t = 0.1 (failure probability 1/12), giving
// q ≤ 26/300 + 1/10 = 14/75 and q ≥ 277/300 − 1/10 = 247/300.
type Separation struct {
	K, N  int
	Level float64
	Side  Side

	// Estimate is p̂ = K/N.
	Estimate *big.Rat
	// MinT is the smallest Chebyshev half-width, 1/(2 sqrt(N (1 − Level))).
	MinT float64
	// T is the half-width used: MinT rounded up to a multiple of the step passed to
	// Proposition4, or MinT itself (as an exact binary fraction) when the step is nil.
	T *big.Rat
	// Failure is Chebyshev's bound 1/(4 N T²) on Pr[|p̂ − q| ≥ T]; it is at most 1 − Level.
	Failure *big.Rat
	// Bound is Estimate + T for Upper or Estimate − T for Lower, clamped to [0, 1].
	Bound *big.Rat

	// ClopperPearson is the exact one-sided Clopper–Pearson bound at Level.
	ClopperPearson float64
	// Hoeffding is the one-sided Hoeffding bound p̂ ± sqrt(log(1/(1 − Level))/(2N)).
	Hoeffding float64
}

// PaperStep returns 1/10, the step the paper rounds its Chebyshev half-width up to.
func PaperStep() *big.Rat { return big.NewRat(1, 10) }

// ChebyshevT returns the smallest t with 1/(4nt²) ≤ 1 − level, that is 1/(2 sqrt(n(1 − level))):
// by Chebyshev's inequality and Var p̂ ≤ 1/(4n), |p̂ − q| < t with probability at least level.
func ChebyshevT(n int, level float64) (float64, error) {
	if err := checkBinomial(0, n, level); err != nil {
		return 0, err
	}
	return 1 / (2 * math.Sqrt(float64(n)*(1-level))), nil
}

// Proposition4 returns the one-sided bound on q from k of n samples at the given confidence
// level computed the paper's way (see [Separation]), with the Chebyshev half-width rounded up
// to a multiple of step (the paper's is [PaperStep], 1/10). A nil step uses the smallest
// half-width unrounded. Proposition4(26, 300, 0.9, Upper, PaperStep()).Bound is 14/75 and
// Proposition4(277, 300, 0.9, Lower, PaperStep()).Bound is 247/300.
func Proposition4(k, n int, level float64, side Side, step *big.Rat) (Separation, error) {
	if err := checkBinomial(k, n, level); err != nil {
		return Separation{}, err
	}
	if err := checkSide(side); err != nil {
		return Separation{}, err
	}
	if step != nil && step.Sign() <= 0 {
		return Separation{}, fmt.Errorf("stats: Chebyshev step %s, want > 0", step.RatString())
	}
	minT, _ := ChebyshevT(n, level)
	if step != nil && minT/mustFloat(step) > 1e12 {
		return Separation{}, fmt.Errorf("stats: Chebyshev step %s too small for half-width %g", step.RatString(), minT)
	}
	alpha := new(big.Rat).Sub(big.NewRat(1, 1), new(big.Rat).SetFloat64(level))
	var t *big.Rat
	if step == nil {
		t = new(big.Rat).SetFloat64(minT)
		// The float may round below the exact root; nudge it up until the bound holds.
		for !chebyshevHolds(n, t, alpha) {
			t.SetFloat64(math.Nextafter(mustFloat(t), math.Inf(1)))
		}
	} else {
		t = roundUpT(n, minT, step, alpha)
	}
	s := Separation{
		K: k, N: n, Level: level, Side: side,
		Estimate: big.NewRat(int64(k), int64(n)),
		MinT:     minT,
		T:        t,
		Failure:  chebyshevFailure(n, t),
	}
	b := new(big.Rat)
	if side == Upper {
		b.Add(s.Estimate, t)
		if b.Cmp(big.NewRat(1, 1)) > 0 {
			b.SetInt64(1)
		}
	} else {
		b.Sub(s.Estimate, t)
		if b.Sign() < 0 {
			b.SetInt64(0)
		}
	}
	s.Bound = b
	s.ClopperPearson, _ = ClopperPearsonBound(k, n, level, side)
	s.Hoeffding, _ = HoeffdingBound(k, n, level, side)
	return s, nil
}

// chebyshevFailure returns 1/(4nt²).
func chebyshevFailure(n int, t *big.Rat) *big.Rat {
	d := new(big.Rat).Mul(t, t)
	d.Mul(d, big.NewRat(4*int64(n), 1))
	return d.Inv(d)
}

// chebyshevHolds reports whether 1/(4nt²) ≤ alpha, exactly.
func chebyshevHolds(n int, t, alpha *big.Rat) bool {
	return chebyshevFailure(n, t).Cmp(alpha) <= 0
}

// roundUpT returns the smallest multiple m·step of step with 1/(4n(m·step)²) ≤ alpha,
// starting the search from minT/step and settling it in exact arithmetic.
func roundUpT(n int, minT float64, step, alpha *big.Rat) *big.Rat {
	m := int64(math.Ceil(minT / mustFloat(step)))
	if m < 1 {
		m = 1
	}
	at := func(m int64) *big.Rat { return new(big.Rat).Mul(step, big.NewRat(m, 1)) }
	for m > 1 && chebyshevHolds(n, at(m-1), alpha) {
		m--
	}
	for !chebyshevHolds(n, at(m), alpha) {
		m++
	}
	return at(m)
}

func mustFloat(r *big.Rat) float64 {
	f, _ := r.Float64()
	return f
}
