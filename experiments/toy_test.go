package experiments

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"confrobust/results/paper"
	"confrobust/stats"
)

// toy is the smallest protocol: it attacks nothing and reports the share
// of points the model classifies correctly. It shows what a new protocol
// needs: this type, its record types and one line in the registry.
type toy struct{}

type toyPoint struct {
	natural
}

type toyResult struct {
	settingBase
	Accuracy stats.Rate `json:"accuracy"`
}

func (toy) defaults(c *Config)                                 {}
func (toy) check(c *Config, bad func(string, ...any))          {}
func (toy) grid(c *Config, model string) []Setting             { return rejection{}.grid(c, model) }
func (toy) randomPoints() bool                                 { return true }
func (toy) key(c *Config, s Setting) (any, any)                { return s.Eta, nil }
func (toy) rowSteps(*Config, Setting, int, int) (int64, error) { return 0, nil }

func (toy) run(ctx context.Context, u *unitRun) (*unitOutput, error) {
	points := make([]toyPoint, len(u.points))
	ex := examples{x: u.x}
	for i, nat := range u.points {
		points[i] = toyPoint{nat}
		ex.add(nat, -1, nat.Conf)
	}
	return &unitOutput{points: points, examples: ex}, nil
}

func (toy) report(c *Config, settings []settingBase, raw [][]json.RawMessage) (report, error) {
	points, err := decodePoints[toyPoint](raw)
	if err != nil {
		return nil, err
	}
	r := &toyReport{points: points}
	for s, base := range settings {
		k := 0
		for _, p := range points[s] {
			if p.Pred == p.Label {
				k++
			}
		}
		acc, err := stats.NewRate(k, len(points[s]))
		if err != nil {
			return nil, err
		}
		r.results = append(r.results, toyResult{base, acc})
	}
	return r, nil
}

type toyReport struct {
	results []toyResult
	points  [][]toyPoint
}

func (r *toyReport) settingsJSON() any { return r.results }
func (r *toyReport) pointsJSON() any   { return r.points }
func (r *toyReport) csv(w *csvWriter, c *Config) {
	for _, s := range r.results {
		w.row(s.Setting, "", "accuracy", s.Accuracy)
	}
}
func (r *toyReport) markdown(b *strings.Builder, c *Config) {
	for _, s := range r.results {
		fmt.Fprintf(b, "%s: accuracy %s\n", s.Model, pct(s.Accuracy))
	}
}
func (r *toyReport) compare(*Config, *paper.Numbers, *comparisons) error { return nil }
func (r *toyReport) plots(string, *Config, *paper.Numbers) error         { return nil }

// TestToyProtocol registers the toy protocol and runs it end to end: a
// config names it, the journal, results and examples work unchanged.
func TestToyProtocol(t *testing.T) {
	protocols["toy"] = toy{} // the one registration line
	defer delete(protocols, "toy")
	p, env := tinyRun(t, "toy", "[attack]\neta = [0.1]\niterations = 1\n")
	r, err := Run(context.Background(), p, env, RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The 6 random test points of 40, of which the model gets the first 30
	// right.
	res := r.Settings.([]toyResult)
	k := 0
	for _, pt := range r.Points.([][]toyPoint)[0] {
		if pt.Index < 30 {
			k++
		}
	}
	if len(res) != 1 || res[0].Accuracy.K != k || res[0].Accuracy.N != 6 || !strings.Contains(r.Markdown(), "adv: accuracy") {
		t.Errorf("toy results %+v, want %d of 6 correct", res, k)
	}
}
