package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"confrobust/model"
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
	} {
		t.Run(tc.config, func(t *testing.T) {
			sets := []string{"-set", "models=" + tc.models, "-set", fmt.Sprintf("data.dir=%q", data),
				"-set", fmt.Sprintf("output=%q", filepath.Join(dir, "out", tc.config)), "-set", "engine.batch=20"}
			cfg := filepath.Join("..", "configs", tc.config+".toml")
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
