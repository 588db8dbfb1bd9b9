package experiments

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"confrobust/dataset"
	"confrobust/engine"
	"confrobust/tfmodel"
)

// Env is what a run needs from its caller (the runner).
type Env struct {
	// NewExecutor builds an executor for a loaded model. The runner picks
	// the engine (native or xla); experiments only see the interface.
	NewExecutor func(m *tfmodel.Model) (engine.Executor, error)
	// Executor describes the executor for the results ("native/pure-go",
	// "xla/cuda fp32", ...).
	Executor string
	// Shard selects the units this process runs; the zero value runs all.
	Shard Shard
	// Progress receives progress; nil means none.
	Progress Progress
	// Log receives one line per stage; nil means none.
	Log io.Writer
}

// Progress is told about the work of a run: Start once with the total
// work in row-steps (gradient evaluations of one input), Set as it goes,
// Finish at the end.
type Progress interface {
	Start(total int64)
	Set(done int64)
	Finish()
}

// Setting is one point of a sweep's grid: a model and the radii and
// weights the experiment uses.
type Setting struct {
	Model  string  `json:"model"`
	Eta    float64 `json:"eta"`
	Xi     float64 `json:"xi,omitempty"`
	Lambda float64 `json:"lambda,omitempty"`
}

// unit is one work unit: the points [Lo, Hi) of the sample of a setting.
type unit struct {
	ID      int
	Setting int // index into the grid
	Lo, Hi  int
}

// Plan is a config expanded into its grid and work units.
type Plan struct {
	Config   *Config
	Settings []Setting
	units    []unit
}

// NewPlan expands the config's sweeps. Units are numbered in a fixed order
// (setting-major, then points), so that shards and resumed runs agree.
func NewPlan(c *Config) *Plan {
	p := &Plan{Config: c}
	for _, m := range c.Models {
		for _, eta := range c.Attack.Eta {
			if c.Experiment != Embedding {
				p.Settings = append(p.Settings, Setting{Model: m.Name, Eta: eta})
				continue
			}
			xis := c.Defense.Xi
			if len(xis) == 0 {
				xis = []float64{eta}
			}
			for _, xi := range xis {
				for _, l := range c.Defense.Lambda {
					p.Settings = append(p.Settings, Setting{Model: m.Name, Eta: eta, Xi: xi, Lambda: l})
				}
			}
		}
	}
	for s := range p.Settings {
		for lo := 0; lo < c.Data.Points; lo += c.Data.UnitPoints {
			p.units = append(p.units, unit{ID: len(p.units), Setting: s, Lo: lo, Hi: min(lo+c.Data.UnitPoints, c.Data.Points)})
		}
	}
	return p
}

// Units returns the number of work units.
func (p *Plan) Units() int { return len(p.units) }

// rowSteps returns the planned gradient evaluations of a unit of m points
// (an upper bound for searches that stop early).
func (p *Plan) rowSteps(m int) int64 {
	c := p.Config
	k := int64(9) // wrong labels of a 10-class model
	a := int64(c.Attack.Iterations) * int64(c.Attack.Restarts)
	switch c.Experiment {
	case Embedding:
		d := int64(c.Defense.Iterations)
		switch c.Defense.Method {
		case "mcn", "hcnn":
			d *= 10
		case "ncn":
			d *= 10 * 9 // round 0 plus 8 bisection rounds
		}
		return int64(m) * k * (a + d)
	default:
		return int64(m) * k * a
	}
}

// GradientEvaluations returns the planned gradient evaluations of the
// whole run (one per input per step; an upper bound for CW, which stops an
// input once it succeeds).
func (p *Plan) GradientEvaluations() int64 {
	var n int64
	for _, u := range p.units {
		n += p.rowSteps(u.Hi - u.Lo)
	}
	return n
}

// unitSeed derives the seed of a unit's random choices from the run's seed,
// so that results do not depend on which process runs the unit.
func unitSeed(seed uint64, id int) uint64 {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], seed)
	binary.LittleEndian.PutUint64(b[8:], uint64(id))
	h := sha256.Sum256(b[:])
	return binary.LittleEndian.Uint64(h[:8])
}

// graph returns the architecture a model config names.
func graph(m ModelConfig) *tfmodel.Graph {
	switch m.Arch {
	case "wide_resnet":
		cfg := tfmodel.DefaultWideResNet
		cfg.Units, cfg.Image = m.Units, m.Image
		if len(m.Widths) == 4 {
			cfg.InitWidth = m.Widths[0]
			copy(cfg.Widths[:], m.Widths[1:])
		}
		return tfmodel.WideResNet(cfg)
	default:
		cfg := tfmodel.DefaultMNIST
		if len(m.Widths) == 3 {
			cfg = tfmodel.MNISTConfig{Conv1: m.Widths[0], Conv2: m.Widths[1], Hidden: m.Widths[2]}
		}
		return tfmodel.MNISTCNN(cfg)
	}
}

// LoadModel loads the checkpoint a model config names, checked against
// its architecture.
func LoadModel(m ModelConfig) (*tfmodel.Model, error) {
	model, err := tfmodel.LoadModel(graph(m), m.Checkpoint)
	if err != nil {
		return nil, fmt.Errorf("experiments: model %s: %w", m.Name, err)
	}
	return model, nil
}

// LoadData loads the test split of the config's data set.
func LoadData(c *Config) (*dataset.Set, error) {
	switch c.Data.Set {
	case "cifar10":
		return dataset.CIFAR10(c.Data.Dir, dataset.Test)
	default:
		if c.Data.Dir != "" {
			return dataset.MNISTFrom(c.Data.Dir, dataset.Test)
		}
		return dataset.MNIST(dataset.Test)
	}
}

// fingerprint identifies the run: the config's fingerprint and the bytes of
// every checkpoint's index (which hold the tensors' checksums), so that a
// retrained model never reuses stale results.
func fingerprint(c *Config) (string, error) {
	h := sha256.New()
	io.WriteString(h, c.Fingerprint())
	for _, m := range c.Models {
		prefix, err := tfmodel.CheckpointPrefix(m.Checkpoint)
		if err != nil {
			return "", fmt.Errorf("experiments: model %s: %w", m.Name, err)
		}
		data, err := os.ReadFile(tfmodel.IndexPath(prefix))
		if err != nil {
			return "", fmt.Errorf("experiments: model %s: %w", m.Name, err)
		}
		h.Write(data)
	}
	return hex.EncodeToString(h.Sum(nil)[:8]), nil
}

// logf writes one line to env.Log.
func (env *Env) logf(format string, a ...any) {
	if env.Log != nil {
		fmt.Fprintf(env.Log, format+"\n", a...)
	}
}

// journalDir and examplesDir are the run's state under Output.
func journalDir(c *Config) string  { return filepath.Join(c.Output, "journal") }
func examplesDir(c *Config) string { return filepath.Join(c.Output, "examples") }

// Run runs the units of the plan that env.Shard owns and that the journal
// does not hold yet, then, when every unit of the run is in the journal,
// writes the results (see WriteResults). It returns the results, or nil
// when units are missing (other shards still have to run and be merged).
func Run(ctx context.Context, p *Plan, env Env) (*Results, error) {
	c := p.Config
	fp, err := fingerprint(c)
	if err != nil {
		return nil, err
	}
	j, err := OpenJournal(journalDir(c), fp)
	if err != nil {
		return nil, err
	}
	var todo []unit
	var work int64
	for _, u := range p.units {
		if env.Shard.Owns(u.ID) && !j.Done(u.ID) {
			todo = append(todo, u)
			work += p.rowSteps(u.Hi - u.Lo)
		}
	}
	env.logf("%s: %d settings, %d units; shard %s has %d to run (%d already done)",
		c.Title, len(p.Settings), len(p.units), env.Shard, len(todo), countOwned(p, env.Shard)-len(todo))
	if len(todo) > 0 {
		if err := p.runUnits(ctx, j, todo, work, env); err != nil {
			return nil, err
		}
	}
	done, err := j.Units()
	if err != nil {
		return nil, err
	}
	if len(done) < len(p.units) {
		env.logf("%s: %d of %d units done; run the other shards, then merge their journals with -merge", c.Title, len(done), len(p.units))
		return nil, nil
	}
	r, err := p.collect(j, env.Executor)
	if err != nil {
		return nil, err
	}
	if err := WriteResults(c.Output, r); err != nil {
		return nil, err
	}
	return r, nil
}

func countOwned(p *Plan, s Shard) int {
	n := 0
	for _, u := range p.units {
		if s.Owns(u.ID) {
			n++
		}
	}
	return n
}

// runUnits runs the units, grouped by model so each model is loaded once.
func (p *Plan) runUnits(ctx context.Context, j *Journal, todo []unit, work int64, env Env) error {
	c := p.Config
	data, err := LoadData(c)
	if err != nil {
		return err
	}
	if env.Progress != nil {
		env.Progress.Start(work)
		defer env.Progress.Finish()
	}
	var base int64
	for _, mc := range c.Models {
		var mine []unit
		for _, u := range todo {
			if p.Settings[u.Setting].Model == mc.Name {
				mine = append(mine, u)
			}
		}
		if len(mine) == 0 {
			continue
		}
		model, err := LoadModel(mc)
		if err != nil {
			return err
		}
		exec, err := env.NewExecutor(model)
		if err != nil {
			return fmt.Errorf("experiments: model %s: %w", mc.Name, err)
		}
		points, err := p.samplePoints(ctx, data, exec)
		if err != nil {
			exec.Close()
			return fmt.Errorf("experiments: model %s: %w", mc.Name, err)
		}
		for _, u := range mine {
			steps := p.rowSteps(u.Hi - u.Lo)
			progress := func(done, total int) error {
				if env.Progress != nil && total > 0 {
					env.Progress.Set(base + int64(float64(steps)*float64(done)/float64(total)))
				}
				return nil
			}
			w := &unitWork{plan: p, unit: u, setting: p.Settings[u.Setting], data: data, exec: exec,
				points: points[u.Lo:u.Hi], seed: unitSeed(c.Seed, u.ID), progress: progress}
			rec, err := w.run(ctx)
			if err != nil {
				exec.Close()
				return fmt.Errorf("experiments: unit %d (%s η=%g): %w", u.ID, mc.Name, w.setting.Eta, err)
			}
			if err := j.Put(u.ID, rec); err != nil {
				exec.Close()
				return err
			}
			base += steps
			if env.Progress != nil {
				env.Progress.Set(base)
			}
		}
		if err := exec.Close(); err != nil {
			return err
		}
	}
	return nil
}

// samplePoints draws the run's test points: random ones for Separation
// (the paper samples test points whatever the model says), correctly
// classified ones otherwise.
func (p *Plan) samplePoints(ctx context.Context, data *dataset.Set, exec engine.Executor) ([]int, error) {
	c := p.Config
	if c.Experiment == Separation {
		idx := dataset.Sample(c.Data.Points, c.Seed, data.Len())
		if len(idx) < c.Data.Points {
			return nil, fmt.Errorf("data set %s has only %d points", data.Name, data.Len())
		}
		return idx, nil
	}
	k := exec.Model().Graph.Classes
	var logits []float32
	classify := func(x []float32, n int) ([]int, error) {
		if cap(logits) < n*k {
			logits = make([]float32, n*k)
		}
		if err := exec.Logits(logits[:n*k], x, n); err != nil {
			return nil, err
		}
		return argmax(logits[:n*k], n, k), nil
	}
	return dataset.SampleCorrect(ctx, data, c.Data.Points, c.Seed, classify, c.Engine.Batch)
}

func argmax(logits []float32, n, k int) []int {
	out := make([]int, n)
	for i := range out {
		row := logits[i*k : (i+1)*k]
		for j, v := range row {
			if v > row[out[i]] {
				out[i] = j
			}
		}
	}
	return out
}

// Merge copies the finished units of the shards' journals (their
// directories, or their output directories holding journal/) into the
// run's journal.
func Merge(p *Plan, dirs []string) error {
	fp, err := fingerprint(p.Config)
	if err != nil {
		return err
	}
	j, err := OpenJournal(journalDir(p.Config), fp)
	if err != nil {
		return err
	}
	srcs := make([]string, len(dirs))
	for i, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, journalRunFile)); err != nil {
			d = filepath.Join(d, "journal")
		}
		srcs[i] = d
	}
	if err := j.Merge(srcs...); err != nil {
		return err
	}
	// The saved adversarial examples sit beside each journal.
	dst := examplesDir(p.Config)
	for _, src := range srcs {
		ex := filepath.Join(filepath.Dir(src), "examples")
		entries, err := os.ReadDir(ex)
		if err != nil {
			continue // a shard that saved none
		}
		if err := os.MkdirAll(dst, 0o755); err != nil {
			return fmt.Errorf("experiments: merge: %w", err)
		}
		for _, e := range entries {
			if e.IsDir() || strings.HasPrefix(e.Name(), ".") || filepath.Clean(ex) == filepath.Clean(dst) {
				continue
			}
			data, err := os.ReadFile(filepath.Join(ex, e.Name()))
			if err != nil {
				return fmt.Errorf("experiments: merge: %w", err)
			}
			if err := WriteFileAtomic(filepath.Join(dst, e.Name()), data); err != nil {
				return fmt.Errorf("experiments: merge: %w", err)
			}
		}
	}
	return nil
}
