package experiments

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"confrobust/attack"
	"confrobust/dataset"
	"confrobust/engine"
	"confrobust/internal/atomicfile"
	"confrobust/internal/job"
	"confrobust/model"
	"confrobust/tfckpt"
)

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
	proto    protocol
	units    []unit
	classes  map[string]int // by model name
	data     *dataset.Set   // the test split; nil until loaded (tests set it)
}

// NewPlan expands the config's sweeps. Units are numbered in a fixed order
// (setting-major, then points), so that shards and resumed runs agree.
func NewPlan(c *Config) *Plan {
	p := &Plan{Config: c, proto: protocols[c.Experiment], classes: map[string]int{}}
	for _, m := range c.Models {
		p.Settings = append(p.Settings, p.proto.grid(c, m.Name)...)
		p.classes[m.Name] = graph(m).Classes
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

// unitSteps returns the planned gradient evaluations of a unit.
func (p *Plan) unitSteps(u unit) (int64, error) {
	s := p.Settings[u.Setting]
	return p.proto.rowSteps(p.Config, s, u.Hi-u.Lo, p.classes[s.Model])
}

// GradientEvaluations returns the planned gradient evaluations of the
// whole run (one per input per step; an upper bound for searches that stop
// early, such as CW once an input succeeds).
func (p *Plan) GradientEvaluations() (int64, error) {
	var n int64
	for _, u := range p.units {
		k, err := p.unitSteps(u)
		if err != nil {
			return 0, err
		}
		n += k
	}
	return n, nil
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

// sampleSeed returns the seed of the test points of setting s: the run's
// seed for data.sample = "shared", else a seed derived from it and η, so
// that every radius has its own sample (settings of one η, such as
// Table 4's ξ and λ sweeps, share it).
func (p *Plan) sampleSeed(s Setting) uint64 {
	c := p.Config
	if c.Data.Sample == SampleShared {
		return c.Seed
	}
	var b [24]byte
	copy(b[:8], "sample/η")
	binary.LittleEndian.PutUint64(b[8:16], c.Seed)
	binary.LittleEndian.PutUint64(b[16:], math.Float64bits(s.Eta))
	h := sha256.Sum256(b[:])
	return binary.LittleEndian.Uint64(h[:8])
}

// graph returns the architecture a model config names.
func graph(m ModelConfig) *model.Graph {
	switch m.Arch {
	case "wide_resnet":
		cfg := model.DefaultWideResNet
		cfg.Units, cfg.Image = m.Units, m.Image
		if len(m.Widths) == 4 {
			cfg.InitWidth = m.Widths[0]
			copy(cfg.Widths[:], m.Widths[1:])
		}
		return model.WideResNet(cfg)
	default:
		cfg := model.DefaultMNIST
		if len(m.Widths) == 3 {
			cfg = model.MNISTConfig{Conv1: m.Widths[0], Conv2: m.Widths[1], Hidden: m.Widths[2]}
		}
		return model.MNISTCNN(cfg)
	}
}

// LoadModel loads the checkpoint a model config names, checked against
// its architecture.
func LoadModel(m ModelConfig) (*model.Model, error) {
	loaded, err := model.LoadModel(graph(m), m.Checkpoint)
	if err != nil {
		return nil, fmt.Errorf("experiments: model %s: %w", m.Name, err)
	}
	return loaded, nil
}

// loadData loads the test split of the config's data set, once.
func (p *Plan) loadData() (*dataset.Set, error) {
	if p.data == nil {
		data, err := dataset.Load(p.Config.Data.Set, p.Config.Data.Dir, dataset.Test)
		if err != nil {
			return nil, err
		}
		p.data = data
	}
	return p.data, nil
}

// fingerprint identifies the run: the config's fingerprint and the bytes of
// every checkpoint's index (which hold the tensors' checksums), so that a
// retrained model never reuses stale results.
func fingerprint(c *Config) (string, error) {
	h := sha256.New()
	io.WriteString(h, c.Fingerprint())
	for _, m := range c.Models {
		prefix, err := tfckpt.CheckpointPrefix(m.Checkpoint)
		if err != nil {
			return "", fmt.Errorf("experiments: model %s: %w", m.Name, err)
		}
		data, err := os.ReadFile(tfckpt.IndexPath(prefix))
		if err != nil {
			return "", fmt.Errorf("experiments: model %s: %w", m.Name, err)
		}
		h.Write(data)
	}
	return hex.EncodeToString(h.Sum(nil)[:8]), nil
}

// journalDir and examplesDir are the run's state under Output.
func journalDir(c *Config) string  { return filepath.Join(c.Output, "journal") }
func examplesDir(c *Config) string { return filepath.Join(c.Output, "examples") }

// unitRecord is what the journal keeps of one finished unit: its points'
// records in the protocol's type.
type unitRecord struct {
	Unit    int             `json:"unit"`
	Setting int             `json:"setting"`
	Steps   int             `json:"steps"`
	Points  json.RawMessage `json:"points"`
}

// Run runs the units of the plan that shard owns and that the journal
// does not hold yet, then, when every unit of the run is in the journal,
// writes the results (see WriteResults). It returns the results, or nil
// when units are missing (other shards still have to run and be merged).
// env.Progress counts gradient evaluations; an error it returns stops the
// run after the units already journaled.
func Run(ctx context.Context, p *Plan, env job.Env, shard Shard) (*Results, error) {
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
		if shard.Owns(u.ID) && !j.Done(u.ID) {
			steps, err := p.unitSteps(u)
			if err != nil {
				return nil, err
			}
			todo = append(todo, u)
			work += steps
		}
	}
	env.Logf("%s: %d settings, %d units; shard %s has %d to run (%d already done)",
		c.Title, len(p.Settings), len(p.units), shard, len(todo), countOwned(p, shard)-len(todo))
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
		env.Logf("%s: %d of %d units done; run the other shards, then merge their journals with -merge", c.Title, len(done), len(p.units))
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
func (p *Plan) runUnits(ctx context.Context, j *Journal, todo []unit, work int64, env job.Env) error {
	c := p.Config
	data, err := p.loadData()
	if err != nil {
		return err
	}
	report := func(done int64) error {
		return env.Report(job.Report{Phase: c.Title, Done: done, Total: work, Unit: "grads"})
	}
	if err := report(0); err != nil {
		return err
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
		if err := p.runModel(ctx, j, env, mc, mine, data, &base, report); err != nil {
			return err
		}
	}
	return nil
}

// runModel runs the units of one model and adds their planned steps to
// *base as each finishes.
func (p *Plan) runModel(ctx context.Context, j *Journal, env job.Env, mc ModelConfig, units []unit, data *dataset.Set, base *int64, report func(int64) error) error {
	m, err := LoadModel(mc)
	if err != nil {
		return err
	}
	exec, err := env.NewExecutor(m)
	if err != nil {
		return fmt.Errorf("experiments: model %s: %w", mc.Name, err)
	}
	defer exec.Close()
	samples := map[uint64][]int{} // by sample seed
	for _, u := range units {
		seed := p.sampleSeed(p.Settings[u.Setting])
		points, ok := samples[seed]
		if !ok {
			if points, err = p.samplePoints(ctx, data, exec, seed); err != nil {
				return fmt.Errorf("experiments: model %s: %w", mc.Name, err)
			}
			samples[seed] = points
		}
		steps, err := p.unitSteps(u)
		if err != nil {
			return err
		}
		at := *base
		progress := func(done, total int) error {
			if total <= 0 {
				return nil
			}
			return report(at + int64(float64(steps)*float64(done)/float64(total)))
		}
		s := p.Settings[u.Setting]
		rec, err := p.runUnit(ctx, u, data, exec, points[u.Lo:u.Hi], progress)
		if err != nil {
			return fmt.Errorf("experiments: unit %d (%s η=%g): %w", u.ID, mc.Name, s.Eta, err)
		}
		if err := j.Put(u.ID, rec); err != nil {
			return err
		}
		*base += steps
		if err := report(*base); err != nil {
			return err
		}
	}
	return exec.Close()
}

// runUnit evaluates the unit's points, runs the protocol on them and saves
// their adversarial examples.
func (p *Plan) runUnit(ctx context.Context, u unit, data *dataset.Set, exec engine.Executor, idx []int, progress attack.Progress) (*unitRecord, error) {
	c := p.Config
	x := data.Batch(nil, idx)
	labels := data.BatchLabels(idx)
	m, k := len(idx), exec.Model().Graph.Classes
	logits := make([]float32, m*k)
	if err := exec.Logits(logits, x, m); err != nil {
		return nil, err
	}
	nat := make([]natural, m)
	for i := range nat {
		conf, pred := attack.Confidence(logits[i*k : (i+1)*k])
		nat[i] = natural{Index: idx[i], Label: labels[i], Conf: conf, Pred: pred}
	}
	out, err := p.proto.run(ctx, &unitRun{config: c, unit: u, setting: p.Settings[u.Setting], data: data, exec: exec,
		points: nat, x: x, labels: labels, classes: k, seed: unitSeed(c.Seed, u.ID), progress: progress})
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(examplesDir(c), 0o755); err != nil {
		return nil, fmt.Errorf("experiments: %w", err)
	}
	if err := out.examples.save(examplesPrefix(examplesDir(c), u.ID), data.Shape); err != nil {
		return nil, err
	}
	points, err := json.Marshal(out.points)
	if err != nil {
		return nil, fmt.Errorf("experiments: unit %d: %w", u.ID, err)
	}
	return &unitRecord{Unit: u.ID, Setting: u.Setting, Steps: out.steps, Points: points}, nil
}

// samplePoints draws a sample of test points with the seed: random ones for protocols that
// sample whatever the model says (Separation), correctly classified ones
// otherwise.
func (p *Plan) samplePoints(ctx context.Context, data *dataset.Set, exec engine.Executor, seed uint64) ([]int, error) {
	c := p.Config
	if p.proto.randomPoints() {
		idx := dataset.Sample(c.Data.Points, seed, data.Len())
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
	return dataset.SampleCorrect(ctx, data, c.Data.Points, seed, classify, c.Engine.Batch)
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

// collect reads every unit from the journal and aggregates the results.
func (p *Plan) collect(j *Journal, executor string) (*Results, error) {
	settings := make([]settingBase, len(p.Settings))
	for s, set := range p.Settings {
		settings[s].Setting = set
	}
	points := make([][]json.RawMessage, len(p.Settings))
	for _, u := range p.units {
		var rec unitRecord
		ok, err := j.Get(u.ID, &rec)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("experiments: unit %d is missing from the journal", u.ID)
		}
		var n []json.RawMessage
		if err := json.Unmarshal(rec.Points, &n); err != nil || rec.Setting != u.Setting || len(n) != u.Hi-u.Lo {
			return nil, fmt.Errorf("experiments: journal unit %d does not match the plan", u.ID)
		}
		points[u.Setting] = append(points[u.Setting], rec.Points)
		settings[u.Setting].Points += u.Hi - u.Lo
		settings[u.Setting].Steps += int64(rec.Steps)
	}
	return newResults(p.Config, executor, settings, points)
}

// Merge copies the finished units of the shards' journals (their
// directories, or their output directories holding journal/) into the
// run's journal, and their saved adversarial examples beside it.
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
			if err := atomicfile.Write(filepath.Join(dst, e.Name()), data); err != nil {
				return fmt.Errorf("experiments: merge: %w", err)
			}
		}
	}
	return nil
}
