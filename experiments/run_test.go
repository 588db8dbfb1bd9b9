package experiments

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"confrobust/dataset"
	"confrobust/engine"
	"confrobust/engine/native"
	"confrobust/internal/job"
	"confrobust/model"
)

// tinyGraph is Madry's MNIST CNN with few channels: every layer, fast.
var tinyGraph = model.MNISTConfig{Conv1: 4, Conv2: 8, Hidden: 32}

// tinyRun returns the plan of a config of the experiment on a tiny random
// model and a synthetic 28×28 data set (the model classifies its first 30
// images correctly by construction), and the env that runs it natively.
func tinyRun(t *testing.T, experiment, extra string, sets ...string) (*Plan, job.Env) {
	t.Helper()
	dir := t.TempDir()
	m, err := model.NewModel(model.MNISTCNN(tinyGraph))
	if err != nil {
		t.Fatal(err)
	}
	m.InitRandom(7)
	ckpt := filepath.Join(dir, "model", "checkpoint")
	if err := m.Save(ckpt); err != nil {
		t.Fatal(err)
	}
	text := fmt.Sprintf(`experiment = %q
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
checkpoint = %q
`, experiment, filepath.Join(dir, "out"), extra, ckpt)
	c, err := Parse([]byte(text), sets)
	if err != nil {
		t.Fatal(err)
	}
	c.Title = "tiny-" + experiment
	env := job.Env{NewExecutor: func(m *model.Model) (engine.Executor, error) { return native.New(m) }, Executor: "native (test)"}
	p := NewPlan(c)
	p.data = syntheticSet(t, m, 40)
	return p, env
}

// syntheticSet returns n random 28×28 images; the first 30 are labelled
// with m's prediction, the rest with another label.
func syntheticSet(t *testing.T, m *model.Model, n int) *dataset.Set {
	t.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	s := &dataset.Set{Name: "synthetic", Shape: dataset.Shape{28, 28, 1}, Classes: 10,
		Images: make([]float32, n*784), Labels: make([]int, n)}
	for i := range s.Images {
		s.Images[i] = r.Float32()
	}
	e, err := native.New(m)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	logits := make([]float32, n*10)
	if err := e.Logits(logits, s.Images, n); err != nil {
		t.Fatal(err)
	}
	for i, p := range argmax(logits, n, 10) {
		s.Labels[i] = p
		if i >= 30 {
			s.Labels[i] = (p + 1) % 10
		}
	}
	return s
}

var protocolCases = []struct {
	experiment, extra string
}{
	{Separation, "[attack]\neta = [0.2]\niterations = 4\np = 0.5\n"},
	{Rejection, "[attack]\neta = [0.01, 0.05]\niterations = 3\nrestarts = 2\n[reject]\np = [0.5, 0.9]\n"},
	{Embedding, "[attack]\neta = [0.1]\niterations = 3\n[defense]\niterations = 2\n"},
	{Adaptive, "[attack]\neta = [0.03]\niterations = 2\n[defense]\niterations = 2\n[reject]\nholdout = 10\nkeep = [1, 0.9]\n[adaptive]\niterations = 2\ntargets = 2\n"},
}

// TestRunResumes runs each protocol once uninterrupted, then again stopped
// by its progress callback after the first unit and resumed, and as two
// shards: results.json must be byte-identical each time.
func TestRunResumes(t *testing.T) {
	if testing.Short() {
		t.Skip("runs attacks")
	}
	for _, tc := range protocolCases {
		t.Run(tc.experiment, func(t *testing.T) {
			p, env := tinyRun(t, tc.experiment, tc.extra)
			c := p.Config
			r, err := Run(context.Background(), p, env, RunOptions{})
			if err != nil || r == nil {
				t.Fatalf("Run: %v, %v", r, err)
			}
			want := readFile(t, filepath.Join(c.Output, "results.json"))
			units := p.Units()

			// Stop in the second unit: the progress callback refuses once
			// work past the first unit's is reported.
			if err := os.RemoveAll(c.Output); err != nil {
				t.Fatal(err)
			}
			first, err := p.unitSteps(p.units[0])
			if err != nil {
				t.Fatal(err)
			}
			errStop := errors.New("stop")
			stopping := env
			stopping.Progress = func(r job.Report) error {
				if r.Done > first {
					return errStop
				}
				return nil
			}
			if _, err := Run(context.Background(), p, stopping, RunOptions{}); !errors.Is(err, errStop) {
				t.Fatalf("stopped run: %v, want the progress error", err)
			}
			if n := journaledUnits(t, p); n != 1 {
				t.Fatalf("stopped run journaled %d units, want 1", n)
			}
			if _, err := Run(context.Background(), p, env, RunOptions{}); err != nil {
				t.Fatal(err)
			}
			if got := readFile(t, filepath.Join(c.Output, "results.json")); !bytes.Equal(got, want) {
				t.Errorf("resumed results differ from the uninterrupted run")
			}

			// Two shards into the same output, then the aggregation.
			if err := os.RemoveAll(c.Output); err != nil {
				t.Fatal(err)
			}
			for k := range 2 {
				r, err := Run(context.Background(), p, env, RunOptions{Shard: Shard{K: k, N: 2}})
				if err != nil {
					t.Fatal(err)
				}
				if k == 0 && r != nil && units > 1 {
					t.Error("shard 0 of 2 alone wrote results")
				}
			}
			if got := readFile(t, filepath.Join(c.Output, "results.json")); !bytes.Equal(got, want) {
				t.Errorf("sharded results differ from one run")
			}
		})
	}
}

// journaledUnits counts the unit files of a run's journal.
// journaledUnits counts the plan's units in the journal (not memos such
// as the adaptive experiment's calibration).
func journaledUnits(t *testing.T, p *Plan) int {
	t.Helper()
	n := 0
	for _, k := range p.keys {
		units, err := filepath.Glob(filepath.Join(journalDir(p.Config), "s-"+k.hash, unitPrefix+"*"+unitSuffix))
		if err != nil {
			t.Fatal(err)
		}
		n += len(units)
	}
	return n
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestPlannedWork checks the planned gradient evaluations of each protocol
// against attack's RowSteps by hand: 6 points, 9 wrong labels.
func TestPlannedWork(t *testing.T) {
	for _, tc := range []struct {
		experiment, extra string
		want              int64
	}{
		{Separation, protocolCases[0].extra, 6 * 9 * 4},
		{Rejection, protocolCases[1].extra, 2 * 6 * 9 * 3 * 2},
		// PGD on 54 rows × 3 iterations, then MCN: 54 rows × 10 labels × 2.
		{Embedding, protocolCases[2].extra, 54*3 + 54*10*2},
		{Embedding, "[attack]\neta = [0.1]\niterations = 3\n[defense]\nmethod = \"ncn\"\np = 0.9\niterations = 2\n", 54*3 + 54*10*2*9},
	} {
		p, _ := tinyRun(t, tc.experiment, tc.extra)
		got, err := p.GradientEvaluations()
		if err != nil || got != tc.want {
			t.Errorf("%s: %d gradient evaluations, %v; want %d", tc.experiment, got, err, tc.want)
		}
	} // Adaptive: the Evaluation's own plan at both thresholds, and the
	// held-out calibration once: 10 points × 10 labels × 2 steps.
	p, _ := tinyRun(t, Adaptive, protocolCases[3].extra)
	ev, err := adaptive{}.evaluation(p.Config, p.Settings[0], 0, 0, nil).RowSteps(6, 10)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := p.GradientEvaluations(); err != nil || got != int64(2*ev+10*10*2) {
		t.Errorf("adaptive: %d gradient evaluations, %v; want 2 × %d + 200", got, err, ev)
	}
}

// countingEnv returns env with a counter of the executors it builds and of
// the work each run planned.
func countingEnv(env job.Env, execs *int, planned *int64) job.Env {
	newExec := env.NewExecutor
	env.NewExecutor = func(m *model.Model) (engine.Executor, error) { *execs++; return newExec(m) }
	env.Progress = func(r job.Report) error {
		if r.Done == 0 {
			*planned = r.Total
		}
		return nil
	}
	return env
}

// TestEditedSweepReusesSettings: adding an η to a finished sweep computes
// only the new η's units, and the results equal a fresh run's of the
// edited sweep bit for bit; changing reject.p computes nothing; more
// points compute only the new points.
func TestEditedSweepReusesSettings(t *testing.T) {
	if testing.Short() {
		t.Skip("runs attacks")
	}
	extra := "[attack]\neta = [0.01, 0.05]\niterations = 3\nrestarts = 2\n[reject]\np = [0.5, 0.9]\n"
	p, env := tinyRun(t, Rejection, extra)
	if _, err := Run(context.Background(), p, env, RunOptions{}); err != nil {
		t.Fatal(err)
	}
	out := p.Config.Output

	// One more η: only its 2 units (6 points × 9 labels × 2 × 3 steps) run.
	var execs int
	var planned int64
	edited, _ := tinyRun(t, Rejection, extra, "attack.eta=[0.01, 0.03, 0.05]", `output="`+out+`"`)
	edited.data = p.data
	edited.Config.Title = p.Config.Title
	if _, err := Run(context.Background(), edited, countingEnv(env, &execs, &planned), RunOptions{}); err != nil {
		t.Fatal(err)
	}
	if planned != 6*9*2*3 {
		t.Errorf("adding η = 0.03 planned %d gradient evaluations, want %d (that η alone)", planned, 6*9*2*3)
	}
	got := readFile(t, filepath.Join(out, "results.json"))
	fresh, _ := tinyRun(t, Rejection, extra, "attack.eta=[0.01, 0.03, 0.05]")
	fresh.data = p.data
	fresh.Config.Title = p.Config.Title
	if _, err := Run(context.Background(), fresh, env, RunOptions{}); err != nil {
		t.Fatal(err)
	}
	want := readFile(t, filepath.Join(fresh.Config.Output, "results.json"))
	// The runs' files lie in other directories; the digests and every
	// number agree.
	if g, w := withoutPaths(t, got), withoutPaths(t, want); g != w {
		t.Errorf("results of the edited sweep differ from a fresh run of it:\n%s\n%s", g, w)
	}

	// Another threshold: nothing to compute, no executor built, and the new
	// threshold in the results.
	execs, planned = 0, -1
	rep, _ := tinyRun(t, Rejection, extra, "attack.eta=[0.01, 0.03, 0.05]", "reject.p=[0.6]", `output="`+out+`"`)
	rep.data = p.data
	rep.Config.Title = p.Config.Title
	r, err := Run(context.Background(), rep, countingEnv(env, &execs, &planned), RunOptions{ReportOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if execs != 0 || planned != -1 {
		t.Errorf("a change of reject.p built %d executors and planned %d evaluations, want none", execs, planned)
	}
	if rej := r.Settings.([]rejectionResult)[0].Rejection; len(rej) != 1 || rej[0].P != 0.6 {
		t.Errorf("rejection rows %+v, want one at p = 0.6", rej)
	}

	// More points: the first 6 are the units already done.
	more, _ := tinyRun(t, Rejection, extra, "data.points=9", `output="`+out+`"`)
	more.data = p.data
	if _, err := Run(context.Background(), more, countingEnv(env, &execs, &planned), RunOptions{}); err != nil {
		t.Fatal(err)
	}
	if planned != 2*3*9*2*3 {
		t.Errorf("3 more points planned %d gradient evaluations, want %d", planned, 2*3*9*2*3)
	}
	// -report with units missing is refused.
	missing, _ := tinyRun(t, Rejection, extra, "data.points=12", `output="`+out+`"`)
	missing.data = p.data
	if _, err := Run(context.Background(), missing, env, RunOptions{ReportOnly: true}); err == nil || !strings.Contains(err.Error(), "run without -report") {
		t.Errorf("-report with missing units: %v", err)
	}
}

// withoutPaths returns results.json with the paths (the config, the
// checkpoints) left out.
func withoutPaths(t *testing.T, data []byte) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	delete(m, "config")
	for _, mm := range m["models"].([]any) {
		delete(mm.(map[string]any), "checkpoint")
	}
	out, _ := json.Marshal(m)
	return string(out)
}
