package experiments

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"confrobust/model"
	"confrobust/stats"
)

// The paper's numbers are set beside ours only where our setting is the
// paper's in every parameter that changes them: the data, the model, the
// number of points, the radius, the threshold and the attack's budget. The
// protocols below are Section 5's, with the attack budgets this harness
// uses where the paper gives none (Table 1's "search as long as possible"
// is 10 starts × 1000 steps per wrong label, see README).

// Paper models a config's paper_model key can name.
const (
	AdvTrained       = "adv_trained"       // Madry et al.'s adversarially trained CIFAR-10 WideResNet
	NaturallyTrained = "naturally_trained" // its naturally trained twin
)

// paperProtocol is the protocol of one table of the paper.
type paperProtocol struct {
	points      int
	models      []string // paper models with a column in the table
	etas        []float64
	p           float64 // Table 1's threshold; 0 for none
	iterations  int
	restarts    int
	randomStart bool
	// Table 4's defense: MCN with ξ = η and this many iterations per label.
	defenseIterations int
}

var paperProtocols = map[string]paperProtocol{
	// Table 1: 300 random test points, a wrong label of confidence ≥ 0.9
	// within η = δ = 0.030.
	"table1": {points: 300, models: []string{AdvTrained, NaturallyTrained}, etas: []float64{0.030}, p: 0.9,
		iterations: 1000, restarts: 10},
	// Tables 2 and 3: 1000 correctly classified points, PGD with 10 random
	// starts and 100 iterations per wrong label.
	"table2": {points: 1000, models: []string{AdvTrained}, etas: []float64{0.010, 0.015, 0.020, 0.030},
		iterations: 100, restarts: 10, randomStart: true},
	"table3": {points: 1000, models: []string{NaturallyTrained}, etas: []float64{0.010},
		iterations: 100, restarts: 10, randomStart: true},
	// Table 4: 1000 correct points × 9 targets, PGD of 1000 iterations (one
	// start, none random); MCN_ξ with ξ = η, 500 iterations, no random start.
	"table4": {points: 1000, models: []string{AdvTrained}, etas: []float64{0.010, 0.015},
		iterations: 1000, restarts: 1, defenseIterations: 500},
}

// paperMismatch returns how the setting s of config c departs from the
// protocol of the table c.Paper names, one "key = ours (paper: theirs)"
// per parameter; none means the paper's values may be set beside ours.
func paperMismatch(c *Config, s Setting) []string {
	pp, ok := paperProtocols[c.Paper]
	if !ok {
		return []string{fmt.Sprintf("paper = %q names no table", c.Paper)}
	}
	var out []string
	differ := func(key string, ours, theirs any) {
		out = append(out, fmt.Sprintf("%s = %v (paper: %v)", key, ours, theirs))
	}
	if c.Data.Set != "cifar10" {
		differ("data.set", c.Data.Set, "cifar10")
	}
	mc, _ := c.model(s.Model)
	if !slices.Contains(pp.models, mc.PaperModel) {
		differ("models.paper_model", quoteOrNone(mc.PaperModel), strings.Join(pp.models, " or "))
	}
	if !isMadryWRN(mc) {
		differ("models.arch", mc.Arch+" "+fmt.Sprint(mc.Widths), "Madry's wide_resnet (default widths, 5 units, 32×32)")
	}
	if c.Data.Points != pp.points {
		differ("data.points", c.Data.Points, pp.points)
	}
	if !slices.ContainsFunc(pp.etas, func(e float64) bool { return near(e, s.Eta) }) {
		differ("attack.eta", s.Eta, pp.etas)
	}
	if pp.p != 0 && !near(c.Attack.P, pp.p) {
		differ("attack.p", c.Attack.P, pp.p)
	}
	if c.Attack.Iterations != pp.iterations {
		differ("attack.iterations", c.Attack.Iterations, pp.iterations)
	}
	if c.Attack.Restarts != pp.restarts {
		differ("attack.restarts", c.Attack.Restarts, pp.restarts)
	}
	if c.Experiment != Separation && *c.Attack.RandomStart != pp.randomStart {
		differ("attack.random_start", *c.Attack.RandomStart, pp.randomStart)
	}
	if c.Data.Sample != SamplePerEta && c.Experiment != Separation {
		differ("data.sample", quoteOrNone(c.Data.Sample), quoteOrNone(SamplePerEta))
	}
	if pp.defenseIterations > 0 {
		if c.Defense.Method != "mcn" {
			differ("defense.method", quoteOrNone(c.Defense.Method), `"mcn"`)
		}
		if !near(s.Xi, s.Eta) {
			differ("defense.xi", s.Xi, "ξ = η")
		}
		if c.Defense.Iterations != pp.defenseIterations {
			differ("defense.iterations", c.Defense.Iterations, pp.defenseIterations)
		}
		if c.Defense.Examples != "" {
			differ("defense.examples", quoteOrNone(c.Defense.Examples), "the run's own attack")
		}
	}
	return out
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func quoteOrNone(s string) string {
	if s == "" {
		return "none"
	}
	return fmt.Sprintf("%q", s)
}

// isMadryWRN reports whether the model config is Madry's CIFAR-10
// WideResNet itself, not a smaller one of the same layout.
func isMadryWRN(m ModelConfig) bool {
	if m.Arch != "wide_resnet" || m.Units != model.DefaultWideResNet.Units || m.Image != model.DefaultWideResNet.Image {
		return false
	}
	d := model.DefaultWideResNet
	return len(m.Widths) == 0 || slices.Equal(m.Widths, []int{d.InitWidth, d.Widths[0], d.Widths[1], d.Widths[2]})
}

// model returns the model config of the given name.
func (c *Config) model(name string) (ModelConfig, bool) {
	for _, m := range c.Models {
		if m.Name == name {
			return m, true
		}
	}
	return ModelConfig{}, false
}

// CheckAlpha is the family-wise error rate of -check: a run is
// inconsistent with the paper when some number's Holm-adjusted p-value is
// below it.
const CheckAlpha = 0.05

// comparisons collects the paper's numbers beside ours, and the settings
// that have none.
type comparisons struct {
	table string
	list  []Comparison
	notes []string
	seen  map[string]bool
}

func newComparisons(table string) *comparisons {
	return &comparisons{table: table, seen: map[string]bool{}}
}

// add sets our count k of n beside the paper's count pk of pn for one
// quantity of a row. A quantity the table repeats (Table 2's AWPR without
// rejection at every p) is added once per row key.
func (cs *comparisons) add(key, row, quantity string, pk, pn, k, n int) error {
	if cs.seen[key+"\x00"+quantity] {
		return nil
	}
	cs.seen[key+"\x00"+quantity] = true
	rate, err := stats.NewRate(k, n)
	if err != nil {
		return err
	}
	pv, err := stats.FisherExact(k, n, pk, pn)
	if err != nil {
		return err
	}
	cs.list = append(cs.list, Comparison{Table: cs.table, Row: row, Quantity: quantity,
		Paper: 100 * float64(pk) / float64(pn), PaperK: pk, PaperN: pn,
		Ours: 100 * rate.Value, K: k, N: n, Lo: 100 * rate.Lo, Hi: 100 * rate.Hi, P: pv})
	return nil
}

// none records that a setting has no paper value, and why.
func (cs *comparisons) none(row string, why []string) {
	cs.notes = append(cs.notes, fmt.Sprintf("%s: no paper value for this setting (%s)", row, strings.Join(why, ", ")))
}

// done adjusts the p-values for the whole family (Holm) and marks each
// number consistent with the paper or not.
func (cs *comparisons) done() ([]Comparison, []string) {
	ps := make([]float64, len(cs.list))
	for i, c := range cs.list {
		ps[i] = c.P
	}
	for i, adj := range stats.Holm(ps) {
		cs.list[i].PHolm = adj
		cs.list[i].Consistent = adj >= CheckAlpha
	}
	return cs.list, cs.notes
}

// paperCount returns the count a percentage of n stands for (the paper
// prints rates of n = 1000 points to 0.1%).
func paperCount(percent float64, n int) int {
	return int(math.Round(percent * float64(n) / 100))
}

// PaperDepartures returns, for every setting of the grid, how it departs
// from the protocol of the table the config's paper key names ("adv
// η=0.050: attack.eta = 0.05 (paper: [0.01 0.015 0.02 0.03])"); none
// means every setting gets the paper's numbers beside it. A config that
// names no table has nothing to depart from.
func (c *Config) PaperDepartures() []string {
	if c.Paper == "" {
		return nil
	}
	var out []string
	for _, s := range NewPlan(c).Settings {
		why := paperMismatch(c, s)
		if c.Experiment == Embedding && s.Lambda != 0 {
			why = append(why, fmt.Sprintf("defense.lambda = %g (paper: 0)", s.Lambda))
		}
		if len(why) > 0 {
			out = append(out, fmt.Sprintf("%s η=%.3f: %s", s.Model, s.Eta, strings.Join(why, ", ")))
		}
	}
	return out
}
