package stats

import (
	"fmt"
	"testing"
)

func TestRank(t *testing.T) {
	t.Parallel()
	points := []Prediction{
		{Label: 3, Confidence: 0.50},
		{Label: 1, Confidence: 0.90},
		{Label: 7, Confidence: 0.70},
		{Label: 1, Confidence: 0.95},
		{Label: 4, Confidence: 0.70}, // ties with label 7: the given order decides
	}
	for _, test := range []struct {
		label, want int
	}{
		{1, 1},
		{7, 3},
		{4, 4},
		{3, 5},
		{9, 0},
	} {
		got, err := Rank(points, test.label)
		if err != nil {
			t.Fatal(err)
		}
		if got != test.want {
			t.Errorf("Rank(points, %d) = %d, want %d", test.label, got, test.want)
		}
	}
	if points[0].Label != 3 {
		t.Error("Rank modified its input")
	}
	if _, err := Rank([]Prediction{{Label: 1, Confidence: 2}}, 1); err == nil {
		t.Error("confidence 2: no error")
	}
}

// TestRankCountsTable4 reproduces the totals and the top-2 shares of Table 4: 99.44% for
// η = ξ = 0.010 and 98.94% for η = ξ = 0.015 of the 9000 adversarial examples.
func TestRankCountsTable4(t *testing.T) {
	t.Parallel()
	for _, test := range []struct {
		name                string
		labelChange, reduce RankCounts
		lcTotal, crTotal    int
		topTwo              string
	}{
		{"eta=0.010", RankCounts{94, 208, 50, 0}, RankCounts{8621, 27, 0, 0}, 352, 8648, "99.44"},
		{"eta=0.015", RankCounts{114, 260, 66, 29}, RankCounts{8511, 20, 0, 0}, 469, 8531, "98.94"},
	} {
		if got := test.labelChange.Total(); got != test.lcTotal {
			t.Errorf("%s: label change total = %d, want %d", test.name, got, test.lcTotal)
		}
		if got := test.reduce.Total(); got != test.crTotal {
			t.Errorf("%s: confidence reduction total = %d, want %d", test.name, got, test.crTotal)
		}
		all := test.labelChange.Plus(test.reduce)
		r, err := all.TopTwo()
		if err != nil {
			t.Fatal(err)
		}
		if r.N != 9000 {
			t.Errorf("%s: total = %d, want 9000", test.name, r.N)
		}
		if got := fmt.Sprintf("%.2f", r.Percent()); got != test.topTwo {
			t.Errorf("%s: top two = %s%%, want %s%%", test.name, got, test.topTwo)
		}
	}
}

func TestRankCountsAdd(t *testing.T) {
	t.Parallel()
	var c RankCounts
	for _, r := range []int{1, 1, 2, 3, 10, 0} {
		if err := c.Add(r); err != nil {
			t.Fatal(err)
		}
	}
	if want := (RankCounts{First: 2, Second: 1, Other: 2, Missing: 1}); c != want {
		t.Errorf("counts = %+v, want %+v", c, want)
	}
	if err := c.Add(-1); err == nil {
		t.Error("Add(-1): no error")
	}
	if c.Total() != 6 {
		t.Errorf("Total = %d after a rejected Add, want 6", c.Total())
	}
	var empty RankCounts
	if _, err := empty.TopTwo(); err == nil {
		t.Error("TopTwo of nothing: no error")
	}
}
