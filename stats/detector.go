package stats

import (
	"fmt"
	"math"
	"slices"
)

// The detector metrics treat the model confidence ||F(x)||∞ as a detector of adversarial
// examples with the paper's rule: a point is accepted when its confidence is ≥ τ and rejected
// (flagged as adversarial) below. Natural points are the positives, adversarial examples the
// negatives, so the true positive rate at τ is the recall of natural points and the false
// positive rate the share of adversarial examples accepted.

// ROCPoint is one operating point of the rule "accept x when ||F(x)||∞ ≥ Tau".
type ROCPoint struct {
	Tau float64
	// FPR is the share of adversarial confidences ≥ Tau (adversarial examples accepted).
	FPR float64
	// TPR is the share of natural confidences ≥ Tau (natural points kept).
	TPR float64
}

// checkScores returns an error unless scores is non-empty and every value is in [0, 1].
func checkScores(what string, scores []float64) error {
	if len(scores) == 0 {
		return fmt.Errorf("stats: no %s confidences", what)
	}
	for i, c := range scores {
		if !(c >= 0 && c <= 1) {
			return fmt.Errorf("stats: %s confidence %d = %v outside [0, 1]", what, i, c)
		}
	}
	return nil
}

// ROC returns the ROC curve of confidence as a detector that accepts natural points and rejects
// adversarial ones: one point at every threshold where the curve moves, in increasing order of
// FPR and TPR. The first point has Tau just above the largest confidence (nothing accepted,
// FPR = TPR = 0); then each distinct confidence of either set, in decreasing order, down to the
// smallest (everything accepted, FPR = TPR = 1). A confidence shared by natural and adversarial
// points moves both rates at once, so the trapezoidal area under the points is [AUC], ties
// counted one half.
func ROC(natural, adversarial []float64) ([]ROCPoint, error) {
	if err := checkScores("natural", natural); err != nil {
		return nil, err
	}
	if err := checkScores("adversarial", adversarial); err != nil {
		return nil, err
	}
	nat := slices.Clone(natural)
	adv := slices.Clone(adversarial)
	slices.Sort(nat)
	slices.Sort(adv)
	taus := make([]float64, 0, len(nat)+len(adv)+1)
	taus = append(append(taus, nat...), adv...)
	slices.Sort(taus)
	taus = slices.Compact(taus)
	slices.Reverse(taus)
	taus = slices.Insert(taus, 0, math.Nextafter(taus[0], math.Inf(1)))
	n1, n0 := float64(len(nat)), float64(len(adv))
	out := make([]ROCPoint, len(taus))
	for i, tau := range taus {
		out[i] = ROCPoint{Tau: tau, FPR: float64(atLeast(adv, tau)) / n0, TPR: float64(atLeast(nat, tau)) / n1}
	}
	return out, nil
}

// AUC returns the area under the ROC curve of confidence as a detector (see [ROC]): the
// probability that a natural point is more confident than an adversarial one, ties counted one
// half, which is the Mann–Whitney statistic U/(n1·n0) with
//
//	U = Σ_{natural a} Σ_{adversarial b} (1 if a > b, 1/2 if a = b, 0 otherwise),
//
// n1 = len(natural) and n0 = len(adversarial). 1 separates perfectly, 1/2 is chance. It is
// computed exactly by sorting (halves are exact in float64), in O((n1+n0) log n0).
func AUC(natural, adversarial []float64) (float64, error) {
	if err := checkScores("natural", natural); err != nil {
		return 0, err
	}
	if err := checkScores("adversarial", adversarial); err != nil {
		return 0, err
	}
	adv := slices.Clone(adversarial)
	slices.Sort(adv)
	u := 0.0
	for _, a := range natural {
		below, _ := slices.BinarySearch(adv, a) // adv[:below] < a
		notAbove := below
		for notAbove < len(adv) && adv[notAbove] == a {
			notAbove++
		}
		u += float64(below) + float64(notAbove-below)/2
	}
	return u / (float64(len(natural)) * float64(len(adversarial))), nil
}

// Threshold returns the threshold τ that keeps a share keep ∈ (0, 1] of the natural
// confidences (accepted when ≥ τ): the largest τ with at least ⌈keep·n⌉ of the n confidences
// ≥ τ, that is the ⌈keep·n⌉-th largest. keep·n is rounded up after subtracting 1e-9, so that
// 0.99·100 keeps 99 points despite its floating-point value 99.00000000000001. With ties more
// points than ⌈keep·n⌉ may be kept.
//
// The defender fixes τ on natural data of a held-out split before any attack runs; Stutz, Hein
// and Schiele (2020) use the correctly classified points of the last 10% of the test set and
// keep = 0.99 (their "99% TPR"), taking the value at index ⌊(1−keep)·n⌋ of the ascending
// order, which is the same point.
func Threshold(natural []float64, keep float64) (float64, error) {
	if err := checkScores("natural", natural); err != nil {
		return 0, err
	}
	if !(keep > 0 && keep <= 1) {
		return 0, fmt.Errorf("stats: share of natural points kept %v outside (0, 1]", keep)
	}
	sorted := slices.Clone(natural)
	slices.Sort(sorted)
	n := len(sorted)
	m := int(math.Ceil(keep*float64(n) - 1e-9))
	m = min(max(m, 1), n)
	return sorted[n-m], nil
}

// Detection is one test point for the confidence-thresholded robust error: the clean point x
// of true label y and the point x̃ that the (worst-case) attack returned for it.
type Detection struct {
	// Confidence is ||F(x)||∞ and Correct reports C_F(x) = y.
	Confidence float64
	Correct    bool
	// AdvConfidence is ||F(x̃)||∞ and AdvWrong reports C_F(x̃) ≠ y. An attack that found
	// nothing returns x̃ = x: AdvConfidence = Confidence and AdvWrong = !Correct.
	AdvConfidence float64
	AdvWrong      bool
}

// RobustError returns the confidence-thresholded robust test error of Stutz, Hein and
// Schiele, "Confidence-Calibrated Adversarial Training: Generalizing to Unseen Attacks"
// (ICML 2020, eq. (7)), at threshold tau, computed from the attack's points as their
// evaluation code does (robust_test_error_at_confidence in common/eval/adversarial_evaluation.py
// of github.com/davidstutz/confidence-calibrated-adversarial-training):
//
//	RErr(τ) = Σ_n max(1[x_n wrong and c(x_n) ≥ τ], 1[x̃_n wrong and c(x̃_n) ≥ τ])
//	        / Σ_n max(1[c(x_n) ≥ τ], 1[c(x̃_n) ≥ τ])
//
// with c the confidence and "wrong" meaning C_F(·) ≠ y_n. The numerator counts the test points
// on which the system makes an accepted mistake, on the clean point or on the adversarial one;
// the denominator counts those on which it accepts something (a point whose clean and
// adversarial versions are both rejected is left out: rejecting both is no error, and neither
// is it a decision). At τ = 0 it is the usual robust test error. The Rate carries the
// Clopper–Pearson interval of K of N, conditional on the denominator N; when nothing is
// accepted (N = 0) the error is 0, as in their code, with the interval [0, 1].
func RobustError(points []Detection, tau float64) (Rate, error) {
	if len(points) == 0 {
		return Rate{}, fmt.Errorf("stats: no detection points")
	}
	if math.IsNaN(tau) {
		return Rate{}, fmt.Errorf("stats: threshold is NaN")
	}
	k, n := 0, 0
	for i, p := range points {
		if err := checkConfidence(i, "clean", p.Confidence); err != nil {
			return Rate{}, err
		}
		if err := checkConfidence(i, "adversarial", p.AdvConfidence); err != nil {
			return Rate{}, err
		}
		clean, adv := p.Confidence >= tau, p.AdvConfidence >= tau
		if clean || adv {
			n++
		}
		if (!p.Correct && clean) || (p.AdvWrong && adv) {
			k++
		}
	}
	if n == 0 {
		return Rate{K: 0, N: 0, Value: 0, Lo: 0, Hi: 1}, nil
	}
	return NewRate(k, n)
}
