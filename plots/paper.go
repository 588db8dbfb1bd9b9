package plots

import (
	"fmt"

	"confrobust/results/paper"
)

// PaperAWPR returns the paper's Table 2 or 3 as one AWPRSeries per η, percentages turned into
// fractions.
func PaperAWPR(t paper.RejectionTable) []AWPRSeries {
	var out []AWPRSeries
	for _, eta := range t.Etas() {
		s := AWPRSeries{Eta: eta}
		for _, r := range t.Rows {
			if r.Eta == eta {
				s.Points = append(s.Points, AWPRPoint{P: r.P, Before: r.AWPR / 100, After: r.AWPRRejection / 100})
			}
		}
		out = append(out, s)
	}
	return out
}

// PaperRecall returns the paper's Table 2 or 3 as one RecallSeries per η labelled with
// label(η), percentages turned into fractions.
func PaperRecall(t paper.RejectionTable, label func(eta float64) string) []RecallSeries {
	var out []RecallSeries
	for _, eta := range t.Etas() {
		s := RecallSeries{Label: label(eta)}
		for _, r := range t.Rows {
			if r.Eta == eta {
				s.Points = append(s.Points, RecallPoint{P: r.P, AWPR: r.AWPRRejection / 100, Recall: r.Recall / 100})
			}
		}
		out = append(out, s)
	}
	return out
}

// EtaLabel returns "η = 0.010" for 0.01, the label the figures use for a radius.
func EtaLabel(eta float64) string { return fmt.Sprintf("η = %.3f", eta) }

// PaperRanks returns the paper's Table 4 as rank groups, label change then confidence reduction
// for each η.
func PaperRanks(t []paper.Table4) []RankGroup {
	var out []RankGroup
	for _, e := range t {
		for _, c := range []struct {
			kind string
			rc   paper.RankCounts
		}{{"label change", e.LabelChange}, {"conf. reduction", e.ConfidenceReduction}} {
			out = append(out, RankGroup{
				Label: fmt.Sprintf("η = ξ = %.3f\n%s", e.Eta, c.kind),
				First: c.rc.First, Second: c.rc.Second, Other: c.rc.Other, Missing: c.rc.Missing,
			})
		}
	}
	return out
}
