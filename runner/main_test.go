package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"confrobust/model"
)

// tinyRun writes a small MNIST CNN of Madry's structure with random weights
// and a config of the given experiment, and returns the config's path.
func tinyRun(t *testing.T, experiment, extra string) string {
	t.Helper()
	dir := t.TempDir()
	m, err := model.NewModel(model.MNISTCNN(model.MNISTConfig{Conv1: 4, Conv2: 8, Hidden: 32}))
	if err != nil {
		t.Fatal(err)
	}
	m.InitRandom(7)
	if err := m.Save(filepath.Join(dir, "model", "checkpoint")); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`experiment = %q
seed = 3
output = %q
%s
[data]
points = 6
unit_points = 3

[[models]]
name = "adv"
arch = "mnist_cnn"
widths = [4, 8, 32]
checkpoint = "model/checkpoint"
`, experiment, filepath.Join(dir, "out"), extra)
	path := filepath.Join(dir, "tiny.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

const rejectionTOML = `paper = "table2"

[attack]
eta = [0.01, 0.02]
iterations = 3
restarts = 2

[reject]
p = [0.5, 0.9]
`

func runOK(t *testing.T, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := runMain(args, &stdout, &stderr); code != 0 {
		t.Fatalf("runner %q: exit %d\n%s", args, code, stderr.String())
	}
	return stdout.String()
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestRejectionEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run; needs the MNIST module")
	}
	cfg := tinyRun(t, "rejection", rejectionTOML)
	out := filepath.Join(filepath.Dir(cfg), "out")
	stdout := runOK(t, "-config", cfg, "-quiet")
	if !strings.Contains(stdout, "AWPR (original)") || !strings.Contains(stdout, "Beside the paper") {
		t.Errorf("summary lacks the tables:\n%s", stdout)
	}
	for _, f := range []string{"results.json", "results.csv", "results.md", "meta.json", "awpr-adv.png", "awpr-adv.svg",
		"recall-adv.png", "confidences-adv-eta0.010.png"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("missing %s", f)
		}
	}
	if m, _ := filepath.Glob(filepath.Join(out, "examples", "a-*", "unit-000000.index")); len(m) != 2 {
		t.Errorf("examples of the first unit of each η: %q", m)
	}
	want := readFile(t, filepath.Join(out, "results.json"))

	// A run interrupted after some units resumes from its journal and gives
	// the same bytes: simulate the interruption with shard 1/2 alone.
	if err := os.RemoveAll(out); err != nil {
		t.Fatal(err)
	}
	runOK(t, "-config", cfg, "-quiet", "-shard", "1/2")
	if _, err := os.Stat(filepath.Join(out, "results.json")); err == nil {
		t.Fatal("a shard alone wrote results")
	}
	runOK(t, "-config", cfg, "-quiet")
	if got := readFile(t, filepath.Join(out, "results.json")); !bytes.Equal(got, want) {
		t.Errorf("resumed run differs from the uninterrupted one")
	}

	// Shards written to separate directories merge into the same results.
	if err := os.RemoveAll(out); err != nil {
		t.Fatal(err)
	}
	base := filepath.Dir(cfg)
	for k := range 2 {
		runOK(t, "-config", cfg, "-quiet", "-shard", fmt.Sprintf("%d/2", k), "-set", fmt.Sprintf("output=%q", filepath.Join(base, fmt.Sprint("shard", k))))
	}
	runOK(t, "-config", cfg, "-quiet", "-merge", filepath.Join(base, "shard0")+","+filepath.Join(base, "shard1"))
	if got := readFile(t, filepath.Join(out, "results.json")); !bytes.Equal(got, want) {
		t.Errorf("merged shards differ from one run")
	}
	if m, _ := filepath.Glob(filepath.Join(out, "examples", "a-*", "unit-00000[03].index")); len(m) != 4 {
		t.Errorf("merge did not bring the shards' examples: %q", m)
	}
}

func TestSeparationAndEmbeddingEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run; needs the MNIST module")
	}
	for _, tc := range []struct{ experiment, extra, want string }{
		{"separation", "paper = \"table1\"\n[attack]\neta = [0.2]\niterations = 5\np = 0.5\n", "Prop. 4 upper bound"},
		{"embedding", "paper = \"table4\"\n[attack]\neta = [0.1]\niterations = 3\n[defense]\niterations = 3\n", "confidence reduction"},
		{"embedding", "[attack]\neta = [0.1]\niterations = 3\n[defense]\nmethod = \"renyi\"\nalpha = 2.0\niterations = 3\n", "label change"},
	} {
		t.Run(tc.experiment, func(t *testing.T) {
			cfg := tinyRun(t, tc.experiment, tc.extra)
			stdout := runOK(t, "-config", cfg, "-quiet")
			if !strings.Contains(stdout, tc.want) {
				t.Errorf("summary lacks %q:\n%s", tc.want, stdout)
			}
		})
	}
}

func TestDryRun(t *testing.T) {
	if testing.Short() {
		t.Skip("calibrates an executor")
	}
	cfg := tinyRun(t, "rejection", rejectionTOML)
	stdout := runOK(t, "-config", cfg, "-dry-run")
	// 2 radii × 6 points × 9 targets × 2 restarts × 3 iterations.
	for _, want := range []string{"grid (2 settings)", "work units: 4", "gradient evaluations: 648", "estimated time"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("dry run lacks %q:\n%s", want, stdout)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	cfg := tinyRun(t, "rejection", rejectionTOML)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{}, "need -config"},
		{[]string{"-config", cfg, "-set", "attack.etaa=[0.1]"}, "unknown key attack.etaa"},
		{[]string{"-config", cfg, "-set", "reject.p=[1.5]"}, "reject.p: 1.5 must lie in (0, 1)"},
		{[]string{"-config", cfg, "-shard", "2/2"}, "want k/n"},
		{[]string{"-config", cfg, "-backend", "tpu"}, "engine.backend"},
	} {
		var stdout, stderr bytes.Buffer
		if code := runMain(tc.args, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q", tc.args, code, stderr.String(), tc.want)
		}
	}
}

func TestInspect(t *testing.T) {
	stdout := runOK(t, "-inspect", "../tfckpt/testdata/tfckpt/half_plus_two_cpu/variables")
	for _, key := range []string{"a", "b", "c"} {
		if !strings.Contains(stdout, "\n"+key+" ") && !strings.Contains(stdout, key) {
			t.Errorf("listing lacks %s:\n%s", key, stdout)
		}
	}
	stdout = runOK(t, "-inspect", "../tfckpt/testdata/tfckpt/half_plus_two_cpu/variables", "-tensor", "c")
	if !strings.Contains(stdout, "3") {
		t.Errorf("value of c not printed:\n%s", stdout)
	}
}

// TestEmbeddingFromSavedExamples defends the adversarial examples an
// earlier embedding run saved, with another defense, without attacking
// again: the label-change split (a property of the examples) is the same.
func TestEmbeddingFromSavedExamples(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run; needs the MNIST module")
	}
	cfg := tinyRun(t, "embedding", "[attack]\neta = [0.1]\niterations = 3\n[defense]\niterations = 3\n")
	base := filepath.Dir(cfg)
	runOK(t, "-config", cfg, "-quiet")
	runOK(t, "-config", cfg, "-quiet", "-set", "defense.examples="+quote(filepath.Join(base, "out", "examples")),
		"-set", "defense.method=shannon", "-set", "output="+quote(filepath.Join(base, "again")))
	split := func(dir string) (lc, total int) {
		var res struct {
			Settings []struct {
				LabelChange         struct{ First, Second, Other, Missing int } `json:"label_change"`
				ConfidenceReduction struct{ First, Second, Other, Missing int } `json:"confidence_reduction"`
			}
		}
		if err := json.Unmarshal(readFile(t, filepath.Join(dir, "results.json")), &res); err != nil {
			t.Fatal(err)
		}
		s := res.Settings[0]
		lc = s.LabelChange.First + s.LabelChange.Second + s.LabelChange.Other + s.LabelChange.Missing
		cr := s.ConfidenceReduction.First + s.ConfidenceReduction.Second + s.ConfidenceReduction.Other + s.ConfidenceReduction.Missing
		return lc, lc + cr
	}
	lc1, n1 := split(filepath.Join(base, "out"))
	lc2, n2 := split(filepath.Join(base, "again"))
	if n1 != 54 || n2 != 54 || lc1 != lc2 {
		t.Errorf("label changes %d of %d, then %d of %d from the saved examples; want equal, of 54", lc1, n1, lc2, n2)
	}
	// Examples of another run (other points) are refused.
	var stdout, stderr bytes.Buffer
	code := runMain([]string{"-config", cfg, "-quiet", "-set", "defense.examples=" + quote(filepath.Join(base, "out", "examples")),
		"-set", "seed=4", "-set", "output=" + quote(filepath.Join(base, "other"))}, &stdout, &stderr)
	if code == 0 || !strings.Contains(stderr.String(), "has none of this attack") {
		t.Errorf("examples of another sample: exit %d, %s", code, stderr.String())
	}
}

// TestDryRunMissingInputs: the paper-scale config without its data and
// checkpoints still plans, names what is missing with the command that
// fetches it, estimates the time on random weights, and exits 0.
func TestDryRunMissingInputs(t *testing.T) {
	if testing.Short() {
		t.Skip("calibrates the WideResNet")
	}
	dir := t.TempDir()
	stdout := runOK(t, "-config", "../configs/table2.toml", "-dry-run", "-set", "engine.batch=2",
		"-set", fmt.Sprintf("data.dir=%q", filepath.Join(dir, "cifar")),
		"-set", fmt.Sprintf(`models=[{name="adv", arch="wide_resnet", checkpoint=%q, paper_model="adv_trained"}]`, filepath.Join(dir, "madry")))
	for _, want := range []string{"gradient evaluations: 36000000", "data cifar10: MISSING", "scripts/fetch-cifar10.sh",
		"model adv: MISSING", "scripts/fetch-madry.sh", "random weights", "estimated time", "2 input(s) missing"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("dry run lacks %q:\n%s", want, stdout)
		}
	}
}

// TestExecutorMeta runs a tiny experiment on backend auto (native here,
// with a warning) and on xla (GoMLX's pure-Go backend through
// $GOMLX_BACKEND), and checks that meta.json and results.json say which
// executor, plugin and precision ran, and that both find the same points
// with the same decisions.
func TestExecutorMeta(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end runs")
	}
	t.Setenv("CONFROBUST_PJRT_PLUGIN", "")
	t.Setenv("VIRTUAL_ENV", t.TempDir())
	t.Setenv("HOME", t.TempDir())
	t.Setenv("GOMLX_BACKEND", "go")
	cfg := tinyRun(t, "rejection", rejectionTOML)
	type meta struct {
		Executor, Backend, Plugin, Precision string
		Batch                                int
		CompileSeconds                       float64 `json:"compile_seconds"`
	}
	points := map[string]string{}
	for _, tc := range []struct {
		backend, executor, precision string
		batch                        int
	}{
		{"auto", "native", "float32", 100},
		{"xla", "xla", "fp32", 450},
	} {
		out := filepath.Join(filepath.Dir(cfg), "out-"+tc.backend)
		var stdout, stderr bytes.Buffer
		args := []string{"-config", cfg, "-quiet", "-backend", tc.backend, "-set", fmt.Sprintf("output=%q", out)}
		if code := runMain(args, &stdout, &stderr); code != 0 {
			t.Fatalf("%s: exit %d\n%s", tc.backend, code, stderr.String())
		}
		if warned := strings.Contains(stderr.String(), "running on the native CPU engine"); warned != (tc.backend == "auto") {
			t.Errorf("%s: warning %v:\n%s", tc.backend, warned, stderr.String())
		}
		var m meta
		if err := json.Unmarshal(readFile(t, filepath.Join(out, "meta.json")), &m); err != nil {
			t.Fatal(err)
		}
		if m.Backend != tc.executor || m.Precision != tc.precision || m.Batch != tc.batch || !strings.HasPrefix(m.Executor, tc.executor) ||
			(tc.executor == "xla") != (m.CompileSeconds > 0) {
			t.Errorf("%s: meta %+v", tc.backend, m)
		}
		var res struct {
			Executor string          `json:"executor"`
			Points   json.RawMessage `json:"points"`
		}
		if err := json.Unmarshal(readFile(t, filepath.Join(out, "results.json")), &res); err != nil {
			t.Fatal(err)
		}
		if res.Executor != m.Executor {
			t.Errorf("%s: results.json executor %q, meta.json %q", tc.backend, res.Executor, m.Executor)
		}
		points[tc.backend] = string(res.Points)
	}
	// The journal fingerprint includes the executor, so each ran in full.
	if points["auto"] == "" || points["xla"] == "" {
		t.Fatal("no points")
	}
}
