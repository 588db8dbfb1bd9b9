package stats

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/stat/distuv"
)

// Interval is a closed interval [Lo, Hi] within [0, 1].
type Interval struct {
	Lo, Hi float64
}

// Side selects a one-sided bound.
type Side int

const (
	// Upper asks for an upper bound on the proportion.
	Upper Side = iota
	// Lower asks for a lower bound on the proportion.
	Lower
)

// String returns "upper" or "lower".
func (s Side) String() string {
	switch s {
	case Upper:
		return "upper"
	case Lower:
		return "lower"
	}
	return fmt.Sprintf("Side(%d)", int(s))
}

// checkBinomial returns an error unless 0 ≤ k ≤ n, n > 0 and 0 < level < 1.
func checkBinomial(k, n int, level float64) error {
	if n <= 0 {
		return fmt.Errorf("stats: number of trials n = %d, want n > 0", n)
	}
	if k < 0 || k > n {
		return fmt.Errorf("stats: successes k = %d outside [0, %d]", k, n)
	}
	if !(level > 0 && level < 1) {
		return fmt.Errorf("stats: confidence level %v outside (0, 1)", level)
	}
	return nil
}

func checkSide(s Side) error {
	if s != Upper && s != Lower {
		return fmt.Errorf("stats: unknown side %d", int(s))
	}
	return nil
}

// clamp01 returns x limited to [0, 1].
func clamp01(x float64) float64 {
	return math.Min(1, math.Max(0, x))
}

// ClopperPearson returns the exact two-sided Clopper–Pearson interval for k successes in n
// trials at the given confidence level: Lo is the α/2 quantile of Beta(k, n−k+1) (0 when k = 0)
// and Hi is the 1−α/2 quantile of Beta(k+1, n−k) (1 when k = n), where α = 1 − level.
// See https://en.wikipedia.org/wiki/Binomial_proportion_confidence_interval#Clopper%E2%80%93Pearson_interval.
func ClopperPearson(k, n int, level float64) (Interval, error) {
	if err := checkBinomial(k, n, level); err != nil {
		return Interval{}, err
	}
	a := (1 - level) / 2
	return Interval{Lo: cpLower(k, n, a), Hi: cpUpper(k, n, a)}, nil
}

// cpLower returns the Clopper–Pearson lower bound with tail probability a.
func cpLower(k, n int, a float64) float64 {
	if k == 0 {
		return 0
	}
	return distuv.Beta{Alpha: float64(k), Beta: float64(n - k + 1)}.Quantile(a)
}

// cpUpper returns the Clopper–Pearson upper bound with tail probability a.
func cpUpper(k, n int, a float64) float64 {
	if k == n {
		return 1
	}
	return distuv.Beta{Alpha: float64(k + 1), Beta: float64(n - k)}.Quantile(1 - a)
}

// ClopperPearsonBound returns the exact one-sided Clopper–Pearson bound for k successes in n
// trials: an upper bound that holds with probability at least level (the level quantile of
// Beta(k+1, n−k), 1 when k = n), or the matching lower bound (0 when k = 0).
func ClopperPearsonBound(k, n int, level float64, side Side) (float64, error) {
	if err := checkBinomial(k, n, level); err != nil {
		return 0, err
	}
	if err := checkSide(side); err != nil {
		return 0, err
	}
	if side == Upper {
		return cpUpper(k, n, 1-level), nil
	}
	return cpLower(k, n, 1-level), nil
}

// Wilson returns the two-sided Wilson score interval for k successes in n trials at the given
// confidence level: the q with (p̂ − q)² ≤ z² q(1 − q)/n, z the 1 − α/2 standard normal quantile.
// See https://en.wikipedia.org/wiki/Binomial_proportion_confidence_interval#Wilson_score_interval.
func Wilson(k, n int, level float64) (Interval, error) {
	if err := checkBinomial(k, n, level); err != nil {
		return Interval{}, err
	}
	z := distuv.UnitNormal.Quantile(1 - (1-level)/2)
	nf := float64(n)
	p := float64(k) / nf
	z2n := z * z / nf
	center := (p + z2n/2) / (1 + z2n)
	half := z / (1 + z2n) * math.Sqrt(p*(1-p)/nf+z2n/(4*nf))
	iv := Interval{Lo: clamp01(center - half), Hi: clamp01(center + half)}
	// The score interval reaches 0 and 1 exactly at k = 0 and k = n; rounding must not hide it.
	if k == 0 {
		iv.Lo = 0
	}
	if k == n {
		iv.Hi = 1
	}
	return iv, nil
}

// hoeffdingT returns the Hoeffding half-width sqrt(log(1/a)/(2n)): by Hoeffding's inequality
// each of Pr[p̂ − q ≥ t] and Pr[q − p̂ ≥ t] is at most a = exp(−2nt²).
func hoeffdingT(n int, a float64) float64 {
	return math.Sqrt(math.Log(1/a) / (2 * float64(n)))
}

// Hoeffding returns the two-sided Hoeffding interval p̂ ± sqrt(log(2/α)/(2n)) for k successes
// in n trials, α = 1 − level, clamped to [0, 1].
func Hoeffding(k, n int, level float64) (Interval, error) {
	if err := checkBinomial(k, n, level); err != nil {
		return Interval{}, err
	}
	p := float64(k) / float64(n)
	t := hoeffdingT(n, (1-level)/2)
	return Interval{Lo: clamp01(p - t), Hi: clamp01(p + t)}, nil
}

// HoeffdingBound returns the one-sided Hoeffding bound p̂ + sqrt(log(1/α)/(2n)) (Upper) or
// p̂ − sqrt(log(1/α)/(2n)) (Lower) for k successes in n trials, α = 1 − level, clamped to [0, 1].
func HoeffdingBound(k, n int, level float64, side Side) (float64, error) {
	if err := checkBinomial(k, n, level); err != nil {
		return 0, err
	}
	if err := checkSide(side); err != nil {
		return 0, err
	}
	p := float64(k) / float64(n)
	t := hoeffdingT(n, 1-level)
	if side == Upper {
		return clamp01(p + t), nil
	}
	return clamp01(p - t), nil
}
