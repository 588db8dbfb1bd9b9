package experiments

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	"confrobust/attack"
	"confrobust/dataset"
	"confrobust/engine"
	"confrobust/results/paper"
)

// A protocol is one experiment kind: what its config must hold, how its
// sweep expands into settings, how a work unit of a setting runs, and how
// the units' records become results. Each protocol lives in a file of its
// own (separation.go, rejection.go, embedding.go) with its typed records,
// and is registered in protocols; adding one touches that new file and one
// line of the registry.
type protocol interface {
	// defaults fills in the protocol's own defaults.
	defaults(c *Config)
	// check reports every bad key of the protocol's part of the config.
	check(c *Config, bad func(format string, a ...any))
	// grid returns the settings of the config's sweep for one model.
	grid(c *Config, model string) []Setting
	// randomPoints reports whether the protocol samples test points
	// whatever the model predicts (Table 1) instead of correctly classified
	// ones (Tables 2–4).
	randomPoints() bool
	// rowSteps returns the planned gradient evaluations of one input of a
	// unit of m points of setting s for a model of k classes (an upper
	// bound for searches that stop early).
	rowSteps(c *Config, s Setting, m, k int) (int64, error)
	// key returns the parameters of setting s that change its units'
	// results, split into the attack's (which also identify its saved
	// examples and seed its random starts) and the defense's (nil for
	// none). They are marshalled to JSON into the setting's journal key, so
	// a parameter left out is one whose change reuses the journal.
	key(c *Config, s Setting) (attack, defense any)
	// run runs one unit.
	run(ctx context.Context, u *unitRun) (*unitOutput, error)
	// report aggregates the records of every setting: points[s] holds the
	// JSON records of setting s's units, in unit order.
	report(c *Config, settings []settingBase, points [][]json.RawMessage) (report, error)
}

// protocols is the registry of experiment kinds, by the name a config's
// experiment key gives.
var protocols = map[string]protocol{
	Separation: separation{},
	Rejection:  rejection{},
	Embedding:  embedding{},
	Adaptive:   adaptive{},
}

func protocolNames() []string {
	names := make([]string, 0, len(protocols))
	for n := range protocols {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// report is a protocol's aggregated results, which Results writes.
type report interface {
	// settingsJSON and pointsJSON are results.json's "settings" and "points".
	settingsJSON() any
	pointsJSON() any
	// csv writes results.csv's rows.
	csv(w *csvWriter, c *Config)
	// markdown writes the results table of results.md.
	markdown(b *strings.Builder, c *Config)
	// compare puts the paper's numbers beside ours, for the table the
	// config names, where the setting matches the paper's (paperMismatch).
	compare(c *Config, numbers *paper.Numbers, cs *comparisons) error
	// plots draws the protocol's figures into dir.
	plots(dir string, c *Config, numbers *paper.Numbers) error
}

// unitRun is what a protocol's run gets: one unit of one setting.
type unitRun struct {
	config  *Config
	unit    unit
	setting Setting
	data    *dataset.Set
	exec    engine.Executor
	// points are the unit's test points: indices in the split, the
	// inputs x (len·d values), labels, and the model's confidence and
	// prediction on each.
	points  []natural
	x       []float32
	labels  []int
	classes int
	// seed seeds the unit's random choices; progress reports the unit's
	// work in its own row-steps.
	seed     uint64
	progress attack.Progress
	// attackKey identifies the unit's attack (for saved examples).
	attackKey settingKey
	// holdout are the setting's held-out test points (holdouter protocols).
	holdout []int
	// memo returns in out the journaled result of a computation of the
	// setting that its points and attack do not change, described by v,
	// computing it (records and the gradient calls made) the first time.
	memo func(what string, v any, out any, compute func() (records any, steps int, err error)) error
}

// unitOutput is what a protocol's run returns: the records of the unit's
// points (a slice that the journal stores as JSON), the executor gradient
// calls it made, and its adversarial examples.
type unitOutput struct {
	points   any
	steps    int
	examples examples
}

// natural is what every protocol records of a test point: its index in the
// test split, its true label, and the model's confidence ||F(x)||∞ and
// prediction on it.
type natural struct {
	Index int     `json:"index"`
	Label int     `json:"label"`
	Conf  float64 `json:"conf"`
	Pred  int     `json:"pred"`
}

// settingBase is the part of every setting's result that all protocols
// share.
type settingBase struct {
	Setting
	Points int   `json:"points"`
	Steps  int64 `json:"gradient_calls"` // batched executor gradient calls
}

// decodePoints decodes the JSON records of every setting's units as P.
func decodePoints[P any](units [][]json.RawMessage) ([][]P, error) {
	out := make([][]P, len(units))
	for s, raws := range units {
		for _, raw := range raws {
			var ps []P
			if err := json.Unmarshal(raw, &ps); err != nil {
				return nil, fmt.Errorf("experiments: journal records: %w", err)
			}
			out[s] = append(out[s], ps...)
		}
	}
	return out, nil
}

// modelNames returns the distinct models of the settings, in order.
func modelNames(settings []settingBase) []string {
	var names []string
	for _, s := range settings {
		if !slices.Contains(names, s.Model) {
			names = append(names, s.Model)
		}
	}
	return names
}

// csvWriter writes results.csv rows: the setting, the threshold, the
// quantity, its count and its 95% interval; and, when rows is set, keeps
// them.
type csvWriter struct {
	w    *csv.Writer
	rows *[]quantityRow
}
