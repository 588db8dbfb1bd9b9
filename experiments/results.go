package experiments

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"confrobust/internal/atomicfile"
	"confrobust/results/paper"
	"confrobust/stats"
)

// Results is everything a finished run reports. It depends only on the
// config, the checkpoints and the executor, never on how the run was split
// or interrupted, so results.json is byte-identical across resumed,
// sharded and uninterrupted runs. Timings go to meta.json (written by the
// runner).
type Results struct {
	Title      string  `json:"title"`
	Experiment string  `json:"experiment"`
	Seed       uint64  `json:"seed"`
	Executor   string  `json:"executor"`
	Config     *Config `json:"config"`
	// Settings holds the outcome of every setting of the grid, in the
	// protocol's own record type.
	Settings any `json:"settings"`
	// Comparisons puts the paper's numbers beside ours (when the config
	// names a table of the paper).
	Comparisons []Comparison `json:"comparisons,omitempty"`
	// Points holds every point's record, setting by setting, so that any
	// threshold or metric can be evaluated later without re-attacking.
	Points any `json:"points"`

	report report
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

// newComparison sets our K/N beside the paper's value in percent.
func newComparison(table, row, quantity string, paperPercent float64, k, n int) (Comparison, error) {
	rate, err := stats.NewRate(k, n)
	if err != nil {
		return Comparison{}, err
	}
	lo, hi := 100*rate.Lo, 100*rate.Hi
	return Comparison{Table: table, Row: row, Quantity: quantity, Paper: paperPercent,
		Ours: 100 * rate.Value, K: k, N: n, Lo: lo, Hi: hi,
		Inside: paperPercent >= lo-1e-9 && paperPercent <= hi+1e-9}, nil
}

// Diff returns ours − paper, in percentage points.
func (c Comparison) Diff() float64 { return c.Ours - c.Paper }

// newResults aggregates a protocol's records into the run's results.
func newResults(c *Config, executor string, settings []settingBase, points [][]json.RawMessage) (*Results, error) {
	rep, err := protocols[c.Experiment].report(c, settings, points)
	if err != nil {
		return nil, err
	}
	r := &Results{Title: c.Title, Experiment: c.Experiment, Seed: c.Seed, Executor: executor, Config: c,
		Settings: rep.settingsJSON(), Points: rep.pointsJSON(), report: rep}
	if c.Paper != "" {
		numbers, err := paper.Load()
		if err != nil {
			return nil, err
		}
		if r.Comparisons, err = rep.compare(c, numbers); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Check returns an error listing every reproduced number whose 95%
// interval misses the paper's.
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
		if err := atomicfile.Write(filepath.Join(dir, f.name), f.data); err != nil {
			return fmt.Errorf("experiments: %w", err)
		}
	}
	numbers, err := paper.Load()
	if err != nil {
		return err
	}
	return r.report.plots(dir, r.Config, numbers)
}

// CSV returns one row per measured quantity: the setting, the quantity, K,
// N, the value and its 95% interval.
func (r *Results) CSV() []byte {
	var buf bytes.Buffer
	w := &csvWriter{w: csv.NewWriter(&buf)}
	w.w.Write([]string{"model", "eta", "xi", "lambda", "p", "quantity", "k", "n", "value", "lo", "hi"})
	r.report.csv(w, r.Config)
	w.w.Flush()
	return buf.Bytes()
}

// row writes one quantity of a setting at threshold p ("" for none).
func (w *csvWriter) row(s Setting, p, quantity string, rate stats.Rate) {
	w.w.Write([]string{s.Model, fmtFloat(s.Eta), fmtFloat(s.Xi), fmtFloat(s.Lambda), p, quantity,
		strconv.Itoa(rate.K), strconv.Itoa(rate.N), fmtFloat(rate.Value), fmtFloat(rate.Lo), fmtFloat(rate.Hi)})
}

func fmtFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// pct formats a rate for Markdown: value (count) [interval].
func pct(rate stats.Rate) string {
	return fmt.Sprintf("%.1f%% (%d/%d) [%.1f, %.1f]", 100*rate.Value, rate.K, rate.N, 100*rate.Lo, 100*rate.Hi)
}

// Markdown returns the results as tables for people: ours with counts and
// intervals, then the paper's numbers beside ours.
func (r *Results) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", r.Title)
	fmt.Fprintf(&b, "Experiment `%s`, seed %d, executor %s, %d points per setting.\n\n", r.Experiment, r.Seed, r.Executor, r.Config.Data.Points)
	r.report.markdown(&b, r.Config)
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

// bothFormats draws a figure as name.png and name.svg in dir.
func bothFormats(dir, name string, draw func(path string) error) error {
	for _, ext := range []string{".png", ".svg"} {
		if err := draw(filepath.Join(dir, name+ext)); err != nil {
			return fmt.Errorf("experiments: %w", err)
		}
	}
	return nil
}
