package experiments

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
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
			r, err := Run(context.Background(), p, env, Shard{})
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
			if _, err := Run(context.Background(), p, stopping, Shard{}); !errors.Is(err, errStop) {
				t.Fatalf("stopped run: %v, want the progress error", err)
			}
			j, err := OpenJournal(journalDir(c), mustFingerprint(t, c))
			if err != nil {
				t.Fatal(err)
			}
			if done, _ := j.Units(); len(done) != 1 {
				t.Fatalf("stopped run journaled %d units, want 1", len(done))
			}
			if _, err := Run(context.Background(), p, env, Shard{}); err != nil {
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
				r, err := Run(context.Background(), p, env, Shard{K: k, N: 2})
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

func mustFingerprint(t *testing.T, c *Config) string {
	t.Helper()
	fp, err := fingerprint(c)
	if err != nil {
		t.Fatal(err)
	}
	return fp
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
	}
}
