package main

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"confrobust/experiments"
	"confrobust/model"
	"confrobust/results/paper"
	"confrobust/tfckpt"
)

// syntheticCIFAR writes a CIFAR-10 test batch in the binary format (label
// byte, then 1024 red, 1024 green and 1024 blue bytes per record) and
// returns its directory.
func syntheticCIFAR(t *testing.T, dir string, records int) string {
	t.Helper()
	r := rand.New(rand.NewPCG(5, 5))
	data := make([]byte, 0, records*3073)
	for i := 0; i < records; i++ {
		data = append(data, byte(i%10))
		for j := 0; j < 3072; j++ {
			data = append(data, byte(r.IntN(256)))
		}
	}
	out := filepath.Join(dir, "cifar-10-batches-bin")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(out, "test_batch.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestPaperConfigs runs each paper-scale config end to end on a tiny
// WideResNet of Madry's layout (same names, fewer and narrower units) and
// synthetic CIFAR-10 data, scaled down with -set, after a dry run of the
// config as shipped (only the checkpoint and data swapped).
func TestPaperConfigs(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end runs")
	}
	dir := t.TempDir()
	data := syntheticCIFAR(t, dir, 400)
	widths := []int{4, 6, 8, 10}
	g := model.WideResNet(model.WideResNetConfig{Image: 32, InitWidth: 4, Widths: [3]int{6, 8, 10}, Units: 1, Classes: 10, InputScale: 255})
	for _, name := range []string{"adv", "natural"} {
		m, err := model.NewModel(g)
		if err != nil {
			t.Fatal(err)
		}
		m.InitRandom(uint64(len(name)))
		if err := m.Save(filepath.Join(dir, name, "checkpoint-70000")); err != nil {
			t.Fatal(err)
		}
		if err := tfckpt.WriteCheckpointState(filepath.Join(dir, name), filepath.Join(dir, name, "checkpoint-70000")); err != nil {
			t.Fatal(err)
		}
	}
	model := func(name string) string {
		return fmt.Sprintf(`{name=%q, arch="wide_resnet", checkpoint=%q, widths=%s, units=1}`, name, filepath.Join(dir, name),
			strings.ReplaceAll(fmt.Sprint(widths), " ", ","))
	}
	for _, tc := range []struct {
		config string
		models string
		scale  []string
	}{
		{"table1", "[" + model("adv") + "," + model("natural") + "]", []string{"data.points=4", "data.unit_points=2", "attack.iterations=2", "attack.restarts=1"}},
		{"table2", "[" + model("adv") + "]", []string{"data.points=3", "attack.eta=[0.01,0.03]", "attack.iterations=2", "attack.restarts=2"}},
		{"table3", "[" + model("natural") + "]", []string{"data.points=3", "attack.iterations=2", "attack.restarts=1"}},
		{"table4", "[" + model("adv") + "]", []string{"data.points=2", "attack.eta=[0.01]", "attack.iterations=2", "defense.iterations=2"}},
		{"adaptive-cifar10", "[" + model("adv") + "]", []string{"data.points=2", "data.unit_points=2", "reject.holdout=20", "attack.iterations=2",
			"defense.iterations=2", "adaptive.iterations=1", "adaptive.targets=1"}},
	} {
		t.Run(tc.config, func(t *testing.T) {
			sets := []string{"-set", "models=" + tc.models, "-set", fmt.Sprintf("data.dir=%q", data),
				"-set", fmt.Sprintf("output=%q", filepath.Join(dir, "out", tc.config)), "-set", "engine.batch=20"}
			cfg := filepath.Join("..", "configs", tc.config+".toml")
			if strings.HasPrefix(tc.config, "table") {
				checkShipped(t, tc.config, cfg)
			}
			stdout := runOK(t, append([]string{"-config", cfg, "-dry-run"}, sets...)...)
			if !strings.Contains(stdout, "estimated time") {
				t.Errorf("dry run:\n%s", stdout)
			}
			for _, s := range tc.scale {
				sets = append(sets, "-set", s)
			}
			runOK(t, append([]string{"-config", cfg, "-quiet"}, sets...)...)
			if _, err := os.Stat(filepath.Join(dir, "out", tc.config, "results.md")); err != nil {
				t.Error(err)
			}
		})
	}
}

// checkShipped asserts that a shipped paper-scale config runs the paper's
// protocol (Section 5, and results/paper for the grids), setting by
// setting, so that every number it reports has the paper's beside it.
func checkShipped(t *testing.T, table, cfg string) {
	t.Helper()
	c, err := experiments.Load(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if dep := c.PaperDepartures(); len(dep) > 0 {
		t.Errorf("%s departs from the paper's protocol:\n  %s", cfg, strings.Join(dep, "\n  "))
	}
	n, err := paper.Load()
	if err != nil {
		t.Fatal(err)
	}
	models := map[string]string{}
	for _, m := range c.Models {
		models[m.Name] = m.PaperModel
		if m.Arch != "wide_resnet" || len(m.Widths) != 0 || m.Units != 5 || m.Image != 32 {
			t.Errorf("%s: model %s is not Madry's WideResNet: %+v", cfg, m.Name, m)
		}
	}
	type want struct {
		experiment string
		points     int
		etas       []float64
		models     map[string]string
		iterations int
		restarts   int
		random     bool
	}
	w := map[string]want{
		"table1": {"separation", n.Table1.Points, []float64{n.Table1.Eta}, map[string]string{"adv": "adv_trained", "natural": "naturally_trained"}, 1000, 10, false},
		"table2": {"rejection", n.Table2.Points, n.Table2.Etas(), map[string]string{"adv": "adv_trained"}, 100, 10, true},
		"table3": {"rejection", n.Table3.Points, n.Table3.Etas(), map[string]string{"natural": "naturally_trained"}, 100, 10, true},
		"table4": {"embedding", 1000, []float64{n.Table4[0].Eta, n.Table4[1].Eta}, map[string]string{"adv": "adv_trained"}, 1000, 1, false},
	}[table]
	if c.Experiment != w.experiment || c.Data.Points != w.points || !slices.Equal(c.Attack.Eta, w.etas) ||
		c.Attack.Iterations != w.iterations || c.Attack.Restarts != w.restarts || *c.Attack.RandomStart != w.random ||
		c.Data.Set != "cifar10" || c.Data.Sample != "per_eta" || !maps.Equal(models, w.models) {
		t.Errorf("%s: experiment %s, %d points, η %v, %d iterations × %d restarts, random start %v, data %s (%s), models %v; want %+v",
			cfg, c.Experiment, c.Data.Points, c.Attack.Eta, c.Attack.Iterations, c.Attack.Restarts, *c.Attack.RandomStart, c.Data.Set, c.Data.Sample, models, w)
	}
	switch table {
	case "table1":
		if c.Attack.P != n.Table1.P {
			t.Errorf("%s: attack.p = %v, want %v", cfg, c.Attack.P, n.Table1.P)
		}
	case "table2", "table3":
		if !slices.Equal(c.Reject.P, []float64{0.90, 0.95, 0.99}) {
			t.Errorf("%s: reject.p = %v", cfg, c.Reject.P)
		}
	case "table4":
		if c.Defense.Method != "mcn" || len(c.Defense.Xi) != 0 || c.Defense.Iterations != 500 {
			t.Errorf("%s: defense %+v, want MCN with ξ = η and 500 iterations", cfg, c.Defense)
		}
	}
}
