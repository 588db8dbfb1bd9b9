package experiments

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"confrobust/attack"
	"confrobust/plots"
	"confrobust/results/paper"
	"confrobust/stats"
)

// Rejection is Tables 2 and 3: AWPR before and after the rejection rule,
// and recall of natural points, for the most confident adversarial example
// of each correctly classified point.
const Rejection = "rejection"

type rejection struct{}

// rejectionPoint is what the journal and results.json keep of one point.
type rejectionPoint struct {
	natural
	// Found reports a misclassified point within η; AdvConf, AdvPred and
	// Target describe the most confident one: ||F(x*)||∞, C_F(x*) and the
	// target whose search produced it (0, -1 and -1 when none was found).
	Found   bool    `json:"found"`
	AdvConf float64 `json:"adv_conf"`
	AdvPred int     `json:"adv_pred"`
	Target  int     `json:"target"`
}

// rejectionResult is one setting's outcome: AWPR before rejection, and the
// metrics at each p.
type rejectionResult struct {
	settingBase
	AWPR      stats.Rate        `json:"awpr"`
	Rejection []stats.Rejection `json:"rejection"`
	// AUC is the area under the ROC curve of confidence as a detector of
	// the adversarial examples found (natural points against them; nil when
	// none was found).
	AUC *float64 `json:"auc,omitempty"`
}

func (rejection) defaults(c *Config) {
	if c.Attack.RandomStart == nil {
		t := true
		c.Attack.RandomStart = &t
	}
}

func (rejection) check(c *Config, bad func(string, ...any)) {
	checkRestarts(c, bad)
	if len(c.Reject.P) == 0 {
		bad("reject.p: at least one threshold is needed")
	}
	for _, p := range c.Reject.P {
		checkProb(bad, "reject.p", p)
	}
}

// checkRestarts refuses restarts from the same deterministic start.
func checkRestarts(c *Config, bad func(string, ...any)) {
	if c.Attack.Restarts > 1 && !*c.Attack.RandomStart {
		bad("attack.restarts: %d restarts need attack.random_start = true", c.Attack.Restarts)
	}
}

func (rejection) grid(c *Config, model string) []Setting {
	var out []Setting
	for _, eta := range c.Attack.Eta {
		out = append(out, Setting{Model: model, Eta: eta})
	}
	return out
}

func (rejection) randomPoints() bool { return false }

// pgdKey is the key of a PGD attack of the config at radius eta.
type pgdKey struct {
	Eta         float64 `json:"eta"`
	Iterations  int     `json:"iterations"`
	Restarts    int     `json:"restarts"`
	RandomStart bool    `json:"random_start"`
	Step        float64 `json:"step"`
}

func newPGDKey(c *Config, eta float64) pgdKey {
	return pgdKey{eta, c.Attack.Iterations, c.Attack.Restarts, *c.Attack.RandomStart, c.Attack.Step}
}

// key leaves out reject.p: thresholds only change the aggregation.
func (rejection) key(c *Config, s Setting) (any, any) { return newPGDKey(c, s.Eta), nil }

func (rejection) attack(c *Config, s Setting, seed uint64, progress attack.Progress) attack.MaxConfidence {
	return attack.MaxConfidence{PGD: attack.PGD{Eps: s.Eta, Iterations: c.Attack.Iterations, Step: c.Attack.Step,
		Restarts: c.Attack.Restarts, RandomStart: *c.Attack.RandomStart, Batch: c.Engine.Batch, Seed: seed, Progress: progress}}
}

func (p rejection) rowSteps(c *Config, s Setting, m, k int) (int64, error) {
	mc := p.attack(c, s, 0, nil)
	n, err := mc.RowSteps(m, k)
	return int64(n), err
}

func (p rejection) run(ctx context.Context, u *unitRun) (*unitOutput, error) {
	mc := p.attack(u.config, u.setting, u.seed, u.progress)
	r, err := mc.Run(ctx, u.exec, u.x, u.labels)
	if err != nil {
		return nil, err
	}
	points := make([]rejectionPoint, len(u.points))
	ex := examples{x: r.X}
	for i, nat := range u.points {
		pt := rejectionPoint{natural: nat, Found: r.Wrong[i], AdvPred: -1, Target: -1}
		if pt.Found {
			pt.AdvConf, pt.AdvPred, pt.Target = r.Conf[i], r.Pred[i], r.Target[i]
		}
		points[i] = pt
		ex.add(nat, pt.Target, pt.AdvConf)
	}
	return &unitOutput{points: points, steps: r.Steps, examples: ex}, nil
}

func (rejection) report(c *Config, settings []settingBase, raw [][]json.RawMessage) (report, error) {
	points, err := decodePoints[rejectionPoint](raw)
	if err != nil {
		return nil, err
	}
	r := &rejectionReport{points: points}
	for s, base := range settings {
		out := rejectionOutcomes(points[s])
		sr := rejectionResult{settingBase: base}
		if sr.AWPR, err = stats.AWPR(out); err != nil {
			return nil, err
		}
		if sr.Rejection, err = stats.CurveAt(out, c.Reject.P); err != nil {
			return nil, err
		}
		if nat, adv := plots.OutcomeConfidences(out); len(adv) > 0 {
			auc, err := stats.AUC(nat, adv)
			if err != nil {
				return nil, err
			}
			sr.AUC = &auc
		}
		r.results = append(r.results, sr)
	}
	return r, nil
}

func rejectionOutcomes(points []rejectionPoint) []stats.Outcome {
	out := make([]stats.Outcome, len(points))
	for i, pt := range points {
		out[i] = stats.Outcome{Confidence: pt.Conf, Found: pt.Found, AdvConfidence: pt.AdvConf}
	}
	return out
}

type rejectionReport struct {
	results []rejectionResult
	points  [][]rejectionPoint
}

func (r *rejectionReport) settingsJSON() any { return r.results }
func (r *rejectionReport) pointsJSON() any   { return r.points }

func (r *rejectionReport) csv(w *csvWriter, c *Config) {
	for _, s := range r.results {
		w.row(s.Setting, "", "AWPR (original)", s.AWPR)
		for _, rej := range s.Rejection {
			w.row(s.Setting, fmtFloat(rej.P), "AWPR (w/ rejection)", rej.AWPRRejection)
			w.row(s.Setting, fmtFloat(rej.P), "recall of N", rej.Recall)
		}
	}
}

func (r *rejectionReport) markdown(b *strings.Builder, c *Config) {
	b.WriteString("| model | η | p | AWPR (original) | AWPR (w/ rejection) | recall of N |\n|---|---|---|---|---|---|\n")
	for _, s := range r.results {
		for _, rej := range s.Rejection {
			fmt.Fprintf(b, "| %s | %.3f | %.2f | %s | %s | %s |\n", s.Model, s.Eta, rej.P, pct(s.AWPR), pct(rej.AWPRRejection), pct(rej.Recall))
		}
	}
	b.WriteString("\nConfidence as a detector of the adversarial examples found: AUC of natural points against them (ROC curves in roc-<model>.*).\n\n| model | η | examples found | AUC |\n|---|---|---|---|\n")
	for _, s := range r.results {
		auc := "–"
		if s.AUC != nil {
			auc = fmt.Sprintf("%.3f", *s.AUC)
		}
		fmt.Fprintf(b, "| %s | %.3f | %d | %s |\n", s.Model, s.Eta, s.AWPR.K, auc)
	}
}

// paperTable returns the table of the paper the config names, if it is a
// rejection table.
func paperRejectionTable(c *Config, numbers *paper.Numbers) *paper.RejectionTable {
	switch c.Paper {
	case "table2":
		return &numbers.Table2
	case "table3":
		return &numbers.Table3
	}
	return nil
}

func (r *rejectionReport) compare(c *Config, numbers *paper.Numbers, cs *comparisons) error {
	t := paperRejectionTable(c, numbers)
	if t == nil {
		return nil
	}
	for _, s := range r.results {
		key := fmt.Sprintf("%s η=%.3f", s.Model, s.Eta)
		if why := paperMismatch(c, s.Setting); len(why) > 0 {
			cs.none(key, why)
			continue
		}
		for _, rej := range s.Rejection {
			row := fmt.Sprintf("%s p=%.2f", key, rej.P)
			pr, ok := t.Row(s.Eta, rej.P)
			if !ok {
				cs.none(row, []string{fmt.Sprintf("reject.p = %g (paper: 0.90, 0.95, 0.99)", rej.P)})
				continue
			}
			for _, q := range []struct {
				name  string
				key   string
				paper float64
				rate  stats.Rate
			}{
				{"AWPR (original)", key, pr.AWPR, s.AWPR}, // the same at every p: compared once
				{"AWPR (w/ rejection)", row, pr.AWPRRejection, rej.AWPRRejection},
				{"recall of N", row, pr.Recall, rej.Recall},
			} {
				if err := cs.add(q.key, q.key, q.name, paperCount(q.paper, t.Points), t.Points, q.rate.K, q.rate.N); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// plots draws, per model, the AWPR against p for each η with the paper's
// points, the recall–AWPR curve over all thresholds and the confidence
// histograms.
func (r *rejectionReport) plots(dir string, c *Config, numbers *paper.Numbers) error {
	paperTable := paperRejectionTable(c, numbers)
	bases := make([]settingBase, len(r.results))
	for i, s := range r.results {
		bases[i] = s.settingBase
	}
	for _, m := range modelNames(bases) {
		awpr := plots.AWPRFigure{Title: fmt.Sprintf("%s: AWPR against the rejection threshold p", m)}
		roc := plots.ROCFigure{Title: fmt.Sprintf("%s: confidence as a detector of the adversarial examples found", m), Marks: c.Reject.P}
		recall := plots.RecallFigure{Title: fmt.Sprintf("%s: recall of natural points against AWPR with rejection", m), Marks: c.Reject.P}
		for i, s := range r.results {
			if s.Model != m {
				continue
			}
			out := rejectionOutcomes(r.points[i])
			rows, err := stats.CurveAt(out, thresholdGrid(c.Reject.P))
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
			if s.AUC != nil {
				points, err := stats.ROC(nat, adv)
				if err != nil {
					return err
				}
				roc.Series = append(roc.Series, plots.CurveROC(plots.EtaLabel(s.Eta), *s.AUC, points))
			}
			name := fmt.Sprintf("confidences-%s-eta%.3f", m, s.Eta)
			if err := allFormats(dir, name, func(path string) error {
				return plots.Confidences(path, plots.HistogramFigure{
					Title:   fmt.Sprintf("%s, η = %.3f: confidence of natural points and adversarial examples", m, s.Eta),
					Natural: nat, Adversarial: adv, Thresholds: c.Reject.P})
			}); err != nil {
				return err
			}
		}
		if paperTable != nil {
			awpr.Paper, recall.Paper = r.paperSeries(c, m, paperTable)
		}
		if err := allFormats(dir, "awpr-"+m, func(path string) error { return plots.AWPR(path, awpr) }); err != nil {
			return err
		}
		if err := allFormats(dir, "recall-"+m, func(path string) error { return plots.Recall(path, recall) }); err != nil {
			return err
		}
		if len(roc.Series) > 0 {
			if err := allFormats(dir, "roc-"+m, func(path string) error { return plots.ROC(path, roc) }); err != nil {
				return err
			}
		}
	}
	return nil
}

// paperSeries returns the paper's AWPR and recall points of model m's
// figures: only at the radii where m's setting is the paper's.
func (r *rejectionReport) paperSeries(c *Config, m string, t *paper.RejectionTable) ([]plots.AWPRSeries, []plots.RecallSeries) {
	matching := func(eta float64) bool {
		for _, s := range r.results {
			if s.Model == m && near(s.Eta, eta) && len(paperMismatch(c, s.Setting)) == 0 {
				return true
			}
		}
		return false
	}
	var awpr []plots.AWPRSeries
	for _, ps := range plots.PaperAWPR(*t) {
		if matching(ps.Eta) {
			awpr = append(awpr, ps)
		}
	}
	var recall []plots.RecallSeries
	for _, eta := range t.Etas() {
		if !matching(eta) {
			continue
		}
		for _, ps := range plots.PaperRecall(*t, plots.EtaLabel) {
			if ps.Label == plots.EtaLabel(eta) {
				recall = append(recall, ps)
			}
		}
	}
	return awpr, recall
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
