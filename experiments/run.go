package experiments

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"confrobust/attack"
	"confrobust/dataset"
	"confrobust/engine"
	"confrobust/internal/atomicfile"
	"confrobust/internal/job"
	"confrobust/internal/lockfile"
	"confrobust/model"
	"confrobust/tfckpt"
)

// Setting is one point of a sweep's grid: a model, the radii and weights
// the experiment uses, and the seed.
type Setting struct {
	Model  string  `json:"model"`
	Eta    float64 `json:"eta"`
	Xi     float64 `json:"xi,omitempty"`
	Lambda float64 `json:"lambda,omitempty"`
	// Keep is the share of held-out natural points the rejection threshold
	// keeps (Adaptive; 1: no rejection).
	Keep float64 `json:"keep,omitempty"`
	Seed uint64  `json:"seed"`
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

	// Filled by prepare: the test split, its digest, the checkpoints'
	// digests and every setting's keys.
	data       *dataset.Set
	dataDigest string
	digests    map[string]string // by model name
	keys       []settingKey      // the whole setting (journal)
	attackKeys []settingKey      // its attack alone (examples, seeds)
}

// NewPlan expands the config's sweeps: models, then seeds, then the
// protocol's own grid. Units are numbered in a fixed order (setting-major,
// then points), so that shards agree.
func NewPlan(c *Config) *Plan {
	p := &Plan{Config: c, proto: protocols[c.Experiment], classes: map[string]int{}}
	for _, m := range c.Models {
		p.classes[m.Name] = graph(m).Classes
		for _, seed := range c.Seed {
			for _, s := range p.proto.grid(c, m.Name) {
				s.Seed = seed
				p.Settings = append(p.Settings, s)
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

// unitSteps returns the planned gradient evaluations of a unit.
func (p *Plan) unitSteps(u unit) (int64, error) {
	s := p.Settings[u.Setting]
	return p.proto.rowSteps(p.Config, s, u.Hi-u.Lo, p.classes[s.Model])
}

// GradientEvaluations returns the planned gradient evaluations of the
// whole run (one per input per step; an upper bound for searches that stop
// early, such as CW once an input succeeds), the held-out calibrations of
// holdouter protocols included (once each).
func (p *Plan) GradientEvaluations() (int64, error) {
	var n int64
	for _, u := range p.units {
		k, err := p.unitSteps(u)
		if err != nil {
			return 0, err
		}
		n += k
	}
	if h, ok := p.proto.(holdouter); ok {
		seen := map[string]bool{}
		for _, s := range p.Settings {
			what, k, err := h.calibrationSteps(p.Config, s, p.classes[s.Model])
			if err != nil {
				return 0, err
			}
			key := fmt.Sprintf("%s/%d/%v", s.Model, s.Seed, what)
			if !seen[key] {
				seen[key] = true
				n += k
			}
		}
	}
	return n, nil
}

// unitSeed derives the seed of a unit's random choices from its attack's
// key and its first point, so that results depend neither on which process
// runs the unit nor on the rest of the grid.
func unitSeed(attack settingKey, lo int) uint64 {
	h := sha256.New()
	io.WriteString(h, attack.hash)
	binary.Write(h, binary.LittleEndian, int64(lo))
	return binary.LittleEndian.Uint64(h.Sum(nil)[:8])
}

// sampleSeed returns the seed of the test points of setting s: its seed
// for data.sample = "shared", else a seed derived from it and η, so that
// every radius has its own sample (settings of one η, such as Table 4's ξ
// and λ sweeps, share it).
func (p *Plan) sampleSeed(s Setting) uint64 {
	if p.Config.Data.Sample == SampleShared {
		return s.Seed
	}
	var b [24]byte
	copy(b[:8], "sample/η")
	binary.LittleEndian.PutUint64(b[8:16], s.Seed)
	binary.LittleEndian.PutUint64(b[16:], math.Float64bits(s.Eta))
	h := sha256.Sum256(b[:])
	return binary.LittleEndian.Uint64(h[:8])
}

// Graph returns the architecture a model config names.
func Graph(m ModelConfig) *model.Graph { return graph(m) }

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
// its architecture. A checkpoint whose weights hold NaN or Inf is refused
// (the error wraps model.ErrNonFinite and names each variable and its
// counts) unless allowNonFinite, when it is loaded as it is.
func LoadModel(m ModelConfig, allowNonFinite bool) (*model.Model, error) {
	loaded, err := model.LoadModel(graph(m), m.Checkpoint)
	if errors.Is(err, model.ErrNonFinite) {
		if allowNonFinite {
			return loaded, nil
		}
		return nil, fmt.Errorf("experiments: model %s: %w (refused: results on such weights mean nothing; runner -allow-nonfinite loads it anyway)", m.Name, err)
	}
	if err != nil {
		return nil, fmt.Errorf("experiments: model %s: %w", m.Name, err)
	}
	return loaded, nil
}

// checkpointDigest returns the SHA-256 of a checkpoint's files: its index
// and data shards, in order, each preceded by its name.
func checkpointDigest(path string) (string, error) {
	prefix, err := tfckpt.CheckpointPrefix(path)
	if err != nil {
		return "", err
	}
	b, err := tfckpt.OpenBundle(prefix)
	if err != nil {
		return "", err
	}
	n := b.Header().NumShards
	b.Close()
	files := []string{tfckpt.IndexPath(prefix)}
	for i := 0; i < n; i++ {
		files = append(files, tfckpt.ShardPath(prefix, i, n))
	}
	h := sha256.New()
	for _, f := range files {
		r, err := os.Open(f)
		if err != nil {
			return "", err
		}
		io.WriteString(h, filepath.Base(f)+"\x00")
		_, err = io.Copy(h, r)
		r.Close()
		if err != nil {
			return "", fmt.Errorf("read %s: %w", f, err)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// dataDigest returns the SHA-256 of a data set's images and labels as the
// harness sees them.
func dataDigest(s *dataset.Set) string {
	h := sha256.New()
	binary.Write(h, binary.LittleEndian, [4]int64{int64(s.Shape[0]), int64(s.Shape[1]), int64(s.Shape[2]), int64(s.Classes)})
	buf := make([]byte, 0, 1<<16)
	flush := func() { h.Write(buf); buf = buf[:0] }
	for _, v := range s.Images {
		buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
		if len(buf) == cap(buf) {
			flush()
		}
	}
	for _, y := range s.Labels {
		buf = binary.LittleEndian.AppendUint32(buf, uint32(y))
		if len(buf) >= cap(buf)-4 {
			flush()
		}
	}
	flush()
	return hex.EncodeToString(h.Sum(nil))
}

// prepare loads the test split (unless a test set it), takes the digests
// and computes every setting's keys.
func (p *Plan) prepare() error {
	c := p.Config
	if p.data == nil {
		data, err := dataset.Load(c.Data.Set, c.Data.Dir, dataset.Test)
		if err != nil {
			return err
		}
		p.data = data
	}
	p.dataDigest = dataDigest(p.data)
	p.digests = map[string]string{}
	for _, m := range c.Models {
		d, err := checkpointDigest(m.Checkpoint)
		if err != nil {
			return fmt.Errorf("experiments: model %s: %w", m.Name, err)
		}
		p.digests[m.Name] = d
	}
	p.keys, p.attackKeys = make([]settingKey, len(p.Settings)), make([]settingKey, len(p.Settings))
	for i, s := range p.Settings {
		var err error
		if p.attackKeys[i], p.keys[i], err = p.settingKeys(s); err != nil {
			return err
		}
	}
	return nil
}

// keyBase is what every setting's key holds besides the protocol's own
// parameters: the journal's format, the protocol, the model (architecture
// and checkpoint digest), the data (digest, sample), the seed and the
// executor. Not in any key: the number of points (samples are prefixes of
// one another, so more points reuse the units of fewer), the rejection
// thresholds, the title, output and paper.
type keyBase struct {
	Journal    int    `json:"journal"`
	Experiment string `json:"experiment"`
	Model      struct {
		Arch   string `json:"arch"`
		Widths []int  `json:"widths,omitempty"`
		Units  int    `json:"units,omitempty"`
		Image  int    `json:"image,omitempty"`
		SHA256 string `json:"sha256"`
	} `json:"model"`
	Data struct {
		Set        string `json:"set"`
		SHA256     string `json:"sha256"`
		UnitPoints int    `json:"unit_points"`
		SampleSeed uint64 `json:"sample_seed"`
		Correct    bool   `json:"correct_only"`
	} `json:"data"`
	Seed   uint64 `json:"seed"`
	Engine struct {
		Backend   string `json:"backend"`
		Batch     int    `json:"batch"`
		Precision string `json:"precision,omitempty"` // "" for float32, as before the key existed
	} `json:"engine"`
	Attack  any `json:"attack"`
	Defense any `json:"defense,omitempty"`
}

// keyBaseOf returns the part of setting s's key that every protocol shares.
func (p *Plan) keyBaseOf(s Setting) keyBase {
	c := p.Config
	mc, _ := c.model(s.Model)
	var b keyBase
	b.Journal, b.Experiment = journalSchema, c.Experiment
	b.Model.Arch, b.Model.Widths, b.Model.Units, b.Model.Image, b.Model.SHA256 = mc.Arch, mc.Widths, mc.Units, mc.Image, p.digests[s.Model]
	b.Data.Set, b.Data.SHA256, b.Data.UnitPoints = c.Data.Set, p.dataDigest, c.Data.UnitPoints
	b.Data.SampleSeed, b.Data.Correct = p.sampleSeed(s), !p.proto.randomPoints()
	b.Seed = s.Seed
	b.Engine.Backend, b.Engine.Batch = c.Engine.Backend, c.Engine.Batch
	if c.Engine.Precision != engine.Float32 {
		b.Engine.Precision = c.Engine.Precision
	}
	return b
}

// settingKeys returns the key of a setting's attack alone and of the whole
// setting (attack and defense).
func (p *Plan) settingKeys(s Setting) (attack, whole settingKey, err error) {
	b := p.keyBaseOf(s)
	var defense any
	b.Attack, defense = p.proto.key(p.Config, s)
	if attack, err = newSettingKey(b); err != nil {
		return
	}
	b.Defense = defense
	whole, err = newSettingKey(b)
	return
}

// memoKey returns the journal key of a computation of setting s that does
// not depend on its sample of points or its attack (such as the held-out
// calibration of a defense), described by v.
func (p *Plan) memoKey(s Setting, v any) (settingKey, error) {
	b := p.keyBaseOf(s)
	b.Data.SampleSeed, b.Data.UnitPoints = 0, 0
	b.Defense = v
	return newSettingKey(b)
}

// journalDir and examplesDir are the run's state under Output.
func journalDir(c *Config) string  { return filepath.Join(c.Output, "journal") }
func examplesDir(c *Config) string { return filepath.Join(c.Output, "examples") }

// RunOptions are the choices of a run besides its config.
type RunOptions struct {
	// Shard selects the units this process runs; the zero value runs all.
	Shard Shard
	// ReportOnly computes nothing: every unit must be in the journal, and
	// the results are written again from it (with the config's current
	// thresholds). A missing unit is an error.
	ReportOnly bool
	// AllowNonFinite runs models whose weights hold NaN or Inf, which are
	// refused otherwise.
	AllowNonFinite bool
}

// Run runs the units of the plan that opt.Shard owns and that the journal
// does not hold yet, then, when every unit of the run is in the journal,
// writes the results (see WriteResults). It returns the results, or nil
// when units are missing (other shards still have to run and be merged).
// env.Progress counts gradient evaluations; an error it returns stops the
// run after the units already journaled. Two processes running the same
// shard into the same output are refused.
func Run(ctx context.Context, p *Plan, env job.Env, opt RunOptions) (*Results, error) {
	c := p.Config
	if err := p.prepare(); err != nil {
		return nil, err
	}
	j, err := OpenJournal(journalDir(c))
	if err != nil {
		return nil, err
	}
	release, err := lockfile.Acquire(filepath.Join(j.Dir(), fmt.Sprintf(".lock-%d-of-%d", opt.Shard.K, max(opt.Shard.N, 1))))
	if err != nil {
		return nil, fmt.Errorf("experiments: %w: wait for it to finish, or give this run another output (-set output=...)", err)
	}
	defer release()
	var todo []unit
	var work int64
	done := 0
	for _, u := range p.units {
		ok, err := p.unitDone(j, u, env)
		if err != nil {
			return nil, err
		}
		if ok {
			done++
			continue
		}
		if !opt.Shard.Owns(u.ID) {
			continue
		}
		steps, err := p.unitSteps(u)
		if err != nil {
			return nil, err
		}
		todo = append(todo, u)
		work += steps
	}
	env.Logf("%s: %d settings, %d units, %d in the journal; shard %s has %d to run",
		c.Title, len(p.Settings), len(p.units), done, opt.Shard, len(todo))
	if opt.ReportOnly && done < len(p.units) {
		return nil, fmt.Errorf("experiments: %s: -report needs every unit in the journal, and %d of %d are missing: run without -report first", c.Title, len(p.units)-done, len(p.units))
	}
	if len(todo) > 0 {
		if err := p.runUnits(ctx, j, todo, work, env, opt); err != nil {
			return nil, err
		}
		done += len(todo)
	}
	if done < len(p.units) {
		env.Logf("%s: %d of %d units done; run the other shards, then merge their journals with -merge", c.Title, done, len(p.units))
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

// unitDone reports whether the unit is in the journal and can be trusted;
// a unit file that cannot is logged and removed, to be computed again.
func (p *Plan) unitDone(j *Journal, u unit, env job.Env) (bool, error) {
	k := p.keys[u.Setting]
	f, err := j.get(k, u.Lo, u.Hi)
	if errors.Is(err, errBadUnit) {
		env.Logf("%v: computing it again", err)
		return false, j.remove(k, u.Lo)
	}
	return f != nil, err
}

// runUnits runs the units, grouped by model so each model is loaded once.
func (p *Plan) runUnits(ctx context.Context, j *Journal, todo []unit, work int64, env job.Env, opt RunOptions) error {
	c := p.Config
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
		if err := p.runModel(ctx, j, env, mc, opt.AllowNonFinite, mine, &base, report); err != nil {
			return err
		}
	}
	return nil
}

// runModel runs the units of one model and adds their planned steps to
// *base as each finishes.
func (p *Plan) runModel(ctx context.Context, j *Journal, env job.Env, mc ModelConfig, allowNonFinite bool, units []unit, base *int64, report func(int64) error) error {
	m, err := LoadModel(mc, allowNonFinite)
	if err != nil {
		return err
	}
	exec, err := env.NewExecutor(m)
	if err != nil {
		return fmt.Errorf("experiments: model %s: %w", mc.Name, err)
	}
	defer exec.Close()
	samples := map[[2]uint64][]int{} // by sample seed and seed
	for _, u := range units {
		s := p.Settings[u.Setting]
		seed := p.sampleSeed(s)
		points, ok := samples[[2]uint64{seed, s.Seed}]
		if !ok {
			if points, err = p.samplePoints(ctx, exec, seed, p.holdoutIndices(s)); err != nil {
				return fmt.Errorf("experiments: model %s: %w", mc.Name, err)
			}
			samples[[2]uint64{seed, s.Seed}] = points
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
		out, err := p.runUnit(ctx, j, env, u, exec, points[u.Lo:u.Hi], progress)
		if err != nil {
			return fmt.Errorf("experiments: unit %d (%s η=%g seed %d, points %d–%d): %w", u.ID, mc.Name, s.Eta, s.Seed, u.Lo, u.Hi, err)
		}
		records, err := json.Marshal(out.points)
		if err != nil {
			return fmt.Errorf("experiments: unit %d: %w", u.ID, err)
		}
		if err := j.put(p.keys[u.Setting], u.Lo, u.Hi, out.steps, records); err != nil {
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
func (p *Plan) runUnit(ctx context.Context, j *Journal, env job.Env, u unit, exec engine.Executor, idx []int, progress attack.Progress) (*unitOutput, error) {
	c := p.Config
	x := p.data.Batch(nil, idx)
	labels := p.data.BatchLabels(idx)
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
	ak := p.attackKeys[u.Setting]
	s := p.Settings[u.Setting]
	memo := func(what string, v any, out any, compute func() (records any, steps int, err error)) error {
		return p.memo(j, env, what, s, v, out, compute)
	}
	out, err := p.proto.run(ctx, &unitRun{config: c, unit: u, setting: s, data: p.data, exec: exec,
		points: nat, x: x, labels: labels, classes: k, seed: unitSeed(ak, u.Lo), progress: progress, attackKey: ak,
		holdout: p.holdoutIndices(s), memo: memo})
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(examplesDir(c), "a-"+ak.hash)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("experiments: %w", err)
	}
	if err := out.examples.save(examplesPrefix(dir, u.Lo), p.data.Shape); err != nil {
		return nil, err
	}
	return out, nil
}

// memo returns in out (a pointer to what compute's records unmarshal
// into) the journaled result of a computation of setting s described by v
// (and, in the log, by what),
// running compute and journaling its records first when the journal does
// not hold it. Shards that compute it alike write identical files, which
// Merge accepts.
func (p *Plan) memo(j *Journal, env job.Env, what string, s Setting, v any, out any, compute func() (any, int, error)) error {
	k, err := p.memoKey(s, v)
	if err != nil {
		return err
	}
	f, err := j.get(k, 0, -1)
	if errors.Is(err, errBadUnit) {
		if err = j.remove(k, 0); err != nil {
			return err
		}
		f = nil
	}
	if err != nil {
		return err
	}
	if f == nil {
		start := time.Now()
		env.Logf("%s %s η=%g seed %d: %s (once, then journaled)", p.Config.Title, s.Model, s.Eta, s.Seed, what)
		records, steps, err := compute()
		env.Logf("%s: done in %s", what, time.Since(start).Round(time.Second))
		if err != nil {
			return err
		}
		data, err := json.Marshal(records)
		if err != nil {
			return fmt.Errorf("experiments: %w", err)
		}
		if err := j.put(k, 0, 1, steps, data); err != nil {
			return err
		}
		if f, err = j.get(k, 0, 1); err != nil {
			return err
		}
	}
	if err := json.Unmarshal(f.Points, out); err != nil {
		return fmt.Errorf("experiments: journal %s: %w", j.settingDir(k), err)
	}
	return nil
}

// holdouter is a protocol whose thresholds the defender fixes on held-out
// test points, which its evaluated points never include.
type holdouter interface {
	// holdout returns the number of held-out points.
	holdout(c *Config) int
	// calibrationSteps returns what identifies setting s's calibration
	// among the settings of one model and seed, and its gradient
	// evaluations for a model of k classes.
	calibrationSteps(c *Config, s Setting, k int) (what any, steps int64, err error)
}

// holdoutIndices returns the held-out test points of setting s (nil for
// protocols without): the first ones of a permutation of the test split
// seeded by the setting's seed alone, so that every radius and threshold
// of a seed shares them.
func (p *Plan) holdoutIndices(s Setting) []int {
	h, ok := p.proto.(holdouter)
	if !ok || h.holdout(p.Config) == 0 {
		return nil
	}
	var b [16]byte
	copy(b[:8], "holdout/")
	binary.LittleEndian.PutUint64(b[8:], s.Seed)
	sum := sha256.Sum256(b[:])
	return dataset.Sample(h.holdout(p.Config), binary.LittleEndian.Uint64(sum[:8]), p.data.Len())
}

// samplePoints draws a sample of test points with the seed: random ones
// for protocols that sample whatever the model says (Separation), correctly
// classified ones otherwise; never one of hold, the held-out points.
func (p *Plan) samplePoints(ctx context.Context, exec engine.Executor, seed uint64, hold []int) ([]int, error) {
	c, data := p.Config, p.data
	if len(hold) > 0 {
		// Sample from the rest of the split, then map back to its indices.
		held := make(map[int]bool, len(hold))
		for _, i := range hold {
			held[i] = true
		}
		var rest []int
		for i := range data.Len() {
			if !held[i] {
				rest = append(rest, i)
			}
		}
		q := *p
		q.data = data.Subset(rest)
		idx, err := q.samplePoints(ctx, exec, seed, nil)
		for i := range idx {
			idx[i] = rest[idx[i]]
		}
		return idx, err
	}
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
		f, err := j.get(p.keys[u.Setting], u.Lo, u.Hi)
		if err != nil {
			return nil, err
		}
		if f == nil {
			return nil, fmt.Errorf("experiments: unit %d is missing from the journal", u.ID)
		}
		var n []json.RawMessage
		if err := json.Unmarshal(f.Points, &n); err != nil || len(n) != u.Hi-u.Lo {
			return nil, fmt.Errorf("experiments: journal unit %d does not match the plan", u.ID)
		}
		points[u.Setting] = append(points[u.Setting], f.Points)
		settings[u.Setting].Points += u.Hi - u.Lo
		settings[u.Setting].Steps += int64(f.Steps)
	}
	return newResults(p, executor, settings, points)
}

// Merge copies the finished units of the shards' journals (their
// directories, or their output directories holding journal/) into the
// run's journal, and their saved adversarial examples beside it.
func Merge(p *Plan, dirs []string) error {
	j, err := OpenJournal(journalDir(p.Config))
	if err != nil {
		return err
	}
	srcs := make([]string, len(dirs))
	for i, d := range dirs {
		if fi, err := os.Stat(filepath.Join(d, "journal")); err == nil && fi.IsDir() {
			d = filepath.Join(d, "journal")
		}
		srcs[i] = d
	}
	if err := j.Merge(srcs...); err != nil {
		return err
	}
	dst := examplesDir(p.Config)
	for _, src := range srcs {
		if err := copyTree(filepath.Join(filepath.Dir(src), "examples"), dst); err != nil {
			return fmt.Errorf("experiments: merge: %w", err)
		}
	}
	return nil
}

// copyTree copies the files of src (one level of subdirectories) into dst,
// atomically each; a missing src is nothing to copy.
func copyTree(src, dst string) error {
	entries, err := os.ReadDir(src)
	if err != nil || filepath.Clean(src) == filepath.Clean(dst) {
		return nil
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		from, to := filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())
		if e.IsDir() {
			if err := copyTree(from, to); err != nil {
				return err
			}
			continue
		}
		data, err := os.ReadFile(from)
		if err != nil {
			return err
		}
		if err := atomicfile.Write(to, data); err != nil {
			return err
		}
	}
	return nil
}
