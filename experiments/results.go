package experiments

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"

	"confrobust/internal/atomicfile"
	"confrobust/plots"
	"confrobust/results/paper"
	"confrobust/stats"

	"gonum.org/v1/gonum/stat"
)

// ResultsSchema is the version of results.json's layout: 2 added the
// schema, tool, checkpoint and data digests and the config under its TOML
// keys.
const ResultsSchema = 2

// Results is everything a finished run reports. It depends only on the
// config, the checkpoints, the data, the executor and the tool's version,
// never on how the run was split or interrupted, so results.json is
// byte-identical across resumed, sharded and uninterrupted runs. Timings
// go to meta.json (written by the runner).
type Results struct {
	Schema     int    `json:"schema"`
	Title      string `json:"title"`
	Experiment string `json:"experiment"`
	// Tool is the harness's module version and VCS revision, as the binary
	// was built ("devel" for go run).
	Tool     string   `json:"tool"`
	Seeds    []uint64 `json:"seeds"`
	Executor string   `json:"executor"`
	// Models holds each model's checkpoint and the SHA-256 of its files;
	// Data the test split's name and the SHA-256 of its images and labels.
	Models []ModelDigest `json:"models"`
	Data   DataDigest    `json:"data"`
	// Config is the config as run, under its TOML keys, defaults filled in.
	Config map[string]any `json:"config"`
	// Settings holds the outcome of every setting of the grid, in the
	// protocol's own record type.
	Settings any `json:"settings"`
	// Comparisons puts the paper's numbers beside ours (when the config
	// names a table of the paper).
	Comparisons []Comparison `json:"comparisons,omitempty"`
	// PaperNotes names the settings that have no paper value beside them,
	// and why (the parameters in which they differ from the paper's).
	PaperNotes []string `json:"paper_notes,omitempty"`
	// Points holds every point's record, setting by setting, so that any
	// threshold or metric can be evaluated later without re-attacking.
	Points any `json:"points"`

	config *Config
	report report
}

// ModelDigest identifies a model's checkpoint.
type ModelDigest struct {
	Name       string `json:"name"`
	Checkpoint string `json:"checkpoint"`
	SHA256     string `json:"sha256"`
}

// DataDigest identifies the test split a run used.
type DataDigest struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
}

// Comparison is one of the paper's numbers beside ours, with the test of
// whether both can come from one rate: Fisher's exact test on the two
// counts (both samples' sampling error), Holm-adjusted across every number
// of the run's table.
type Comparison struct {
	Table    string  `json:"table"`
	Row      string  `json:"row"`
	Quantity string  `json:"quantity"`
	Paper    float64 `json:"paper"` // percent
	PaperK   int     `json:"paper_k"`
	PaperN   int     `json:"paper_n"`
	Ours     float64 `json:"ours"` // percent
	K        int     `json:"k"`
	N        int     `json:"n"`
	Lo       float64 `json:"lo"` // our 95% Clopper–Pearson interval, percent
	Hi       float64 `json:"hi"`
	// P is the two-sided p-value of Fisher's exact test of ours against
	// the paper's count; PHolm is P after Holm's correction over the run's
	// numbers. Consistent reports PHolm ≥ CheckAlpha.
	P          float64 `json:"p_value"`
	PHolm      float64 `json:"p_holm"`
	Consistent bool    `json:"consistent"`
}

// Diff returns ours − paper, in percentage points.
func (c Comparison) Diff() float64 { return c.Ours - c.Paper }

// newResults aggregates a protocol's records into the run's results.
func newResults(p *Plan, executor string, settings []settingBase, points [][]json.RawMessage) (*Results, error) {
	c := p.Config
	rep, err := p.proto.report(c, settings, points)
	if err != nil {
		return nil, err
	}
	cm, err := c.tomlMap()
	if err != nil {
		return nil, err
	}
	r := &Results{Schema: ResultsSchema, Title: c.Title, Experiment: c.Experiment, Tool: toolVersion(), Seeds: c.Seed,
		Executor: executor, Data: DataDigest{Name: p.data.Name, SHA256: p.dataDigest}, Config: cm,
		Settings: rep.settingsJSON(), Points: rep.pointsJSON(), config: c, report: rep}
	for _, m := range c.Models {
		r.Models = append(r.Models, ModelDigest{Name: m.Name, Checkpoint: m.Checkpoint, SHA256: p.digests[m.Name]})
	}
	if c.Paper != "" {
		numbers, err := paper.Load()
		if err != nil {
			return nil, err
		}
		cs := newComparisons(c.Paper)
		if err := rep.compare(c, numbers, cs); err != nil {
			return nil, err
		}
		r.Comparisons, r.PaperNotes = cs.done()
	}
	return r, nil
}

// Check returns an error when some reproduced number is inconsistent with
// the paper's: its Holm-adjusted p-value (Fisher's exact test of our count
// against the paper's, corrected over every number of the table) is below
// CheckAlpha. A faithful reproduction passes with probability at least
// 1 − CheckAlpha (more: Fisher's test is conservative), whatever the
// dependence between the numbers. With no paper value beside any setting
// there is nothing to check, which is an error too.
func (r *Results) Check() error {
	if len(r.Comparisons) == 0 {
		msg := fmt.Sprintf("experiments: %s: nothing to check against the paper", r.Title)
		if r.config.Paper == "" {
			msg += " (set paper = \"table1\" … \"table4\")"
		}
		if len(r.PaperNotes) > 0 {
			msg += ":\n  " + strings.Join(r.PaperNotes, "\n  ")
		}
		return errors.New(msg)
	}
	var miss []string
	for _, c := range r.Comparisons {
		if !c.Consistent {
			miss = append(miss, fmt.Sprintf("%s %s %s: paper %d/%d (%.1f%%), ours %d/%d (%.1f%%), p = %.3g, Holm-adjusted %.3g",
				c.Table, c.Row, c.Quantity, c.PaperK, c.PaperN, c.Paper, c.K, c.N, c.Ours, c.P, c.PHolm))
		}
	}
	if len(miss) > 0 {
		return fmt.Errorf("experiments: %s: %d of %d numbers inconsistent with the paper (Holm-adjusted p < %g):\n  %s",
			r.Title, len(miss), len(r.Comparisons), CheckAlpha, strings.Join(miss, "\n  "))
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
	return r.report.plots(dir, r.config, numbers)
}

// CSV returns one row per measured quantity: the setting, the quantity, K,
// N, the value and its 95% interval.
func (r *Results) CSV() []byte {
	var buf bytes.Buffer
	w := &csvWriter{w: csv.NewWriter(&buf)}
	w.w.Write([]string{"model", "eta", "xi", "lambda", "seed", "p", "quantity", "k", "n", "value", "lo", "hi"})
	r.report.csv(w, r.config)
	w.w.Flush()
	return buf.Bytes()
}

// row writes one quantity of a setting at threshold p ("" for none).
func (w *csvWriter) row(s Setting, p, quantity string, rate stats.Rate) {
	if w.rows != nil {
		*w.rows = append(*w.rows, quantityRow{s, p, quantity, rate})
	}
	if w.w == nil {
		return
	}
	w.w.Write([]string{s.Model, fmtFloat(s.Eta), fmtFloat(s.Xi), fmtFloat(s.Lambda), strconv.FormatUint(s.Seed, 10), p, quantity,
		strconv.Itoa(rate.K), strconv.Itoa(rate.N), fmtFloat(rate.Value), fmtFloat(rate.Lo), fmtFloat(rate.Hi)})
}

// quantityRow is one reported quantity, as results.csv has it.
type quantityRow struct {
	s       Setting
	p, name string
	rate    stats.Rate
}

// seedSummary writes, for a run of several seeds, the mean and sample
// standard deviation of every quantity across the seeds.
func (r *Results) seedSummary(b *strings.Builder) {
	if len(r.Seeds) < 2 {
		return
	}
	var rows []quantityRow
	r.report.csv(&csvWriter{rows: &rows}, r.config)
	type group struct {
		key    string
		values []float64
	}
	var groups []*group
	byKey := map[string]*group{}
	for _, q := range rows {
		s := q.s
		key := fmt.Sprintf("| %s | %.3f | %.3f | %g | %s | %s |", s.Model, s.Eta, s.Xi, s.Lambda, q.p, q.name)
		g := byKey[key]
		if g == nil {
			g = &group{key: key}
			byKey[key] = g
			groups = append(groups, g)
		}
		g.values = append(g.values, q.rate.Value)
	}
	fmt.Fprintf(b, "\n## Across the %d seeds\n\n| model | η | ξ | λ | p | quantity | mean | std | min | max |\n|---|---|---|---|---|---|---|---|---|---|\n", len(r.Seeds))
	for _, g := range groups {
		mean, sd := stat.MeanStdDev(g.values, nil)
		fmt.Fprintf(b, "%s %.1f%% | %.1f | %.1f%% | %.1f%% |\n", g.key, 100*mean, 100*sd, 100*slices.Min(g.values), 100*slices.Max(g.values))
	}
	b.WriteString("\nstd: the sample standard deviation across seeds, in percentage points.\n")
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
	seeds := make([]string, len(r.Seeds))
	for i, s := range r.Seeds {
		seeds[i] = strconv.FormatUint(s, 10)
	}
	word := "seed"
	if len(seeds) > 1 {
		word = "seeds"
	}
	fmt.Fprintf(&b, "Experiment `%s`, %s %s, executor %s, %d points per setting.\n\n", r.Experiment, word, strings.Join(seeds, ", "), r.Executor, r.config.Data.Points)
	r.report.markdown(&b, r.config)
	b.WriteString("\nRates: value (count) [95% Clopper–Pearson interval].\n")
	r.seedSummary(&b)
	if r.config.Paper != "" {
		fmt.Fprintf(&b, "\n## Beside the paper (%s)\n\n", r.config.Paper)
		if len(r.Comparisons) > 0 {
			b.WriteString("| row | quantity | paper | ours | 95% interval | ours − paper | p (Fisher) | Holm-adjusted | consistent |\n|---|---|---|---|---|---|---|---|---|\n")
			for _, c := range r.Comparisons {
				ok := "yes"
				if !c.Consistent {
					ok = "**no**"
				}
				fmt.Fprintf(&b, "| %s | %s | %.1f%% (%d/%d) | %.1f%% (%d/%d) | [%.1f, %.1f] | %+.1f | %.3g | %.3g | %s |\n",
					c.Row, c.Quantity, c.Paper, c.PaperK, c.PaperN, c.Ours, c.K, c.N, c.Lo, c.Hi, c.Diff(), c.P, c.PHolm, ok)
			}
			fmt.Fprintf(&b, "\nConsistent: Fisher's exact test of our count against the paper's, Holm-adjusted over the %d numbers, p ≥ %g.\n", len(r.Comparisons), CheckAlpha)
		}
		for _, n := range r.PaperNotes {
			fmt.Fprintf(&b, "\n- %s", n)
		}
		if len(r.PaperNotes) > 0 {
			b.WriteString("\n")
		}
	}
	return b.String()
}

// allFormats draws a figure as name.png, name.svg and name.pdf in dir.
func allFormats(dir, name string, draw func(path string) error) error {
	for _, ext := range plots.Formats {
		if err := draw(filepath.Join(dir, name+ext)); err != nil {
			return fmt.Errorf("experiments: %w", err)
		}
	}
	return nil
}

// toolVersion returns the harness's module version and VCS revision from
// the build information ("devel" when the go command stamped none).
func toolVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	if v == "" || v == "(devel)" {
		v = "devel"
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v += " " + s.Value
		case "vcs.modified":
			if s.Value == "true" {
				v += "+modified"
			}
		}
	}
	return v
}
