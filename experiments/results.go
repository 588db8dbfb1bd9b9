package experiments

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"confrobust/results/paper"
	"confrobust/stats"
)

// Results is everything a finished run reports. It depends only on the
// config, the checkpoints and the executor, never on how the run was split
// or interrupted, so results.json is byte-identical across resumed,
// sharded and uninterrupted runs. Timings go to meta.json (written by the
// runner).
type Results struct {
	Title      string          `json:"title"`
	Experiment string          `json:"experiment"`
	Seed       uint64          `json:"seed"`
	Executor   string          `json:"executor"`
	Config     *Config         `json:"config"`
	Settings   []SettingResult `json:"settings"`
	// Comparisons puts the paper's numbers beside ours (when the config
	// names a table of the paper).
	Comparisons []Comparison `json:"comparisons,omitempty"`
	// Points holds every point's record, setting by setting, so that any
	// threshold or metric can be evaluated later without re-attacking.
	Points [][]pointRecord `json:"points"`
}

// SettingResult is the outcome of one setting of the grid.
type SettingResult struct {
	Setting
	Points int   `json:"points"`
	Steps  int64 `json:"gradient_calls"` // batched executor gradient calls

	// Separation: the points with a p-confident wrong point within η, and
	// the Proposition 4 bounds on their probability (upper and lower, at
	// confidence 0.9, the paper's way and exactly).
	Found *stats.Rate       `json:"found,omitempty"`
	Upper *stats.Separation `json:"upper,omitempty"`
	Lower *stats.Separation `json:"lower,omitempty"`

	// Rejection: AWPR before rejection, and the metrics at each p.
	AWPR      *stats.Rate       `json:"awpr,omitempty"`
	Rejection []stats.Rejection `json:"rejection,omitempty"`

	// Embedding: where the true label falls among the defense's points,
	// split by what the attack did.
	LabelChange         *stats.RankCounts `json:"label_change,omitempty"`
	ConfidenceReduction *stats.RankCounts `json:"confidence_reduction,omitempty"`
}

// Comparison is one of the paper's numbers beside ours.
type Comparison struct {
	Table    string  `json:"table"`
	Row      string  `json:"row"`
	Quantity string  `json:"quantity"`
	Paper    float64 `json:"paper"` // percent
	Ours     float64 `json:"ours"`  // percent
	K        int     `json:"k"`
	N        int     `json:"n"`
	Lo       float64 `json:"lo"` // 95% Clopper–Pearson, percent
	Hi       float64 `json:"hi"`
	// Inside reports whether the paper's value lies in our interval.
	Inside bool `json:"inside"`
}

// Diff returns ours − paper, in percentage points.
func (c Comparison) Diff() float64 { return c.Ours - c.Paper }

// collect reads every unit from the journal and aggregates the results.
func (p *Plan) collect(j *Journal, executor string) (*Results, error) {
	c := p.Config
	r := &Results{Title: c.Title, Experiment: c.Experiment, Seed: c.Seed, Executor: executor, Config: c,
		Points: make([][]pointRecord, len(p.Settings))}
	steps := make([]int64, len(p.Settings))
	for _, u := range p.units {
		var rec unitRecord
		ok, err := j.Get(u.ID, &rec)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("experiments: unit %d is missing from the journal", u.ID)
		}
		if rec.Setting != u.Setting || len(rec.Points) != u.Hi-u.Lo {
			return nil, fmt.Errorf("experiments: journal unit %d does not match the plan", u.ID)
		}
		r.Points[u.Setting] = append(r.Points[u.Setting], rec.Points...)
		steps[u.Setting] += int64(rec.Steps)
	}
	for s, set := range p.Settings {
		sr, err := p.aggregate(set, r.Points[s])
		if err != nil {
			return nil, err
		}
		sr.Steps = steps[s]
		r.Settings = append(r.Settings, sr)
	}
	if c.Paper != "" {
		numbers, err := paper.Load()
		if err != nil {
			return nil, err
		}
		r.Comparisons, err = compare(c, r.Settings, numbers)
		if err != nil {
			return nil, err
		}
	}
	return r, nil
}

// SeparationLevel is the confidence of the Proposition 4 bounds (the paper's 0.9).
const SeparationLevel = 0.9

func (p *Plan) aggregate(set Setting, points []pointRecord) (SettingResult, error) {
	sr := SettingResult{Setting: set, Points: len(points)}
	n := len(points)
	switch p.Config.Experiment {
	case Separation:
		k := 0
		for _, pt := range points {
			if pt.Found {
				k++
			}
		}
		rate, err := stats.NewRate(k, n)
		if err != nil {
			return sr, err
		}
		up, err := stats.Proposition4(k, n, SeparationLevel, stats.Upper, stats.PaperStep())
		if err != nil {
			return sr, err
		}
		lo, err := stats.Proposition4(k, n, SeparationLevel, stats.Lower, stats.PaperStep())
		if err != nil {
			return sr, err
		}
		sr.Found, sr.Upper, sr.Lower = &rate, &up, &lo
	case Rejection:
		out := outcomes(points)
		awpr, err := stats.AWPR(out)
		if err != nil {
			return sr, err
		}
		rows, err := stats.CurveAt(out, p.Config.Reject.P)
		if err != nil {
			return sr, err
		}
		sr.AWPR, sr.Rejection = &awpr, rows
	case Embedding:
		var lc, cr stats.RankCounts
		for _, pt := range points {
			for _, t := range pt.Targets {
				dst := &cr
				if t.LabelChange {
					dst = &lc
				}
				if err := dst.Add(t.Rank); err != nil {
					return sr, err
				}
			}
		}
		sr.LabelChange, sr.ConfidenceReduction = &lc, &cr
	}
	return sr, nil
}

func outcomes(points []pointRecord) []stats.Outcome {
	out := make([]stats.Outcome, len(points))
	for i, pt := range points {
		out[i] = stats.Outcome{Confidence: pt.Conf, Found: pt.Found, AdvConfidence: pt.AdvConf}
	}
	return out
}

// compare lines our settings up with the table of the paper that the
// config names.
func compare(c *Config, settings []SettingResult, numbers *paper.Numbers) ([]Comparison, error) {
	var out []Comparison
	add := func(table, row, quantity string, paperPercent float64, k, n int) error {
		rate, err := stats.NewRate(k, n)
		if err != nil {
			return err
		}
		lo, hi := 100*rate.Lo, 100*rate.Hi
		out = append(out, Comparison{Table: table, Row: row, Quantity: quantity, Paper: paperPercent,
			Ours: 100 * rate.Value, K: k, N: n, Lo: lo, Hi: hi,
			Inside: paperPercent >= lo-1e-9 && paperPercent <= hi+1e-9})
		return nil
	}
	for _, s := range settings {
		switch c.Paper {
		case "table1":
			t := numbers.Table1
			var count int
			switch s.Model {
			case "adv", "adv_trained":
				count = t.AdvTrained
			case "natural", "naturally_trained":
				count = t.Natural
			default:
				continue // the paper has no column for this model
			}
			row := fmt.Sprintf("%s η=%.3f p=%.2f", s.Model, s.Eta, c.Attack.P)
			if err := add("table1", row, "points with a p-confident wrong point", 100*float64(count)/float64(t.Points), s.Found.K, s.Found.N); err != nil {
				return nil, err
			}
		case "table2", "table3":
			t := numbers.Table2
			if c.Paper == "table3" {
				t = numbers.Table3
			}
			for _, rej := range s.Rejection {
				pr, ok := t.Row(s.Eta, rej.P)
				if !ok {
					continue
				}
				row := fmt.Sprintf("%s η=%.3f p=%.2f", s.Model, s.Eta, rej.P)
				for _, q := range []struct {
					name  string
					paper float64
					rate  stats.Rate
				}{
					{"AWPR (original)", pr.AWPR, rej.AWPR},
					{"AWPR (w/ rejection)", pr.AWPRRejection, rej.AWPRRejection},
					{"recall of N", pr.Recall, rej.Recall},
				} {
					if err := add(c.Paper, row, q.name, q.paper, q.rate.K, q.rate.N); err != nil {
						return nil, err
					}
				}
			}
		case "table4":
			for _, t := range numbers.Table4 {
				if math.Abs(t.Eta-s.Eta) > 1e-9 || math.Abs(t.Xi-s.Xi) > 1e-9 {
					continue
				}
				row := fmt.Sprintf("%s η=%.3f ξ=%.3f", s.Model, s.Eta, s.Xi)
				all := s.LabelChange.Total() + s.ConfidenceReduction.Total()
				paperAll := t.LabelChange.Total + t.ConfidenceReduction.Total
				if err := add("table4", row, "label change share", 100*float64(t.LabelChange.Total)/float64(paperAll), s.LabelChange.Total(), all); err != nil {
					return nil, err
				}
				for _, col := range []struct {
					name  string
					paper paper.RankCounts
					ours  *stats.RankCounts
				}{{"label change", t.LabelChange, s.LabelChange}, {"confidence reduction", t.ConfidenceReduction, s.ConfidenceReduction}} {
					if col.ours.Total() == 0 || col.paper.Total == 0 {
						continue
					}
					for _, q := range []struct {
						name        string
						paper, ours int
					}{{"1st", col.paper.First, col.ours.First}, {"2nd", col.paper.Second, col.ours.Second},
						{"other", col.paper.Other, col.ours.Other}, {"missing", col.paper.Missing, col.ours.Missing}} {
						if err := add("table4", row, col.name+": "+q.name, 100*float64(q.paper)/float64(col.paper.Total), q.ours, col.ours.Total()); err != nil {
							return nil, err
						}
					}
				}
			}
		}
	}
	return out, nil
}

// Check returns an error listing every reproduced number whose 95%
// interval misses the paper's value.
func (r *Results) Check() error {
	var miss []string
	for _, c := range r.Comparisons {
		if !c.Inside {
			miss = append(miss, fmt.Sprintf("%s %s %s: paper %.1f%%, ours %.1f%% [%.1f%%, %.1f%%]", c.Table, c.Row, c.Quantity, c.Paper, c.Ours, c.Lo, c.Hi))
		}
	}
	if len(r.Comparisons) == 0 {
		return fmt.Errorf("experiments: %s: nothing to check against the paper (set paper = \"table1\" … \"table4\")", r.Title)
	}
	if len(miss) > 0 {
		return fmt.Errorf("experiments: %s: %d of %d numbers outside our 95%% interval:\n  %s", r.Title, len(miss), len(r.Comparisons), strings.Join(miss, "\n  "))
	}
	return nil
}

// WriteResults writes results.json, results.csv, results.md and the plots
// into dir, each atomically.
func WriteResults(dir string, r *Results) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("experiments: %w", err)
	}
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("experiments: results: %w", err)
	}
	files := []struct {
		name string
		data []byte
	}{
		{"results.json", append(js, '\n')},
		{"results.csv", r.CSV()},
		{"results.md", []byte(r.Markdown())},
	}
	for _, f := range files {
		if err := WriteFileAtomic(filepath.Join(dir, f.name), f.data); err != nil {
			return fmt.Errorf("experiments: %w", err)
		}
	}
	return writePlots(dir, r)
}

// CSV returns one row per measured quantity: the setting, the quantity, K,
// N, the value and its 95% interval.
func (r *Results) CSV() []byte {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.Write([]string{"model", "eta", "xi", "lambda", "p", "quantity", "k", "n", "value", "lo", "hi"})
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	row := func(s SettingResult, p, quantity string, rate stats.Rate) {
		w.Write([]string{s.Model, f(s.Eta), f(s.Xi), f(s.Lambda), p, quantity,
			strconv.Itoa(rate.K), strconv.Itoa(rate.N), f(rate.Value), f(rate.Lo), f(rate.Hi)})
	}
	for _, s := range r.Settings {
		switch {
		case s.Found != nil:
			row(s, f(r.Config.Attack.P), "p-confident wrong point found", *s.Found)
		case s.AWPR != nil:
			row(s, "", "AWPR (original)", *s.AWPR)
			for _, rej := range s.Rejection {
				row(s, f(rej.P), "AWPR (w/ rejection)", rej.AWPRRejection)
				row(s, f(rej.P), "recall of N", rej.Recall)
			}
		case s.LabelChange != nil:
			for _, col := range []struct {
				name string
				rc   *stats.RankCounts
			}{{"label change", s.LabelChange}, {"confidence reduction", s.ConfidenceReduction}} {
				n := col.rc.Total()
				for _, q := range []struct {
					name string
					k    int
				}{{"1st", col.rc.First}, {"2nd", col.rc.Second}, {"other", col.rc.Other}, {"missing", col.rc.Missing}} {
					rate := stats.Rate{K: q.k, N: n}
					if n > 0 {
						rate, _ = stats.NewRate(q.k, n)
					}
					row(s, "", col.name+": "+q.name, rate)
				}
			}
		}
	}
	w.Flush()
	return buf.Bytes()
}

// Markdown returns the results as tables for people: ours with counts and
// intervals, then the paper's numbers beside ours.
func (r *Results) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", r.Title)
	fmt.Fprintf(&b, "Experiment `%s`, seed %d, executor %s, %d points per setting.\n\n", r.Experiment, r.Seed, r.Executor, r.Config.Data.Points)
	pct := func(rate stats.Rate) string {
		return fmt.Sprintf("%.1f%% (%d/%d) [%.1f, %.1f]", 100*rate.Value, rate.K, rate.N, 100*rate.Lo, 100*rate.Hi)
	}
	switch r.Experiment {
	case Separation:
		b.WriteString("| model | η | p | points with a p-confident wrong point | Prop. 4 upper bound (paper's way / Clopper–Pearson) | Prop. 4 lower bound |\n|---|---|---|---|---|---|\n")
		for _, s := range r.Settings {
			fmt.Fprintf(&b, "| %s | %.3f | %.2f | %s | %s = %.4f / %.4f | %s = %.4f / %.4f |\n", s.Model, s.Eta, r.Config.Attack.P, pct(*s.Found),
				s.Upper.Bound.RatString(), ratFloat(s.Upper), s.Upper.ClopperPearson,
				s.Lower.Bound.RatString(), ratFloat(s.Lower), s.Lower.ClopperPearson)
		}
		fmt.Fprintf(&b, "\nBounds hold with probability ≥ %.1f: the paper's Chebyshev p̂ ± t with t rounded up to 1/10, and the exact one-sided Clopper–Pearson bound.\n", SeparationLevel)
	case Rejection:
		b.WriteString("| model | η | p | AWPR (original) | AWPR (w/ rejection) | recall of N |\n|---|---|---|---|---|---|\n")
		for _, s := range r.Settings {
			for _, rej := range s.Rejection {
				fmt.Fprintf(&b, "| %s | %.3f | %.2f | %s | %s | %s |\n", s.Model, s.Eta, rej.P, pct(*s.AWPR), pct(rej.AWPRRejection), pct(rej.Recall))
			}
		}
	case Embedding:
		b.WriteString("| model | η | ξ | λ | split | 1st | 2nd | other | missing | total |\n|---|---|---|---|---|---|---|---|---|---|\n")
		for _, s := range r.Settings {
			for _, col := range []struct {
				name string
				rc   *stats.RankCounts
			}{{"label change", s.LabelChange}, {"confidence reduction", s.ConfidenceReduction}} {
				fmt.Fprintf(&b, "| %s | %.3f | %.3f | %g | %s | %d | %d | %d | %d | %d |\n", s.Model, s.Eta, s.Xi, s.Lambda, col.name,
					col.rc.First, col.rc.Second, col.rc.Other, col.rc.Missing, col.rc.Total())
			}
		}
	}
	b.WriteString("\nRates: value (count) [95% Clopper–Pearson interval].\n")
	if len(r.Comparisons) > 0 {
		fmt.Fprintf(&b, "\n## Beside the paper (%s)\n\n| row | quantity | paper | ours | 95%% interval | ours − paper | paper inside |\n|---|---|---|---|---|---|---|\n", r.Config.Paper)
		for _, c := range r.Comparisons {
			inside := "yes"
			if !c.Inside {
				inside = "**no**"
			}
			fmt.Fprintf(&b, "| %s | %s | %.1f%% | %.1f%% (%d/%d) | [%.1f, %.1f] | %+.1f | %s |\n", c.Row, c.Quantity, c.Paper, c.Ours, c.K, c.N, c.Lo, c.Hi, c.Diff(), inside)
		}
	}
	return b.String()
}

func ratFloat(s *stats.Separation) float64 {
	f, _ := s.Bound.Float64()
	return f
}
