package stats_test

import (
	"fmt"
	"testing"

	"confrobust/results/paper"
	"confrobust/stats"
)

// TestPaperNumbers checks that the paper's Proposition 4 follows from its Table 1 counts by the
// paper's method, and that Table 4's columns give the top-2 shares its text reports.
func TestPaperNumbers(t *testing.T) {
	t.Parallel()
	n, err := paper.Load()
	if err != nil {
		t.Fatal(err)
	}
	t1, p4 := n.Table1, n.Proposition4
	adv, err := stats.Proposition4(t1.AdvTrained, t1.Points, p4.Confidence, stats.Upper, stats.PaperStep())
	if err != nil {
		t.Fatal(err)
	}
	if adv.Bound.Cmp(p4.AdvTrainedUpper) != 0 {
		t.Errorf("adv-trained bound = %s, paper %s", adv.Bound.RatString(), p4.AdvTrainedUpper.RatString())
	}
	nat, err := stats.Proposition4(t1.Natural, t1.Points, p4.Confidence, stats.Lower, stats.PaperStep())
	if err != nil {
		t.Fatal(err)
	}
	if nat.Bound.Cmp(p4.NaturalLower) != 0 {
		t.Errorf("natural bound = %s, paper %s", nat.Bound.RatString(), p4.NaturalLower.RatString())
	}
	for _, e := range n.Table4 {
		var all stats.RankCounts
		for _, c := range []paper.RankCounts{e.LabelChange, e.ConfidenceReduction} {
			all = all.Plus(stats.RankCounts{First: c.First, Second: c.Second, Other: c.Other, Missing: c.Missing})
		}
		r, err := all.TopTwo()
		if err != nil {
			t.Fatal(err)
		}
		want := map[float64]string{0.010: "99.44", 0.015: "98.94"}[e.Eta]
		if got := fmt.Sprintf("%.2f", r.Percent()); got != want {
			t.Errorf("Table 4 η = %v: top two %s%%, text says %s%%", e.Eta, got, want)
		}
	}
}
