package train

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"

	"confrobust/engine"
	"confrobust/internal/tomlconfig"
	"confrobust/model"
)

// Experiment is the value of a training config's top-level experiment key.
const Experiment = "train"

// Config is one training run as a TOML file gives it. Every field has a
// documented default (applied by Parse) and a checked range; an unknown key is
// an error that names it.
type Config struct {
	// Experiment must be "train".
	Experiment string `toml:"experiment"`
	// Title names the run in the card; default: the config file's base name.
	Title string `toml:"title"`
	// Seed seeds the initial weights, the shuffling and PGD's random starts.
	Seed uint64 `toml:"seed"`
	// Output is the model directory; default models/<Title>. Relative paths
	// are relative to the working directory, as the experiments' are.
	Output string `toml:"output"`

	Engine      EngineConfig      `toml:"engine"`
	Data        DataConfig        `toml:"data"`
	Model       ModelConfig       `toml:"model"`
	Train       LoopConfig        `toml:"train"`
	Adversarial AdversarialConfig `toml:"adversarial"`
	Eval        EvalConfig        `toml:"eval"`

	defaulted []string // keys that took their default (Defaulted)
}

// Defaulted returns "key = value" for every key that the config file and
// the overrides left out and that took its default.
func (c *Config) Defaulted() []string { return slices.Clone(c.defaulted) }

// EngineConfig chooses the executor, as in experiment configs; its Batch is
// the number of rows per executor call of the evaluation (default 200),
// while training calls use train.batch.
type EngineConfig = engine.Config

// DataConfig chooses the training data.
type DataConfig struct {
	// Set is "mnist", the only set supported (default).
	Set string `toml:"set"`
	// Dir is an MNIST directory overriding the Go module's copy; relative to
	// the config file's directory.
	Dir string `toml:"dir"`
	// Points is the number of training images used, the first ones of the
	// training split; 0 (default) means all 60,000.
	Points int `toml:"points"`
}

// ModelConfig chooses the architecture.
type ModelConfig struct {
	// Arch is "mnist_cnn" (default), Madry's MNIST CNN; it has no batch norm,
	// so training needs no training-mode layers.
	Arch string `toml:"arch"`
	// Widths are [conv1, conv2, hidden]; default Madry's [32, 64, 1024].
	Widths []int `toml:"widths"`
}

// LoopConfig sets the optimisation.
type LoopConfig struct {
	// Epochs is the number of passes over the data (each a fresh seeded
	// shuffle; the last partial batch of an epoch is dropped).
	Epochs int `toml:"epochs"`
	// Steps, when > 0, is the number of optimizer steps instead of Epochs.
	Steps int `toml:"steps"`
	// Batch is the minibatch size; default 50 (Madry's).
	Batch int `toml:"batch"`
	// Optimizer is "adam" (default) or "momentum" (SGD with momentum).
	Optimizer string `toml:"optimizer"`
	// LearningRate is the step size; default 1e-3 for adam, 0.01 for momentum.
	LearningRate float64 `toml:"learning_rate"`
	// Schedule is "constant" (default) or "cosine" (decay to 0 at the last step).
	Schedule string `toml:"schedule"`
	// Momentum is SGD's momentum; default 0.9.
	Momentum float64 `toml:"momentum"`
	// Beta1, Beta2 and Epsilon are Adam's (defaults TensorFlow's: 0.9, 0.999, 1e-8).
	Beta1   float64 `toml:"beta1"`
	Beta2   float64 `toml:"beta2"`
	Epsilon float64 `toml:"epsilon"`
	// CheckpointEvery is the number of steps between checkpoints; default 500.
	CheckpointEvery int `toml:"checkpoint_every"`
	// Keep is the number of periodic checkpoints kept; default 2. They are
	// removed when the run finishes.
	Keep int `toml:"keep"`
	// LogEvery is the number of steps between log lines; default 100.
	LogEvery int `toml:"log_every"`
}

// AdversarialConfig sets PGD adversarial training (Madry et al.): every
// minibatch is replaced by its PGD adversarial examples before the step.
type AdversarialConfig struct {
	// Method is "none" (default: natural training) or "pgd".
	Method string `toml:"method"`
	// Eps is the ℓ∞ radius on the [0,1] scale; default 0.3 (Madry's MNIST).
	Eps float64 `toml:"eps"`
	// Iterations is PGD's number of steps; default 40 (Madry's).
	Iterations int `toml:"iterations"`
	// Step is PGD's step size; 0 means 2.5·Eps/Iterations (Madry: 0.01).
	Step float64 `toml:"step"`
	// RandomStart starts uniformly in the ball; default true (Madry's).
	RandomStart *bool `toml:"random_start"`
	// RampEpochs ramps the radius (and the step with it) linearly from
	// Eps/rampSteps to Eps over the first RampEpochs epochs; 0 (default)
	// means the full radius from the first step.
	RampEpochs float64 `toml:"ramp_epochs"`
}

// EvalConfig sets the evaluation written into the model card.
type EvalConfig struct {
	// Points is the number of test images (the first ones) for clean
	// accuracy; default 10,000, the whole test split.
	Points int `toml:"points"`
	// PGDPoints is the number of test images (the first ones) attacked;
	// default Points.
	PGDPoints int `toml:"pgd_points"`
	// Eps are the radii of the PGD evaluation; default [0.1, 0.2, 0.3]; an
	// empty list (-set 'eval.eps=[]') skips the PGD evaluation.
	Eps []float64 `toml:"eps"`
	// Iterations and Step of the PGD evaluation; default 40 and 0.01.
	Iterations int     `toml:"iterations"`
	Step       float64 `toml:"step"`
	// Restarts is the number of random starts; default 1.
	Restarts int `toml:"restarts"`
	// RandomStart; default true.
	RandomStart *bool `toml:"random_start"`
	// Strong is the stronger standard evaluation beside PGD-40; its
	// Points = 0 (the default) skips it.
	Strong StrongEvalConfig `toml:"strong"`
}

// StrongEvalConfig sets the stronger standard evaluation of the card: PGD
// with many random restarts on the cross-entropy and on the CW margin
// (Carlini and Wagner's loss, the one that catches gradient masking of the
// softmax), and their union with PGD-40, with 95% intervals.
type StrongEvalConfig struct {
	// Points is the number of test images (the first ones); 0 skips it.
	Points int `toml:"points,omitzero"`
	// Eps are its radii (default [0.3]).
	Eps []float64 `toml:"eps,omitempty"`
	// Iterations and Restarts per loss (default 100 and 10); the step is
	// eval.step.
	Iterations int `toml:"iterations,omitzero"`
	Restarts   int `toml:"restarts,omitzero"`
}

// IsConfig reports whether the TOML file at path is a training config (its
// experiment key is "train"), so that a runner can dispatch it.
func IsConfig(path string) (bool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return false, fmt.Errorf("train: config: %w", err)
	}
	var head struct {
		Experiment string `toml:"experiment"`
	}
	if _, err := toml.Decode(string(data), &head); err != nil {
		return false, fmt.Errorf("train: config %s: %w", path, err)
	}
	return head.Experiment == Experiment, nil
}

// Load reads the config at path, applies the -set overrides ("key=value"
// with TOML values: train.epochs=2, eval.eps=[0.3]), fills in the defaults
// and validates it. Unknown keys, in the file or an override, are errors
// that name the key.
func Load(path string, overrides []string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("train: config: %w", err)
	}
	c, err := Parse(data, overrides)
	if err != nil {
		return nil, fmt.Errorf("train: config %s: %w", path, err)
	}
	if c.Title == "" {
		c.Title = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	}
	if c.Output == "" {
		c.Output = filepath.Join("models", c.Title)
	}
	c.Data.Dir = tomlconfig.Resolve(filepath.Dir(path), c.Data.Dir)
	c.Engine.Plugin = tomlconfig.Resolve(filepath.Dir(path), c.Engine.Plugin)
	return c, nil
}

// Parse decodes a config from TOML text with overrides (see Load), applies
// the defaults and validates it.
func Parse(data []byte, overrides []string) (*Config, error) {
	var c Config
	d, err := tomlconfig.Decode(data, overrides, &c)
	if err != nil {
		return nil, err
	}
	c.defaults()
	c.defaulted = d.Defaults(&c)
	if err := c.validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

func (c *Config) defaults() {
	c.Engine.Defaults(200)
	if c.Data.Set == "" {
		c.Data.Set = "mnist"
	}
	if c.Model.Arch == "" {
		c.Model.Arch = "mnist_cnn"
	}
	if len(c.Model.Widths) == 0 {
		w := model.DefaultMNIST
		c.Model.Widths = []int{w.Conv1, w.Conv2, w.Hidden}
	}
	t := &c.Train
	if t.Batch == 0 {
		t.Batch = 50
	}
	if t.Optimizer == "" {
		t.Optimizer = "adam"
	}
	if t.LearningRate == 0 {
		t.LearningRate = 1e-3
		if t.Optimizer == "momentum" {
			t.LearningRate = 0.01
		}
	}
	if t.Schedule == "" {
		t.Schedule = "constant"
	}
	if t.Momentum == 0 {
		t.Momentum = 0.9
	}
	if t.Beta1 == 0 {
		t.Beta1 = 0.9
	}
	if t.Beta2 == 0 {
		t.Beta2 = 0.999
	}
	if t.Epsilon == 0 {
		t.Epsilon = 1e-8
	}
	if t.CheckpointEvery == 0 {
		t.CheckpointEvery = 500
	}
	if t.Keep == 0 {
		t.Keep = 2
	}
	if t.LogEvery == 0 {
		t.LogEvery = 100
	}
	a := &c.Adversarial
	if a.Method == "" {
		a.Method = "none"
	}
	if a.Eps == 0 && a.Method == "pgd" {
		a.Eps = 0.3
	}
	if a.Iterations == 0 {
		a.Iterations = 40
	}
	if a.RandomStart == nil {
		rs := true
		a.RandomStart = &rs
	}
	v := &c.Eval
	if v.Points == 0 {
		v.Points = 10000
	}
	if v.PGDPoints == 0 {
		v.PGDPoints = v.Points
	}
	if v.Eps == nil {
		v.Eps = []float64{0.1, 0.2, 0.3}
	}
	if v.Iterations == 0 {
		v.Iterations = 40
	}
	if v.Step == 0 {
		v.Step = 0.01
	}
	if v.Restarts == 0 {
		v.Restarts = 1
	}
	if v.RandomStart == nil {
		rs := true
		v.RandomStart = &rs
	}
	// The strong evaluation's defaults only when it runs, so that configs
	// without it keep their evaluation fingerprint (and their cards).
	if st := &v.Strong; st.Points > 0 {
		if st.Eps == nil {
			st.Eps = []float64{0.3}
		}
		if st.Iterations == 0 {
			st.Iterations = 100
		}
		if st.Restarts == 0 {
			st.Restarts = 10
		}
	}
}

func (c *Config) validate() error {
	var errs []string
	bad := func(format string, a ...any) { errs = append(errs, fmt.Sprintf(format, a...)) }
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	if c.Experiment != Experiment {
		bad("experiment: %q is not %q", c.Experiment, Experiment)
	}
	c.Engine.Check("engine", bad)
	if c.Data.Set != "mnist" {
		bad("data.set: %q is not mnist (the only set training supports)", c.Data.Set)
	}
	if c.Data.Points < 0 || c.Data.Points > 60000 {
		bad("data.points: %d must lie in [0, 60000] (0 for all)", c.Data.Points)
	}
	if c.Model.Arch != "mnist_cnn" {
		bad("model.arch: %q is not mnist_cnn (the only architecture training supports)", c.Model.Arch)
	}
	if len(c.Model.Widths) != 3 {
		bad("model.widths: %v must be [conv1, conv2, hidden]", c.Model.Widths)
	} else {
		for _, w := range c.Model.Widths {
			if w < 1 {
				bad("model.widths: %v must be positive", c.Model.Widths)
				break
			}
		}
	}
	t := c.Train
	if t.Epochs < 0 {
		bad("train.epochs: %d must be ≥ 0", t.Epochs)
	}
	if t.Steps < 0 {
		bad("train.steps: %d must be ≥ 0", t.Steps)
	}
	if t.Epochs == 0 && t.Steps == 0 {
		bad("train.epochs: set train.epochs or train.steps to a positive number")
	}
	if t.Batch < 1 {
		bad("train.batch: %d must be ≥ 1", t.Batch)
	} else if n := c.Data.Points; n != 0 && n < t.Batch {
		bad("train.batch: %d is larger than data.points %d", t.Batch, n)
	}
	switch t.Optimizer {
	case "adam", "momentum":
	default:
		bad("train.optimizer: %q is not adam or momentum", t.Optimizer)
	}
	if !(t.LearningRate > 0) || !finite(t.LearningRate) {
		bad("train.learning_rate: %v must be a finite rate > 0", t.LearningRate)
	}
	switch t.Schedule {
	case "constant", "cosine":
	default:
		bad("train.schedule: %q is not constant or cosine", t.Schedule)
	}
	if !(t.Momentum >= 0 && t.Momentum < 1) {
		bad("train.momentum: %v must lie in [0, 1)", t.Momentum)
	}
	if !(t.Beta1 >= 0 && t.Beta1 < 1) {
		bad("train.beta1: %v must lie in [0, 1)", t.Beta1)
	}
	if !(t.Beta2 >= 0 && t.Beta2 < 1) {
		bad("train.beta2: %v must lie in [0, 1)", t.Beta2)
	}
	if !(t.Epsilon > 0) || !finite(t.Epsilon) {
		bad("train.epsilon: %v must be a finite value > 0", t.Epsilon)
	}
	if t.CheckpointEvery < 1 {
		bad("train.checkpoint_every: %d must be ≥ 1", t.CheckpointEvery)
	}
	if t.Keep < 1 {
		bad("train.keep: %d must be ≥ 1", t.Keep)
	}
	if t.LogEvery < 1 {
		bad("train.log_every: %d must be ≥ 1", t.LogEvery)
	}
	a := c.Adversarial
	switch a.Method {
	case "none":
	case "pgd":
		if !(a.Eps > 0 && a.Eps <= 1) {
			bad("adversarial.eps: %v must lie in (0, 1] (the [0,1] pixel scale)", a.Eps)
		}
		if a.Iterations < 1 {
			bad("adversarial.iterations: %d must be ≥ 1", a.Iterations)
		}
		if !(a.Step >= 0) || !finite(a.Step) {
			bad("adversarial.step: %v must be ≥ 0 (0 for 2.5·eps/iterations)", a.Step)
		}
		if !(a.RampEpochs >= 0) || !finite(a.RampEpochs) {
			bad("adversarial.ramp_epochs: %v must be ≥ 0", a.RampEpochs)
		}
	default:
		bad("adversarial.method: %q is not none or pgd", a.Method)
	}
	v := c.Eval
	if v.Points < 1 || v.Points > 10000 {
		bad("eval.points: %d must lie in [1, 10000]", v.Points)
	}
	if v.PGDPoints < 0 || v.PGDPoints > 10000 {
		bad("eval.pgd_points: %d must lie in [0, 10000]", v.PGDPoints)
	}
	for _, e := range v.Eps {
		if !(e >= 0 && e <= 1) {
			bad("eval.eps: %v must lie in [0, 1] (the [0,1] pixel scale)", e)
		}
	}
	if v.Iterations < 1 {
		bad("eval.iterations: %d must be ≥ 1", v.Iterations)
	}
	if !(v.Step > 0) || !finite(v.Step) {
		bad("eval.step: %v must be a finite step > 0", v.Step)
	}
	if st := v.Strong; st.Points < 0 || st.Points > 10000 {
		bad("eval.strong.points: %d must lie in [0, 10000]", st.Points)
	} else if st.Points > 0 {
		for _, e := range st.Eps {
			if !(e >= 0 && e <= 1) {
				bad("eval.strong.eps: %v must lie in [0, 1] (the [0,1] pixel scale)", e)
			}
		}
		if st.Iterations < 1 || st.Restarts < 1 {
			bad("eval.strong: iterations %d and restarts %d must be ≥ 1", st.Iterations, st.Restarts)
		}
	}
	if v.Restarts < 1 {
		bad("eval.restarts: %d must be ≥ 1", v.Restarts)
	}
	if v.Restarts > 1 && !*v.RandomStart {
		bad("eval.restarts: %d restarts need eval.random_start = true", v.Restarts)
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// Graph returns the network the config trains.
func (c *Config) Graph() *model.Graph {
	w := c.Model.Widths
	return model.MNISTCNN(model.MNISTConfig{Conv1: w[0], Conv2: w[1], Hidden: w[2]})
}

// trainFingerprint hashes everything that determines the trained weights
// (not the title, output, checkpoint and log cadence, the plugin's path or
// the evaluation), so that a resumed run continues only the same training.
func (c *Config) trainFingerprint() string {
	k := *c
	k.Title, k.Output = "", ""
	k.Engine.Batch, k.Engine.Plugin = 0, ""
	if k.Engine.Precision == engine.Float32 {
		k.Engine.Precision = "" // the default
	}
	k.Train.CheckpointEvery, k.Train.Keep, k.Train.LogEvery = 0, 0, 0
	k.Eval = EvalConfig{}
	return hash(k)
}

// evalFingerprint hashes the training and the evaluation: a card with the
// same fingerprint needs no new evaluation.
func (c *Config) evalFingerprint() string {
	return hash(struct {
		Train string
		Eval  EvalConfig
	}{c.trainFingerprint(), c.Eval})
}

// hash returns a digest of v's canonical form: its TOML keys and values
// with every zero value and empty table left out, as JSON with sorted
// keys. A key added to the config later with a zero default leaves the
// digests of older configs (and of the shipped models' states and cards,
// which TestShippedFingerprints pins) unchanged.
func hash(v any) string {
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(v); err != nil {
		panic(fmt.Sprintf("train: fingerprint: %v", err)) // the config types always encode
	}
	var m map[string]any
	if _, err := toml.Decode(buf.String(), &m); err != nil {
		panic(fmt.Sprintf("train: fingerprint: %v", err))
	}
	data, err := json.Marshal(pruneZero(m))
	if err != nil {
		panic(fmt.Sprintf("train: fingerprint: %v", err))
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:8])
}

// pruneZero returns m without its zero values ("", 0, false, empty lists)
// and the tables left empty, recursively.
func pruneZero(m map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		switch x := v.(type) {
		case map[string]any:
			if p := pruneZero(x); len(p) > 0 {
				out[k] = p
			}
		case string:
			if x != "" {
				out[k] = x
			}
		case int64:
			if x != 0 {
				out[k] = x
			}
		case float64:
			if x != 0 {
				out[k] = x
			}
		case bool:
			if x {
				out[k] = x
			}
		case []any:
			if len(x) > 0 {
				out[k] = x
			}
		default:
			out[k] = v
		}
	}
	return out
}
