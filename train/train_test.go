package train

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"confrobust/dataset"
	"confrobust/engine"
	"confrobust/engine/native"
	"confrobust/internal/job"
	"confrobust/model"
)

// tiny is a training config of a tiny CNN (widths 4, 8, 32) on a few hundred
// MNIST images, with a cheap evaluation.
const tiny = `
experiment = "train"
seed = 7

[data]
points = 300

[model]
widths = [4, 8, 32]

[train]
steps = 6
batch = 20
checkpoint_every = 3
log_every = 1000

[eval]
points = 100
pgd_points = 10
eps = [0.1]
iterations = 2
`

func init() {
	// Every Run loads MNIST; decode each split once for the whole test.
	type key struct {
		name, dir string
		split     dataset.Split
	}
	var mu sync.Mutex
	cache := map[key]*dataset.Set{}
	loadData = func(name, dir string, split dataset.Split) (*dataset.Set, error) {
		mu.Lock()
		defer mu.Unlock()
		k := key{name, dir, split}
		if s, ok := cache[k]; ok {
			return s, nil
		}
		s, err := dataset.Load(name, dir, split)
		if err == nil {
			cache[k] = s
		}
		return s, err
	}
}

func newExec(m *model.Model) (engine.Executor, error) { return native.New(m, native.WithWorkers(2)) }

// needMNIST skips the test when the MNIST files are not available.
func needMNIST(t *testing.T) {
	t.Helper()
	if _, err := loadData("mnist", "", dataset.Test); err != nil {
		t.Skipf("MNIST not available (%v): run `go mod download %s`", err, dataset.MNISTModule)
	}
}

func tinyConfig(t *testing.T, sets ...string) *Config {
	t.Helper()
	c, err := Parse([]byte(tiny), sets)
	if err != nil {
		t.Fatal(err)
	}
	c.Title = "tiny"
	c.Output = filepath.Join(t.TempDir(), "out")
	return c
}

func loadFinal(t *testing.T, c *Config) *model.Model {
	t.Helper()
	m, err := model.LoadModel(c.Graph(), c.Output)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestLossFalls(t *testing.T) {
	needMNIST(t)
	c := tinyConfig(t, "train.steps=60", "train.checkpoint_every=1000")
	var first, last job.Report
	env := Env{NewExecutor: newExec, Progress: func(r job.Report) error {
		if r.Phase == "train" {
			if r.Done == 1 {
				first = r
			}
			last = r
		}
		return nil
	}}
	card, err := Run(context.Background(), c, env)
	if err != nil {
		t.Fatal(err)
	}
	if !(last.Metrics["loss"] < 0.7*first.Metrics["loss"]) {
		t.Errorf("loss went from %.4f to %.4f, want a fall of 30%% or more", first.Metrics["loss"], last.Metrics["loss"])
	}
	if card.Clean.Total != 100 || card.Clean.Rate < 0.5 {
		t.Errorf("clean accuracy %d/%d after 60 steps, want ≥ 50%%", card.Clean.Correct, card.Clean.Total)
	}
	if len(card.PGD) != 1 || card.PGD[0].Accuracy.Total != 10 || card.PGD[0].Accuracy.Correct > 10 {
		t.Errorf("PGD results %+v", card.PGD)
	}
	for _, name := range []string{"CARD.md", "card.json", "checkpoint", "checkpoint.index", "checkpoint.data-00000-of-00001"} {
		if _, err := os.Stat(filepath.Join(c.Output, name)); err != nil {
			t.Error(err)
		}
	}
	matches, _ := filepath.Glob(filepath.Join(c.Output, "checkpoint-*"))
	more, _ := filepath.Glob(filepath.Join(c.Output, "optimizer-*"))
	matches = append(matches, more...)
	if len(matches) > 0 {
		t.Errorf("periodic checkpoints left after the run: %v", matches)
	}
	// The card's clean accuracy is the reloaded model's.
	m := loadFinal(t, c)
	ex, _ := newExec(m)
	defer ex.Close()
	test, _ := loadData("mnist", "", dataset.Test)
	logits := make([]float32, 100*10)
	if err := ex.Logits(logits, test.Images[:100*784], 100); err != nil {
		t.Fatal(err)
	}
	correct := 0
	for i := 0; i < 100; i++ {
		if argmax(logits[i*10:(i+1)*10]) == test.Labels[i] {
			correct++
		}
	}
	if correct != card.Clean.Correct {
		t.Errorf("reloaded model: %d correct, card says %d", correct, card.Clean.Correct)
	}

	// A rerun of a finished run does nothing and returns the same card.
	calls := 0
	env.Progress = func(job.Report) error { calls++; return nil }
	again, err := Run(context.Background(), c, env)
	if err != nil {
		t.Fatal(err)
	}
	if calls != 0 || again.Clean != card.Clean {
		t.Errorf("rerun: %d progress calls, clean %+v, want 0 and %+v", calls, again.Clean, card.Clean)
	}
}

// TestSaveReload checks that the trained model's bundle reloads bit for bit
// with Madry's variable names.
func TestSaveReload(t *testing.T) {
	needMNIST(t)
	c := tinyConfig(t)
	set, err := loadData("mnist", "", dataset.Train)
	if err != nil {
		t.Fatal(err)
	}
	set = set.Subset(dataset.Sample(300, 1, 300))
	tr, err := newTrainer(c, set, Env{NewExecutor: newExec})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.exec.Close()
	if err := tr.loop(context.Background()); err != nil {
		t.Fatal(err)
	}
	m := loadFinal(t, c)
	var names []string
	for _, s := range m.Specs {
		names = append(names, s.Name)
		if !bitsEqual(m.Params[s.Name], tr.model.Params[s.Name]) {
			t.Errorf("%s differs after reload", s.Name)
		}
	}
	want := "Variable Variable_1 Variable_2 Variable_3 Variable_4 Variable_5 Variable_6 Variable_7"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("variables %s, want %s", got, want)
	}
}

func bitsEqual(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

func firstDiff(t *testing.T, a, b *model.Model) {
	t.Helper()
	for _, s := range a.Specs {
		x, y := a.Params[s.Name], b.Params[s.Name]
		for i := range x {
			if math.Float32bits(x[i]) != math.Float32bits(y[i]) {
				t.Errorf("%s[%d]: %v (%08x) vs %v (%08x)", s.Name, i, x[i], math.Float32bits(x[i]), y[i], math.Float32bits(y[i]))
				return
			}
		}
	}
}

// TestResume trains 6 steps straight and 6 steps interrupted after a
// checkpoint at step 3 (as if killed during step 4, and as if stopped
// gracefully at step 4), and compares the final weights bit for bit.
func TestResume(t *testing.T) {
	needMNIST(t)
	for _, tc := range []struct {
		name string
		sets []string
	}{
		{"adam-natural", nil},
		{"adam-pgd-ramp", []string{"adversarial.method=pgd", "adversarial.iterations=3", "adversarial.ramp_epochs=0.5"}},
		{"momentum-pgd-cosine", []string{"train.optimizer=momentum", "train.schedule=cosine", "adversarial.method=pgd", "adversarial.iterations=2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			straight := tinyConfig(t, tc.sets...)
			if _, err := Run(context.Background(), straight, Env{NewExecutor: newExec}); err != nil {
				t.Fatal(err)
			}
			want := loadFinal(t, straight)

			// Killed: the directory as it was right after the checkpoint
			// of step 3, copied before step 4 could commit anything.
			stopped := tinyConfig(t, tc.sets...)
			killed := filepath.Join(t.TempDir(), "killed")
			stop := errors.New("stop")
			env := Env{NewExecutor: newExec, Progress: func(r job.Report) error {
				if r.Phase == "train" && r.Done == 3 {
					if err := os.CopyFS(killed, os.DirFS(stopped.Output)); err != nil {
						return err
					}
				}
				if r.Phase == "train" && r.Done == 4 {
					return stop
				}
				return nil
			}}
			_, err := Run(context.Background(), stopped, env)
			if !errors.Is(err, stop) || !errors.Is(err, errStop) {
				t.Fatalf("stopped run: %v, want the stop error", err)
			}
			if _, err := os.Stat(filepath.Join(stopped.Output, "checkpoint-4.index")); err != nil {
				t.Errorf("a graceful stop at step 4 wrote no checkpoint: %v", err)
			}
			for name, c := range map[string]*Config{"stopped": stopped, "killed": tinyConfig(t, tc.sets...)} {
				if name == "killed" {
					c.Output = killed
				}
				resumed := 0
				env := Env{NewExecutor: newExec, Progress: func(r job.Report) error {
					if r.Phase == "train" {
						resumed++
					}
					return nil
				}}
				if _, err := Run(context.Background(), c, env); err != nil {
					t.Fatalf("%s: resume: %v", name, err)
				}
				wantSteps := map[string]int{"stopped": 2, "killed": 3}[name]
				if resumed != wantSteps {
					t.Errorf("%s: resumed run took %d steps, want %d", name, resumed, wantSteps)
				}
				got := loadFinal(t, c)
				firstDiff(t, want, got)
			}
		})
	}
}

func TestResumeOtherConfig(t *testing.T) {
	needMNIST(t)
	c := tinyConfig(t, "train.steps=3", "train.checkpoint_every=2")
	stop := errors.New("stop")
	env := Env{NewExecutor: newExec, Progress: func(r job.Report) error {
		if r.Done == 2 {
			return stop
		}
		return nil
	}}
	if _, err := Run(context.Background(), c, env); !errors.Is(err, stop) {
		t.Fatalf("got %v, want the stop error", err)
	}
	other := tinyConfig(t, "train.steps=3", "train.learning_rate=0.01")
	other.Output = c.Output
	_, err := Run(context.Background(), other, Env{NewExecutor: newExec})
	if err == nil || !strings.Contains(err.Error(), "another training run") {
		t.Errorf("resume with another learning rate: %v, want a fingerprint error", err)
	}
}

func TestNaNFailsFast(t *testing.T) {
	needMNIST(t)
	c := tinyConfig(t, "train.optimizer=momentum", "train.learning_rate=1e30", "train.checkpoint_every=1")
	_, err := Run(context.Background(), c, Env{NewExecutor: newExec})
	t.Log(err)
	if err == nil || !strings.Contains(err.Error(), "NaN or Inf") && !strings.Contains(err.Error(), "loss is") {
		t.Fatalf("got %v, want a NaN/Inf loss error", err)
	}
	if _, err := os.Stat(filepath.Join(c.Output, "checkpoint.index")); err == nil {
		t.Error("a poisoned run saved a final model")
	}
}

func TestBadConfig(t *testing.T) {
	for _, tc := range []struct {
		set, key string
	}{
		{"train.learning_rate=-1", "train.learning_rate"},
		{"train.optimizer=\"sgd\"", "train.optimizer"},
		{"train.batch=-1", "train.batch"},
		{"train.batch=500", "train.batch"},
		{"train.steps=-2", "train.steps"},
		{"train.schedule=\"step\"", "train.schedule"},
		{"train.beta2=1", "train.beta2"},
		{"train.checkpoint_every=-1", "train.checkpoint_every"},
		{"adversarial.method=\"fgsm\"", "adversarial.method"},
		{"adversarial.eps=1.5", "adversarial.eps"},
		{"eval.eps=[0.1,2]", "eval.eps"},
		{"eval.points=20000", "eval.points"},
		{"eval.restarts=-1", "eval.restarts"},
		{"model.widths=[4,8]", "model.widths"},
		{"model.arch=\"wide_resnet\"", "model.arch"},
		{"data.set=\"cifar10\"", "data.set"},
		{"engine.backend=\"gpu\"", "engine.backend"},
		{"experiment=\"rejection\"", "experiment"},
		{"train.epoch=3", "train.epoch"},
		{"bogus=1", "bogus"},
	} {
		t.Run(tc.set, func(t *testing.T) {
			sets := []string{tc.set}
			if strings.HasPrefix(tc.set, "adversarial.eps") {
				sets = append([]string{"adversarial.method=pgd"}, sets...)
			}
			_, err := Parse([]byte(tiny), sets)
			if err == nil || !strings.Contains(err.Error(), tc.key) {
				t.Errorf("got %v, want an error naming %s", err, tc.key)
			}
		})
	}
	if _, err := Parse([]byte(tiny), []string{"adversarial.method=pgd", "train.epochs=2", "train.steps=0"}); err != nil {
		t.Errorf("valid config: %v", err)
	}
}

func TestShippedConfigs(t *testing.T) {
	for _, name := range []string{"train-mnist-natural.toml", "train-mnist-adv.toml"} {
		path := filepath.Join("..", "configs", name)
		ok, err := IsConfig(path)
		if err != nil || !ok {
			t.Errorf("IsConfig(%s) = %v, %v", name, ok, err)
			continue
		}
		c, err := Load(path, nil)
		if err != nil {
			t.Error(err)
			continue
		}
		perEpoch, total := c.Schedule(60000)
		t.Logf("%s: %s; %d steps (%d per epoch) → %s", name, recipe(c), total, perEpoch, c.Output)
	}
	if ok, err := IsConfig(filepath.Join("..", "configs", "table2.toml")); err != nil || ok {
		t.Errorf("IsConfig(table2.toml) = %v, %v, want false", ok, err)
	}
}

func ExampleConfig_Schedule() {
	c, _ := Parse([]byte("experiment = \"train\"\n[train]\nepochs = 2\n"), nil)
	perEpoch, total := c.Schedule(60000)
	fmt.Println(perEpoch, total, c.Train.Optimizer, c.Train.LearningRate, c.Train.Batch)
	// Output: 1200 2400 adam 0.001 50
}

func TestCancelResumes(t *testing.T) {
	needMNIST(t)
	sets := []string{"adversarial.method=pgd", "adversarial.iterations=2", "train.checkpoint_every=1000"}
	straight := tinyConfig(t, sets...)
	if _, err := Run(context.Background(), straight, Env{NewExecutor: newExec}); err != nil {
		t.Fatal(err)
	}
	c := tinyConfig(t, sets...)
	ctx, cancel := context.WithCancel(context.Background())
	_, err := Run(ctx, c, Env{NewExecutor: newExec, Progress: func(r job.Report) error {
		if r.Done == 2 {
			cancel()
		}
		return nil
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if _, err := os.Stat(filepath.Join(c.Output, "optimizer-2.index")); err != nil {
		t.Fatalf("no checkpoint at the cancellation: %v", err)
	}
	if _, err := Run(context.Background(), c, Env{NewExecutor: newExec}); err != nil {
		t.Fatal(err)
	}
	firstDiff(t, loadFinal(t, straight), loadFinal(t, c))
}

func TestDryRun(t *testing.T) {
	needMNIST(t)
	c := tinyConfig(t, "adversarial.method=pgd", "adversarial.iterations=2")
	var out strings.Builder
	if err := DryRun(context.Background(), &out, c, Env{NewExecutor: newExec, Executor: "native"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "estimated time: training") {
		t.Errorf("dry run printed:\n%s", out.String())
	}
	if _, err := os.Stat(c.Output); err == nil {
		t.Errorf("dry run created %s", c.Output)
	}
}

// TestDamagedStateRefused: a state file altered on disk is not trusted.
func TestDamagedStateRefused(t *testing.T) {
	needMNIST(t)
	c := tinyConfig(t)
	if _, err := Run(context.Background(), c, Env{NewExecutor: newExec}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(c.Output, stateName)
	data, err := os.ReadFile(path)
	if err != nil || !strings.Contains(string(data), `"sha256"`) {
		t.Fatalf("state %s: %v", data, err)
	}
	damaged := strings.Replace(string(data), `"step": 6`, `"step": 5`, 1)
	if damaged == string(data) {
		t.Fatalf("state has no step 6: %s", data)
	}
	os.WriteFile(path, []byte(damaged), 0o644)
	os.Remove(filepath.Join(c.Output, "card.json")) // so that the rerun reads the state
	if _, err := Run(context.Background(), c, Env{NewExecutor: newExec}); err == nil || !strings.Contains(err.Error(), "does not match its SHA-256") {
		t.Errorf("run on a damaged state: %v", err)
	}
}

// TestStrongEvaluation: eval.strong adds to the card PGD-40, PGD with
// restarts on the cross-entropy and on the CW margin, and their union at
// each radius, with intervals. Its PGD-40 row on the first images is the
// card's own PGD-40 on them (same seed, same images), the union is robust
// on no more images than any attack, and a config without it keeps its
// evaluation fingerprint (so shipped cards stay valid).
func TestStrongEvaluation(t *testing.T) {
	needMNIST(t)
	if got, want := tinyConfig(t, "eval.strong.points=0").evalFingerprint(), tinyConfig(t).evalFingerprint(); got != want {
		t.Errorf("eval.strong.points = 0 changes the evaluation fingerprint: %s, want %s", got, want)
	}
	c := tinyConfig(t, "train.steps=30", "eval.strong.points=10", "eval.strong.eps=[0.1]", "eval.strong.iterations=3", "eval.strong.restarts=2")
	card, err := Run(context.Background(), c, Env{NewExecutor: newExec})
	if err != nil {
		t.Fatal(err)
	}
	if len(card.Strong) != 4 {
		t.Fatalf("%d strong rows, want 4: %+v", len(card.Strong), card.Strong)
	}
	want := []struct {
		iters, restarts int
		loss            string
	}{{2, 1, "cross-entropy"}, {3, 2, "cross-entropy"}, {3, 2, "CW margin"}, {0, 0, "union"}}
	for i, r := range card.Strong {
		if r.Iterations != want[i].iters || r.Restarts != want[i].restarts || r.Loss != want[i].loss || r.Eps != 0.1 || r.Robust.N != 10 {
			t.Errorf("row %d: %+v, want %+v", i, r, want[i])
		}
		if r.Robust.K < card.Strong[3].Robust.K || !(r.Robust.Lo <= r.Robust.Value && r.Robust.Value <= r.Robust.Hi) {
			t.Errorf("row %d: robust %+v, union %d", i, r.Robust, card.Strong[3].Robust.K)
		}
	}
	if card.Strong[0].Robust.K != card.PGD[0].Accuracy.Correct {
		t.Errorf("strong PGD-40 robust on %d, the card's PGD-40 on %d of the same images", card.Strong[0].Robust.K, card.PGD[0].Accuracy.Correct)
	}
	md, err := os.ReadFile(filepath.Join(c.Output, "CARD.md"))
	if err != nil || !strings.Contains(string(md), "## Stronger evaluation") || !strings.Contains(string(md), "union of the above, ε = 0.1") {
		t.Errorf("CARD.md lacks the stronger evaluation: %v\n%s", err, md)
	}
}

// TestShippedFingerprints: the shipped training configs are the ones the
// embedded models were trained and evaluated with: their training
// fingerprint is the one in models/<name>/train-state.json, so rerunning
// a config resumes (and does not refuse) the model, and their evaluation
// fingerprint the one in card.json, so the card is current. A change of the
// config types that moves a fingerprint fails here before it strands the
// shipped models.
func TestShippedFingerprints(t *testing.T) {
	for _, name := range []string{"mnist-adv", "mnist-natural"} {
		c, err := Load(filepath.Join("..", "configs", "train-"+name+".toml"), nil)
		if err != nil {
			t.Fatal(err)
		}
		var st struct{ Fingerprint string }
		var card struct{ Fingerprint string }
		for path, v := range map[string]any{stateName: &st, "card.json": &card} {
			data, err := os.ReadFile(filepath.Join("..", "models", name, path))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(data, v); err != nil {
				t.Fatal(err)
			}
		}
		if got := c.trainFingerprint(); got != st.Fingerprint {
			t.Errorf("%s: training fingerprint %s, models/%s/%s has %s", name, got, name, stateName, st.Fingerprint)
		}
		if got := c.evalFingerprint(); got != card.Fingerprint {
			t.Errorf("%s: evaluation fingerprint %s, models/%s/card.json has %s (rerun the training config to evaluate again)", name, got, name, card.Fingerprint)
		}
	}
}
