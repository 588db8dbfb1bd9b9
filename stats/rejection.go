package stats

import (
	"fmt"
	"math"
	"slices"
)

// RateLevel is the confidence level of the Clopper–Pearson interval attached to every [Rate].
const RateLevel = 0.95

// Rate is a proportion K/N with its exact two-sided Clopper–Pearson interval [Lo, Hi] at
// level [RateLevel].
type Rate struct {
	K, N  int
	Value float64
	Lo    float64
	Hi    float64
}

// NewRate returns the Rate K/N with its 95% Clopper–Pearson interval.
func NewRate(k, n int) (Rate, error) {
	iv, err := ClopperPearson(k, n, RateLevel)
	if err != nil {
		return Rate{}, err
	}
	return Rate{K: k, N: n, Value: float64(k) / float64(n), Lo: iv.Lo, Hi: iv.Hi}, nil
}

// Percent returns 100·Value, the way the paper prints rates.
func (r Rate) Percent() float64 { return 100 * r.Value }

// String returns the rate as "K/N = V% [Lo%, Hi%]".
func (r Rate) String() string {
	return fmt.Sprintf("%d/%d = %.1f%% [%.1f%%, %.1f%%]", r.K, r.N, 100*r.Value, 100*r.Lo, 100*r.Hi)
}

// Outcome is one natural point x of the set N (a test point the model classifies correctly)
// and the strongest attack on it.
type Outcome struct {
	// Confidence is ||F(x)||∞, the model's confidence on the natural point.
	Confidence float64
	// Found reports whether the attack found an adversarial example x* with a wrong label.
	Found bool
	// AdvConfidence is ||F(x*)||∞ of the most confident adversarial example; ignored unless Found.
	AdvConfidence float64
}

// Rejection holds the metrics of Tables 2 and 3 at one threshold P of the rejection rule
// "reject x when ||F(x)||∞ < P".
type Rejection struct {
	P float64
	// AWPR is the adversarially wrong prediction ratio without rejection, |A|/|N|.
	AWPR Rate
	// AWPRRejection is the ratio after rejection: adversarial examples with confidence ≥ P, over |N|.
	AWPRRejection Rate
	// Recall is the share of natural points kept: confidence ≥ P, over |N|.
	Recall Rate
}

// checkConfidence returns an error unless c is in [0, 1].
func checkConfidence(i int, what string, c float64) error {
	if !(c >= 0 && c <= 1) {
		return fmt.Errorf("stats: outcome %d: %s confidence %v outside [0, 1]", i, what, c)
	}
	return nil
}

// sortedConfidences checks the outcomes and returns the natural confidences and the
// adversarial confidences of the found examples, each sorted in increasing order.
func sortedConfidences(outcomes []Outcome) (natural, adv []float64, err error) {
	if len(outcomes) == 0 {
		return nil, nil, fmt.Errorf("stats: no outcomes")
	}
	natural = make([]float64, 0, len(outcomes))
	for i, o := range outcomes {
		if err := checkConfidence(i, "natural", o.Confidence); err != nil {
			return nil, nil, err
		}
		natural = append(natural, o.Confidence)
		if o.Found {
			if err := checkConfidence(i, "adversarial", o.AdvConfidence); err != nil {
				return nil, nil, err
			}
			adv = append(adv, o.AdvConfidence)
		}
	}
	slices.Sort(natural)
	slices.Sort(adv)
	return natural, adv, nil
}

// atLeast returns how many of the sorted values are ≥ p.
func atLeast(sorted []float64, p float64) int {
	i, _ := slices.BinarySearch(sorted, p) // first index with sorted[i] >= p
	return len(sorted) - i
}

// AWPR returns the adversarially wrong prediction ratio without rejection, |A|/|N|: the share
// of outcomes for which an adversarial example was found.
func AWPR(outcomes []Outcome) (Rate, error) {
	_, adv, err := sortedConfidences(outcomes)
	if err != nil {
		return Rate{}, err
	}
	return NewRate(len(adv), len(outcomes))
}

// Reject returns the metrics of Tables 2 and 3 at threshold p: points (natural or adversarial)
// with confidence ≥ p are kept, those below are rejected.
func Reject(outcomes []Outcome, p float64) (Rejection, error) {
	r, err := CurveAt(outcomes, []float64{p})
	if err != nil {
		return Rejection{}, err
	}
	return r[0], nil
}

// CurveAt returns the metrics of Tables 2 and 3 at each threshold in ps, in the order given.
func CurveAt(outcomes []Outcome, ps []float64) ([]Rejection, error) {
	natural, adv, err := sortedConfidences(outcomes)
	if err != nil {
		return nil, err
	}
	return curve(natural, adv, ps)
}

func curve(natural, adv, ps []float64) ([]Rejection, error) {
	n := len(natural)
	before, err := NewRate(len(adv), n)
	if err != nil {
		return nil, err
	}
	out := make([]Rejection, 0, len(ps))
	for _, p := range ps {
		if math.IsNaN(p) {
			return nil, fmt.Errorf("stats: threshold is NaN")
		}
		after, err := NewRate(atLeast(adv, p), n)
		if err != nil {
			return nil, err
		}
		recall, err := NewRate(atLeast(natural, p), n)
		if err != nil {
			return nil, err
		}
		out = append(out, Rejection{P: p, AWPR: before, AWPRRejection: after, Recall: recall})
	}
	return out, nil
}

// Curve returns the metrics at every threshold where one of them changes: each distinct
// confidence among the natural points and the found adversarial examples, in increasing order,
// followed by the next float above the largest, where everything is rejected. The first entry
// keeps every point. Plotting Recall against AWPRRejection traces the trade-off of the rule.
func Curve(outcomes []Outcome) ([]Rejection, error) {
	natural, adv, err := sortedConfidences(outcomes)
	if err != nil {
		return nil, err
	}
	ps := make([]float64, 0, len(natural)+len(adv)+1)
	ps = append(ps, natural...)
	ps = append(ps, adv...)
	slices.Sort(ps)
	ps = slices.Compact(ps)
	ps = append(ps, math.Nextafter(ps[len(ps)-1], math.Inf(1)))
	return curve(natural, adv, ps)
}
