package stats

import (
	"cmp"
	"fmt"
	"slices"
)

// RankCounts tallies, for a set of adversarial examples, where the true label falls among the
// points perturbed by MCN_ξ ranked by confidence, as in the rows of Table 4.
type RankCounts struct {
	First   int // the most confident point predicts the true label
	Second  int // the second most confident point does, the first does not
	Other   int // a later point does, neither of the first two
	Missing int // no point predicts the true label
}

// Add counts one adversarial example whose true label first appears at the given 1-based rank
// among the ranked points; rank 0 means it does not appear. A negative rank is an error.
func (c *RankCounts) Add(rank int) error {
	switch {
	case rank < 0:
		return fmt.Errorf("stats: rank %d, want ≥ 0 (0 for missing)", rank)
	case rank == 0:
		c.Missing++
	case rank == 1:
		c.First++
	case rank == 2:
		c.Second++
	default:
		c.Other++
	}
	return nil
}

// Total returns the number of adversarial examples counted.
func (c RankCounts) Total() int { return c.First + c.Second + c.Other + c.Missing }

// TopTwo returns the share of adversarial examples whose true label is predicted by one of the
// two most confident points, (First + Second)/Total.
func (c RankCounts) TopTwo() (Rate, error) {
	return NewRate(c.First+c.Second, c.Total())
}

// Plus returns the sum of two tallies.
func (c RankCounts) Plus(d RankCounts) RankCounts {
	return RankCounts{
		First:   c.First + d.First,
		Second:  c.Second + d.Second,
		Other:   c.Other + d.Other,
		Missing: c.Missing + d.Missing,
	}
}

// Prediction is one perturbed point: the label the model predicts and its confidence ||F(z)||∞.
type Prediction struct {
	Label      int
	Confidence float64
}

// Rank returns the 1-based rank of the first point predicting label when the points are sorted
// by decreasing confidence, or 0 when none predicts it. Ties in confidence keep the given order.
func Rank(points []Prediction, label int) (int, error) {
	for i, p := range points {
		if !(p.Confidence >= 0 && p.Confidence <= 1) {
			return 0, fmt.Errorf("stats: point %d: confidence %v outside [0, 1]", i, p.Confidence)
		}
	}
	sorted := slices.Clone(points)
	slices.SortStableFunc(sorted, func(a, b Prediction) int { return cmp.Compare(b.Confidence, a.Confidence) })
	for i, p := range sorted {
		if p.Label == label {
			return i + 1, nil
		}
	}
	return 0, nil
}
