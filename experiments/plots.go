package experiments

import (
	"fmt"
	"path/filepath"
	"slices"

	"confrobust/plots"
	"confrobust/results/paper"
	"confrobust/stats"
)

// writePlots draws the figures of the run (PNG and SVG): for Rejection the
// AWPR against p for each η with the paper's points, the recall–AWPR curve
// over all thresholds and the confidence histograms; for Embedding the
// Table 4 stacked bars.
func writePlots(dir string, r *Results) error {
	both := func(name string, draw func(path string) error) error {
		for _, ext := range []string{".png", ".svg"} {
			if err := draw(filepath.Join(dir, name+ext)); err != nil {
				return fmt.Errorf("experiments: %w", err)
			}
		}
		return nil
	}
	numbers, err := paper.Load()
	if err != nil {
		return err
	}
	switch r.Experiment {
	case Rejection:
		byModel := map[string][]int{}
		var models []string
		for i, s := range r.Settings {
			if _, ok := byModel[s.Model]; !ok {
				models = append(models, s.Model)
			}
			byModel[s.Model] = append(byModel[s.Model], i)
		}
		var paperTable *paper.RejectionTable
		switch r.Config.Paper {
		case "table2":
			paperTable = &numbers.Table2
		case "table3":
			paperTable = &numbers.Table3
		}
		for _, m := range models {
			awpr := plots.AWPRFigure{Title: fmt.Sprintf("%s: AWPR against the rejection threshold p", m)}
			recall := plots.RecallFigure{Title: fmt.Sprintf("%s: recall of natural points against AWPR with rejection", m), Marks: r.Config.Reject.P}
			for _, i := range byModel[m] {
				s := r.Settings[i]
				out := outcomes(r.Points[i])
				rows, err := stats.CurveAt(out, thresholdGrid(r.Config.Reject.P))
				if err != nil {
					return err
				}
				awpr.Measured = append(awpr.Measured, plots.CurveAWPR(s.Eta, rows))
				curve, err := stats.Curve(out)
				if err != nil {
					return err
				}
				recall.Measured = append(recall.Measured, plots.CurveSeries(plots.EtaLabel(s.Eta), curve))
				nat, adv := plots.OutcomeConfidences(out)
				name := fmt.Sprintf("confidences-%s-eta%.3f", m, s.Eta)
				if err := both(name, func(path string) error {
					return plots.Confidences(path, plots.HistogramFigure{
						Title:   fmt.Sprintf("%s, η = %.3f: confidence of natural points and adversarial examples", m, s.Eta),
						Natural: nat, Adversarial: adv, Thresholds: r.Config.Reject.P})
				}); err != nil {
					return err
				}
			}
			if paperTable != nil {
				awpr.Paper = plots.PaperAWPR(*paperTable)
				recall.Paper = plots.PaperRecall(*paperTable, plots.EtaLabel)
			}
			if err := both("awpr-"+m, func(path string) error { return plots.AWPR(path, awpr) }); err != nil {
				return err
			}
			if err := both("recall-"+m, func(path string) error { return plots.Recall(path, recall) }); err != nil {
				return err
			}
		}
	case Embedding:
		fig := plots.RankFigure{Title: "Where the true label falls among the defense's points", Percent: true}
		for _, s := range r.Settings {
			for _, col := range []struct {
				name string
				rc   *stats.RankCounts
			}{{"label change", s.LabelChange}, {"confidence reduction", s.ConfidenceReduction}} {
				fig.Groups = append(fig.Groups, plots.RankGroup{
					Label: fmt.Sprintf("%s η=%.3f ξ=%.3f\n%s", s.Model, s.Eta, s.Xi, col.name),
					First: col.rc.First, Second: col.rc.Second, Other: col.rc.Other, Missing: col.rc.Missing})
			}
		}
		if r.Config.Paper == "table4" {
			fig.Groups = append(fig.Groups, plots.PaperRanks(numbers.Table4)...)
		}
		if err := both("ranks", func(path string) error { return plots.Ranks(path, fig) }); err != nil {
			return err
		}
	}
	return nil
}

// thresholdGrid returns the thresholds at which the AWPR figure evaluates
// the rule: 0.50, 0.51, …, 0.99, 0.995, 0.999 and the config's own, sorted.
func thresholdGrid(config []float64) []float64 {
	var ps []float64
	for i := 50; i < 100; i++ {
		ps = append(ps, float64(i)/100)
	}
	ps = append(ps, 0.995, 0.999)
	ps = append(ps, config...)
	slices.Sort(ps)
	return slices.Compact(ps)
}
