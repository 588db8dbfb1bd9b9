package experiments

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"confrobust/attack"
	"confrobust/results/paper"
	"confrobust/stats"
)

// Separation is Table 1 and Proposition 4: the share of random test points
// with a p-confident wrong point within η (modified CW-ℓ∞).
const Separation = "separation"

// SeparationLevel is the confidence of the Proposition 4 bounds (the paper's 0.9).
const SeparationLevel = 0.9

type separation struct{}

// separationPoint is what the journal and results.json keep of one point.
type separationPoint struct {
	natural
	// Found reports a wrong label of confidence ≥ p within η; AdvConf and
	// AdvPred are that label's confidence and the label (the attack's best
	// try when none was found).
	Found   bool    `json:"found"`
	AdvConf float64 `json:"adv_conf"`
	AdvPred int     `json:"adv_pred"`
	// Target is always -1: the search has no single target.
	Target int `json:"target"`
}

// separationResult is one setting's outcome: the points with a p-confident
// wrong point, and the Proposition 4 bounds on their probability (upper and
// lower, at confidence 0.9, the paper's way and exactly).
type separationResult struct {
	settingBase
	Found stats.Rate       `json:"found"`
	Upper stats.Separation `json:"upper"`
	Lower stats.Separation `json:"lower"`
}

func (separation) defaults(c *Config) {
	if c.Attack.RandomStart == nil {
		f := false
		c.Attack.RandomStart = &f
	}
}

func (separation) check(c *Config, bad func(string, ...any)) {
	checkProb(bad, "attack.p", c.Attack.P)
}

func (separation) grid(c *Config, model string) []Setting {
	var out []Setting
	for _, eta := range c.Attack.Eta {
		out = append(out, Setting{Model: model, Eta: eta})
	}
	return out
}

func (separation) randomPoints() bool { return true }

func (separation) key(c *Config, s Setting) (any, any) {
	return struct {
		Eta          float64 `json:"eta"`
		P            float64 `json:"p"`
		Iterations   int     `json:"iterations"`
		Restarts     int     `json:"restarts"`
		LearningRate float64 `json:"learning_rate"`
	}{s.Eta, c.Attack.P, c.Attack.Iterations, c.Attack.Restarts, c.Attack.LearningRate}, nil
}

func (separation) attack(c *Config, s Setting, seed uint64, progress attack.Progress) attack.CW {
	return attack.CW{Eps: s.Eta, P: c.Attack.P, Iterations: c.Attack.Iterations, Restarts: c.Attack.Restarts,
		LearningRate: c.Attack.LearningRate, Batch: c.Engine.Batch, Seed: seed, Progress: progress}
}

func (p separation) rowSteps(c *Config, s Setting, m, k int) (int64, error) {
	cw := p.attack(c, s, 0, nil)
	n, err := cw.RowSteps(m, k)
	return int64(n), err
}

func (p separation) run(ctx context.Context, u *unitRun) (*unitOutput, error) {
	cw := p.attack(u.config, u.setting, u.seed, u.progress)
	r, err := cw.Run(ctx, u.exec, u.x, u.labels)
	if err != nil {
		return nil, err
	}
	points := make([]separationPoint, len(u.points))
	ex := examples{x: r.X}
	for i, nat := range u.points {
		points[i] = separationPoint{natural: nat, Found: r.Found[i], AdvConf: r.Conf[i], AdvPred: r.Label[i], Target: -1}
		ex.add(nat, -1, r.Conf[i])
	}
	return &unitOutput{points: points, steps: r.Steps, examples: ex}, nil
}

func (separation) report(c *Config, settings []settingBase, raw [][]json.RawMessage) (report, error) {
	points, err := decodePoints[separationPoint](raw)
	if err != nil {
		return nil, err
	}
	r := &separationReport{points: points}
	for s, base := range settings {
		k, n := 0, len(points[s])
		for _, pt := range points[s] {
			if pt.Found {
				k++
			}
		}
		sr := separationResult{settingBase: base}
		if sr.Found, err = stats.NewRate(k, n); err != nil {
			return nil, err
		}
		if sr.Upper, err = stats.Proposition4(k, n, SeparationLevel, stats.Upper, stats.PaperStep()); err != nil {
			return nil, err
		}
		if sr.Lower, err = stats.Proposition4(k, n, SeparationLevel, stats.Lower, stats.PaperStep()); err != nil {
			return nil, err
		}
		r.results = append(r.results, sr)
	}
	return r, nil
}

type separationReport struct {
	results []separationResult
	points  [][]separationPoint
}

func (r *separationReport) settingsJSON() any { return r.results }
func (r *separationReport) pointsJSON() any   { return r.points }

func (r *separationReport) csv(w *csvWriter, c *Config) {
	for _, s := range r.results {
		w.row(s.Setting, fmtFloat(c.Attack.P), "p-confident wrong point found", s.Found)
	}
}

func (r *separationReport) markdown(b *strings.Builder, c *Config) {
	b.WriteString("| model | η | p | points with a p-confident wrong point | Prop. 4 upper bound (paper's way / Clopper–Pearson) | Prop. 4 lower bound |\n|---|---|---|---|---|---|\n")
	for _, s := range r.results {
		fmt.Fprintf(b, "| %s | %.3f | %.2f | %s | %s = %.4f / %.4f | %s = %.4f / %.4f |\n", s.Model, s.Eta, c.Attack.P, pct(s.Found),
			s.Upper.Bound.RatString(), ratFloat(s.Upper), s.Upper.ClopperPearson,
			s.Lower.Bound.RatString(), ratFloat(s.Lower), s.Lower.ClopperPearson)
	}
	fmt.Fprintf(b, "\nBounds hold with probability ≥ %.1f: the paper's Chebyshev p̂ ± t with t rounded up to 1/10, and the exact one-sided Clopper–Pearson bound.\n", SeparationLevel)
}

func (r *separationReport) compare(c *Config, numbers *paper.Numbers, cs *comparisons) error {
	if c.Paper != "table1" {
		return nil
	}
	t := numbers.Table1
	for _, s := range r.results {
		row := fmt.Sprintf("%s η=%.3f p=%.2f", s.Model, s.Eta, c.Attack.P)
		if why := paperMismatch(c, s.Setting); len(why) > 0 {
			cs.none(row, why)
			continue
		}
		mc, _ := c.model(s.Model)
		count := t.AdvTrained
		if mc.PaperModel == NaturallyTrained {
			count = t.Natural
		}
		if err := cs.add(row, row, "points with a p-confident wrong point", count, t.Points, s.Found.K, s.Found.N); err != nil {
			return err
		}
	}
	return nil
}

func (r *separationReport) plots(dir string, c *Config, numbers *paper.Numbers) error { return nil }

func ratFloat(s stats.Separation) float64 {
	f, _ := s.Bound.Float64()
	return f
}
