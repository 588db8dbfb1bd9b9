package experiments

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"confrobust/results/paper"
	"confrobust/stats"
)

// paperConfig returns a config of the paper's protocol for a table, with
// overrides.
func paperConfig(t *testing.T, experiment, table string, sets ...string) *Config {
	t.Helper()
	text := `experiment = "` + experiment + `"
paper = "` + table + `"
[data]
set = "cifar10"
dir = "cifar"
points = 1000
[[models]]
name = "adv"
arch = "wide_resnet"
checkpoint = "adv"
paper_model = "adv_trained"
[[models]]
name = "nat"
arch = "wide_resnet"
checkpoint = "nat"
paper_model = "naturally_trained"
[attack]
eta = [0.010, 0.015, 0.020, 0.030]
iterations = 100
restarts = 10
p = 0.9
[reject]
p = [0.90, 0.95, 0.99]
[defense]
iterations = 500
`
	c, err := Parse([]byte(text), sets)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func numbers(t *testing.T) *paper.Numbers {
	t.Helper()
	n, err := paper.Load()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func rate(t *testing.T, k, n int) stats.Rate {
	t.Helper()
	r, err := stats.NewRate(k, n)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// rejectionResults returns results of every setting with the same counts
// of 1000 points.
func rejectionResults(t *testing.T, c *Config, awpr, rej, recall int) *rejectionReport {
	t.Helper()
	r := &rejectionReport{}
	for _, m := range c.Models {
		for _, s := range (rejection{}).grid(c, m.Name) {
			sr := rejectionResult{settingBase: settingBase{Setting: s, Points: 1000}, AWPR: rate(t, awpr, 1000)}
			for _, p := range c.Reject.P {
				sr.Rejection = append(sr.Rejection, stats.Rejection{P: p, AWPRRejection: rate(t, rej, 1000), Recall: rate(t, recall, 1000)})
			}
			r.results = append(r.results, sr)
		}
	}
	return r
}

func compareAll(t *testing.T, c *Config, rep report) ([]Comparison, []string) {
	t.Helper()
	cs := newComparisons(c.Paper)
	if err := rep.compare(c, numbers(t), cs); err != nil {
		t.Fatal(err)
	}
	return cs.done()
}

// TestPaperValuesOnlyBesideMatchingSettings: Table 2's numbers appear beside
// the adversarially trained model at the paper's radii, thresholds, points
// and budget, and nowhere else.
func TestPaperValuesOnlyBesideMatchingSettings(t *testing.T) {
	c := paperConfig(t, Rejection, "table2", "attack.eta=[0.010, 0.05]")
	cmps, notes := compareAll(t, c, rejectionResults(t, c, 110, 22, 867))
	// adv at η = 0.010: AWPR once, then 2 numbers per p.
	if len(cmps) != 1+2*3 {
		t.Fatalf("%d comparisons, want 7:\n%v", len(cmps), cmps)
	}
	for _, cmp := range cmps {
		if !strings.HasPrefix(cmp.Row, "adv η=0.010") {
			t.Errorf("paper value beside %q", cmp.Row)
		}
	}
	if cmps[0].Quantity != "AWPR (original)" || cmps[0].PaperK != 110 || cmps[0].PaperN != 1000 {
		t.Errorf("first comparison %+v, want AWPR 110/1000", cmps[0])
	}
	// The other three settings: adv at η = 0.05, natural at both radii.
	want := []string{"adv η=0.050: no paper value for this setting (attack.eta = 0.05",
		"nat η=0.010: no paper value for this setting (models.paper_model = \"naturally_trained\" (paper: adv_trained)",
		"nat η=0.050"}
	if len(notes) != 3 {
		t.Fatalf("notes %q, want 3", notes)
	}
	for i, w := range want {
		if !strings.HasPrefix(notes[i], w) {
			t.Errorf("note %q, want it to start %q", notes[i], w)
		}
	}

	// Any other parameter of the paper's protocol changed: no value at all.
	for _, set := range []string{"data.points=300", "attack.iterations=20", "attack.restarts=1", "data.set=\"mnist\"",
		"data.sample=\"shared\"", "attack.random_start=false"} {
		sets := []string{set}
		if strings.Contains(set, "mnist") {
			sets = append(sets, `models=[{name="adv", arch="mnist_cnn", checkpoint="m", paper_model="adv_trained"}]`)
		}
		if strings.Contains(set, "random_start") {
			sets = append(sets, "attack.restarts=1")
		}
		c := paperConfig(t, Rejection, "table2", sets...)
		if cmps, _ := compareAll(t, c, rejectionResults(t, c, 110, 22, 867)); len(cmps) != 0 {
			t.Errorf("-set %s: %d paper values beside a setting that is not the paper's", set, len(cmps))
		}
	}
	// A Madry-layout model of other widths is not Madry's model.
	c = paperConfig(t, Rejection, "table2", `models=[{name="adv", arch="wide_resnet", checkpoint="m", paper_model="adv_trained", widths=[16,32,64,128]}]`)
	if cmps, _ := compareAll(t, c, rejectionResults(t, c, 110, 22, 867)); len(cmps) != 0 {
		t.Errorf("paper values beside a narrower WideResNet")
	}
}

// TestTable1Columns: each paper model gets its own column's count (a swap
// of adv and natural fails), only at η = 0.03, p = 0.9 and 300 points.
func TestTable1Columns(t *testing.T) {
	c := paperConfig(t, Separation, "table1", "attack.eta=[0.03]", "data.points=300", "attack.iterations=1000")
	r := &separationReport{results: []separationResult{
		{settingBase: settingBase{Setting: Setting{Model: "adv", Eta: 0.03}}, Found: rate(t, 30, 300)},
		{settingBase: settingBase{Setting: Setting{Model: "nat", Eta: 0.03}}, Found: rate(t, 280, 300)},
	}}
	cmps, notes := compareAll(t, c, r)
	if len(cmps) != 2 || len(notes) != 0 {
		t.Fatalf("comparisons %v, notes %v", cmps, notes)
	}
	if cmps[0].PaperK != 26 || cmps[0].K != 30 || cmps[1].PaperK != 277 || cmps[1].K != 280 || cmps[0].PaperN != 300 {
		t.Errorf("Table 1 columns: %+v", cmps)
	}
	for _, set := range []string{"attack.p=0.95", "attack.eta=[0.0314]", "data.points=100"} {
		c := paperConfig(t, Separation, "table1", "attack.eta=[0.03]", "data.points=300", "attack.iterations=1000", set)
		r.results[0].Eta, r.results[1].Eta = c.Attack.Eta[0], c.Attack.Eta[0]
		if cmps, _ := compareAll(t, c, r); len(cmps) != 0 {
			t.Errorf("-set %s: Table 1 values beside another setting", set)
		}
	}
}

// TestTable4Columns: label-change and confidence-reduction counts are set
// beside the paper's own column (a swap of the columns fails).
func TestTable4Columns(t *testing.T) {
	c := paperConfig(t, Embedding, "table4", "attack.eta=[0.010]", "attack.iterations=1000", "attack.restarts=1",
		`models=[{name="adv", arch="wide_resnet", checkpoint="m", paper_model="adv_trained"}]`)
	r := &embeddingReport{results: []embeddingResult{{settingBase: settingBase{Setting: Setting{Model: "adv", Eta: 0.010, Xi: 0.010}},
		LabelChange:         stats.RankCounts{First: 90, Second: 200, Other: 60, Missing: 2},
		ConfidenceReduction: stats.RankCounts{First: 8600, Second: 48},
	}}}
	cmps, notes := compareAll(t, c, r)
	if len(notes) != 0 {
		t.Fatalf("notes %v", notes)
	}
	want := map[string][4]int{ // paper k, paper n, ours k, ours n
		"label change share":            {352, 9000, 352, 9000},
		"label change: 1st":             {94, 352, 90, 352},
		"label change: 2nd":             {208, 352, 200, 352},
		"label change: missing":         {0, 352, 2, 352},
		"confidence reduction: 1st":     {8621, 8648, 8600, 8648},
		"confidence reduction: 2nd":     {27, 8648, 48, 8648},
		"confidence reduction: missing": {0, 8648, 0, 8648},
	}
	found := 0
	for _, cmp := range cmps {
		if w, ok := want[cmp.Quantity]; ok {
			found++
			if got := [4]int{cmp.PaperK, cmp.PaperN, cmp.K, cmp.N}; got != w {
				t.Errorf("%s: %v, want %v", cmp.Quantity, got, w)
			}
		}
	}
	if found != len(want) || len(cmps) != 9 {
		t.Errorf("%d comparisons (%d checked), want 9", len(cmps), found)
	}
}

// TestCheckFailsOnInconsistentNumber: a number far from the paper's fails
// -check, and the report says which, with its p-values.
func TestCheckFailsOnInconsistentNumber(t *testing.T) {
	c := paperConfig(t, Rejection, "table2", "attack.eta=[0.010]", `models=[{name="adv", arch="wide_resnet", checkpoint="m", paper_model="adv_trained"}]`)
	for _, tc := range []struct {
		awpr, rej, recall int
		ok                bool
	}{
		{110, 22, 867, false}, // recall 86.7% at every p: 72.6% at p = .99 is far off
		{300, 22, 867, false},
	} {
		cmps, notes := compareAll(t, c, rejectionResults(t, c, tc.awpr, tc.rej, tc.recall))
		res := &Results{Title: "t", config: c, Comparisons: cmps, PaperNotes: notes}
		err := res.Check()
		if (err == nil) != tc.ok {
			t.Errorf("AWPR %d: Check() = %v, want ok = %v", tc.awpr, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "Holm-adjusted") {
			t.Errorf("Check error lacks the p-values: %v", err)
		}
	}
	// The paper's own counts pass.
	var cs = newComparisons("table2")
	for _, row := range numbers(t).Table2.Rows {
		k := paperCount(row.Recall, 1000)
		if err := cs.add("r", "r", "recall", k, 1000, k, 1000); err != nil {
			t.Fatal(err)
		}
	}
	cmps, _ := cs.done()
	if err := (&Results{config: c, Comparisons: cmps}).Check(); err != nil {
		t.Errorf("the paper's own numbers fail: %v", err)
	}
	if err := (&Results{Title: "t", config: c}).Check(); err == nil {
		t.Error("Check with nothing to compare passed")
	}
}

// TestCheckSimulatedPassRates simulates Table 2 reproductions at n = 1000:
// with the truth at the paper's values (both the paper's counts and ours
// drawn from it), the rule passes at least 95% of the time; with AWPR
// shifted by 10 points at every radius, it fails nearly always. The
// measured rates are stated in README.
func TestCheckSimulatedPassRates(t *testing.T) {
	if testing.Short() {
		t.Skip("simulation")
	}
	rows := numbers(t).Table2.Rows
	r := rand.New(rand.NewPCG(4, 4))
	binom := func(n int, p float64) int {
		k := 0
		for range n {
			if r.Float64() < p {
				k++
			}
		}
		return k
	}
	passRate := func(sims, n int, shift float64) float64 {
		pass := 0
		for range sims {
			cs := newComparisons("table2")
			for _, row := range rows {
				key := "η"
				for _, q := range []struct {
					key, name string
					v, d      float64
				}{{key + fmtFloat(row.Eta), "AWPR", row.AWPR, shift}, {fmtFloat(row.Eta) + fmtFloat(row.P), "rej", row.AWPRRejection, 0},
					{fmtFloat(row.Eta) + fmtFloat(row.P), "recall", row.Recall, 0}} {
					truth := q.v / 100
					if err := cs.add(q.key, q.key, q.name, binom(1000, truth), 1000, binom(n, math.Min(1, truth+q.d/100)), n); err != nil {
						t.Fatal(err)
					}
				}
			}
			cmps, _ := cs.done()
			if len(cmps) != 4+2*12 {
				t.Fatalf("%d numbers, want 28", len(cmps))
			}
			ok := true
			for _, c := range cmps {
				ok = ok && c.Consistent
			}
			if ok {
				pass++
			}
		}
		return float64(pass) / float64(sims)
	}
	if got := passRate(400, 1000, 0); got < 0.95 {
		t.Errorf("faithful n = 1000 run passes %.1f%% of the time, want ≥ 95%%", 100*got)
	} else {
		t.Logf("faithful run, n = 1000: passes %.1f%%", 100*got)
	}
	if got := passRate(200, 1000, 10); got > 0.05 {
		t.Errorf("run with AWPR shifted by 10 points passes %.1f%% of the time, want ≤ 5%%", 100*got)
	} else {
		t.Logf("AWPR +10 points, n = 1000: passes %.1f%%", 100*got)
	}
}

// TestPaperPointsOnlyOnMatchingRadii: the figures of a run at η = 0.010 and
// 0.05 carry the paper's points of η = 0.010 alone, and none for a model
// that is not the paper's.
func TestPaperPointsOnlyOnMatchingRadii(t *testing.T) {
	c := paperConfig(t, Rejection, "table2", "attack.eta=[0.010, 0.05]")
	r := rejectionResults(t, c, 110, 22, 867)
	awpr, recall := r.paperSeries(c, "adv", &numbers(t).Table2)
	if len(awpr) != 1 || awpr[0].Eta != 0.010 || len(recall) != 1 || recall[0].Label != "η = 0.010" {
		t.Errorf("paper series %+v, %+v; want η = 0.010 alone", awpr, recall)
	}
	if awpr, recall := r.paperSeries(c, "nat", &numbers(t).Table2); len(awpr)+len(recall) != 0 {
		t.Errorf("paper points on the naturally trained model's figure of Table 2")
	}
}
