package experiments

import (
	"bytes"
	"confrobust/engine"
	"confrobust/internal/tomlconfig"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// Config is one experiment as a TOML file gives it. Every field has a
// documented default (applied by Load) and a checked range; an unknown key
// is an error. Lists (η, ξ, λ, p, models) are sweeps: the run covers their
// grid.
type Config struct {
	// Experiment names the protocol: "separation", "rejection",
	// "embedding", "adaptive" (see the protocol files).
	Experiment string `toml:"experiment"`
	// Title names the run in reports; default: the config file's base name.
	Title string `toml:"title"`
	// Seed seeds every random choice (sampling, random starts); a list
	// (seed = [1, 2, 3]) sweeps it, and results.md gives the mean and
	// spread of every number across the seeds.
	Seed Seeds `toml:"seed"`
	// Output is the results directory; default results/<Title>.
	Output string `toml:"output"`
	// Paper names the table in results/paper to compare with ("table1",
	// "table2", "table3", "table4"), or "" for none.
	Paper string `toml:"paper"`

	Engine engine.Config `toml:"engine"`
	Data   DataConfig    `toml:"data"`
	Models []ModelConfig `toml:"models"`
	Attack AttackConfig  `toml:"attack"`
	// Reject holds the rejection thresholds p (Rejection), or the held-out
	// split they come from (Adaptive).
	Reject  RejectConfig  `toml:"reject"`
	Defense DefenseConfig `toml:"defense"`
	// Adaptive lists the adaptive attacks of the Adaptive experiment (nil
	// for the others).
	Adaptive *AdaptiveConfig `toml:"adaptive"`

	defaulted []string // keys that took their default (Defaulted)
}

// DataConfig chooses the points.
type DataConfig struct {
	// Set is "mnist" (default; shipped in a Go module) or "cifar10".
	Set string `toml:"set"`
	// Dir is the CIFAR-10 directory (scripts/fetch-cifar10.sh), or an MNIST
	// directory overriding the Go module's copy; relative to the config
	// file's directory.
	Dir string `toml:"dir"`
	// Points is the number of test points (paper: 300 for Separation, 1000
	// otherwise).
	Points int `toml:"points"`
	// UnitPoints is the number of points per work unit, the granularity of
	// resumption and sharding; default 10.
	UnitPoints int `toml:"unit_points"`
	// Sample is "per_eta" (default, the paper's: a fresh sample of points
	// for each radius η, so that recall varies with η as in Table 2) or
	// "shared" (one sample per model for every η, which pairs the radii).
	Sample string `toml:"sample"`
}

// The sampling schemes of data.sample.
const (
	SamplePerEta = "per_eta"
	SampleShared = "shared"
)

// ModelConfig is one model of the sweep.
type ModelConfig struct {
	// Name labels the model in results ("adv", "natural").
	Name string `toml:"name"`
	// Arch is "mnist_cnn" or "wide_resnet".
	Arch string `toml:"arch"`
	// Checkpoint is the TensorFlow checkpoint prefix (relative paths are
	// relative to the config file's directory).
	Checkpoint string `toml:"checkpoint"`
	// Widths overrides the architecture's widths for smaller models of the
	// same structure: mnist_cnn [conv1, conv2, hidden]; wide_resnet
	// [init, stage1, stage2, stage3].
	Widths []int `toml:"widths"`
	// Units is wide_resnet's residual units per stage (default 5).
	Units int `toml:"units"`
	// Image is wide_resnet's input size (default 32).
	Image int `toml:"image"`
	// PaperModel says which of the paper's models this is, "adv_trained"
	// or "naturally_trained" (Madry et al.'s CIFAR-10 checkpoints), or ""
	// for none: only such a model's results are set beside the paper's.
	PaperModel string `toml:"paper_model"`
}

// AttackConfig sets the attack of the experiment.
type AttackConfig struct {
	// Eta is the sweep of ℓ∞ radii on the [0,1] scale.
	Eta []float64 `toml:"eta"`
	// Iterations per start (paper: Table 1 CW as long as possible, Tables
	// 2/3 100, Table 4 1000).
	Iterations int `toml:"iterations"`
	// Restarts per target (paper: 10 random starts for Tables 2/3).
	Restarts int `toml:"restarts"`
	// RandomStart starts PGD uniformly in the ball; default true for
	// Rejection, false for Embedding.
	RandomStart *bool `toml:"random_start"`
	// Step is PGD's step size; 0 means 2.5·η/Iterations.
	Step float64 `toml:"step"`
	// P is the confidence the separation attack seeks (paper 0.9).
	P float64 `toml:"p"`
	// LearningRate is CW's Adam step size; 0 means the attack's default.
	LearningRate float64 `toml:"learning_rate"`
}

// RejectConfig holds the rejection thresholds.
type RejectConfig struct {
	// P are the thresholds of the rejection rule (Rejection).
	P []float64 `toml:"p"`
	// Holdout is the number of held-out test points (Adaptive), drawn
	// before and disjoint from every evaluated point, on whose natural
	// confidences the defender fixes the thresholds before any attack.
	Holdout int `toml:"holdout,omitzero"`
	// Keep is the sweep of shares of the held-out points that Γ classifies
	// correctly to keep (Adaptive): each sets the rejection threshold P
	// that accepts that share; 1 means no rejection (P = 0).
	Keep []float64 `toml:"keep,omitempty"`
	// DetectorKeep is the share of held-out natural points that the
	// detector threshold τ of the confidence-thresholded robust error keeps
	// (Adaptive; default 0.99, as in Stutz et al.'s CCAT evaluation).
	DetectorKeep float64 `toml:"detector_keep,omitzero"`
}

// AdaptiveConfig sets the adaptive attacks on Γ = C_F(HCNN_ξ) (Adaptive).
type AdaptiveConfig struct {
	// Attacks are the adaptive attacks run beside the paper's, each
	// reported under its name ([[adaptive.attacks]] tables).
	Attacks []AdaptiveAttack `toml:"attacks,omitempty"`
	// Iterations are the steps per start (default: attack.iterations).
	Iterations int `toml:"iterations,omitzero"`
	// Restarts are random starts per target (default 1).
	Restarts int `toml:"restarts,omitzero"`
	// Targets is the number of wrong labels attacked per point, the most
	// likely under F; 0 (default) attacks every wrong label.
	Targets int `toml:"targets,omitzero"`
	// WarmStart adds to every adaptive attack a first start at the paper
	// attack's point for the same target (default true), so that it finds
	// at least what the paper's attack finds.
	WarmStart *bool `toml:"warm_start,omitempty"`
}

// AdaptiveAttack is one adaptive attack of the Adaptive experiment.
type AdaptiveAttack struct {
	// Name labels it in results.
	Name string `toml:"name"`
	// Objective is "margin" (default), "target_confidence" or
	// "neighbourhood" (see attack.Objective).
	Objective string `toml:"objective"`
	// Backward is "identity" (BPDA, default) or "unrolled" (the exact
	// derivative of the defense's search).
	Backward string `toml:"backward"`
	// Samples are the EOT draws of the defense's random starts per step
	// (default 1; more need defense.random_start).
	Samples int `toml:"samples"`
	// Inner are the steps of the inner search for the worst point of the
	// neighbourhood (objective neighbourhood only; default 0).
	Inner int `toml:"inner"`
}

// DefenseConfig sets the embedding defense of the Embedding experiment.
type DefenseConfig struct {
	// Method is "mcn" (default), "hcnn", "ncn", "shannon" or "renyi".
	Method string `toml:"method"`
	// Xi is the sweep of search radii; empty means ξ = η.
	Xi []float64 `toml:"xi"`
	// Lambda is the sweep of HCNN's distance weights (default [0]).
	Lambda []float64 `toml:"lambda"`
	// Norm is HCNN's and NCN's second norm, "linf" (default) or "l2".
	Norm string `toml:"norm"`
	// Iterations per label (paper: 500).
	Iterations int `toml:"iterations"`
	// P is NCN's confidence threshold.
	P float64 `toml:"p"`
	// Alpha is the Rényi order (α > 0, α ≠ 1).
	Alpha float64 `toml:"alpha"`
	// RandomStart starts the defense's searches at a random point of the
	// ξ-ball (Adaptive only; adaptive attacks then use EOT over it).
	RandomStart *bool `toml:"random_start"`
	// Examples, when set, is the examples directory of an earlier Embedding
	// run with the same data, models, radii, points and unit_points
	// (relative to the config file's directory): its saved adversarial
	// examples are defended instead of attacking again.
	Examples string `toml:"examples"`
}

// Seeds is the seed key: one seed (seed = 1) or a sweep (seed = [1, 2]).
// The zero value is the one seed 0.
type Seeds []uint64

// UnmarshalTOML implements toml.Unmarshaler: an integer or a list of them,
// each ≥ 0.
func (s *Seeds) UnmarshalTOML(v any) error {
	one := func(x any) (uint64, error) {
		n, ok := x.(int64)
		if !ok || n < 0 {
			return 0, fmt.Errorf("seed: %v is not an integer ≥ 0", x)
		}
		return uint64(n), nil
	}
	switch v := v.(type) {
	case []any:
		if len(v) == 0 {
			return fmt.Errorf("seed: an empty list")
		}
		*s = nil
		for _, x := range v {
			n, err := one(x)
			if err != nil {
				return err
			}
			*s = append(*s, n)
		}
		return nil
	default:
		n, err := one(v)
		*s = Seeds{n}
		return err
	}
}

// MarshalTOML implements toml.Marshaler: an integer for one seed, else a list.
func (s Seeds) MarshalTOML() ([]byte, error) {
	if len(s) == 1 {
		return []byte(strconv.FormatUint(s[0], 10)), nil
	}
	parts := make([]string, len(s))
	for i, v := range s {
		parts[i] = strconv.FormatUint(v, 10)
	}
	return []byte("[" + strings.Join(parts, ", ") + "]"), nil
}

// Load reads the config at path, applies the -set overrides ("key=value",
// with TOML values: attack.eta=[0.1,0.2], data.points=50), fills in the
// defaults and validates it. Unknown keys, in the file or an override, are
// errors that name the key.
func Load(path string, overrides []string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("experiments: config: %w", err)
	}
	c, err := Parse(data, overrides)
	if err != nil {
		return nil, fmt.Errorf("experiments: config %s: %w", path, err)
	}
	if c.Title == "" {
		c.Title = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	}
	if c.Output == "" {
		c.Output = filepath.Join("results", c.Title)
	}
	dir := filepath.Dir(path)
	c.Defense.Examples = tomlconfig.Resolve(dir, c.Defense.Examples)
	c.Data.Dir = tomlconfig.Resolve(dir, c.Data.Dir)
	c.Engine.Plugin = tomlconfig.Resolve(dir, c.Engine.Plugin)
	for i := range c.Models {
		c.Models[i].Checkpoint = tomlconfig.Resolve(dir, c.Models[i].Checkpoint)
	}
	return c, nil
}

// Parse decodes a config from TOML text with overrides (see Load), applies
// defaults and validates it. Relative paths stay as written.
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

// Defaulted returns "key = value" for every key that the config file and
// the overrides left out and that took its default, for the run's log and
// meta.json.
func (c *Config) Defaulted() []string { return slices.Clone(c.defaulted) }

func (c *Config) defaults() {
	if len(c.Seed) == 0 {
		c.Seed = Seeds{0}
	}
	c.Engine.Defaults(100)
	if c.Data.Set == "" {
		c.Data.Set = "mnist"
	}
	if c.Data.UnitPoints == 0 {
		c.Data.UnitPoints = 10
	}
	if c.Data.Sample == "" {
		c.Data.Sample = SamplePerEta
	}
	if c.Attack.Restarts == 0 {
		c.Attack.Restarts = 1
	}
	for i := range c.Models {
		m := &c.Models[i]
		if m.Arch == "wide_resnet" {
			if m.Units == 0 {
				m.Units = 5
			}
			if m.Image == 0 {
				m.Image = 32
			}
		}
	}
	if p, ok := protocols[c.Experiment]; ok {
		p.defaults(c)
	}
}

func (c *Config) validate() error {
	var errs []string
	bad := func(format string, a ...any) { errs = append(errs, fmt.Sprintf(format, a...)) }
	proto, ok := protocols[c.Experiment]
	switch {
	case ok:
	case c.Experiment == "":
		bad("experiment: missing (one of %s)", strings.Join(protocolNames(), ", "))
	default:
		bad("experiment: %q is not one of %s", c.Experiment, strings.Join(protocolNames(), ", "))
	}
	switch c.Paper {
	case "", "table1", "table2", "table3", "table4":
	default:
		bad("paper: %q is not one of table1, table2, table3, table4", c.Paper)
	}
	c.Engine.Check("engine", bad)
	switch c.Data.Set {
	case "mnist":
	case "cifar10":
		if c.Data.Dir == "" {
			bad("data.dir: cifar10 needs the directory that scripts/fetch-cifar10.sh fills")
		}
	default:
		bad("data.set: %q is not mnist or cifar10", c.Data.Set)
	}
	if c.Data.Points < 1 {
		bad("data.points: %d must be ≥ 1", c.Data.Points)
	}
	if c.Data.UnitPoints < 1 {
		bad("data.unit_points: %d must be ≥ 1", c.Data.UnitPoints)
	}
	switch c.Data.Sample {
	case SamplePerEta, SampleShared:
	default:
		bad("data.sample: %q is not %s or %s", c.Data.Sample, SamplePerEta, SampleShared)
	}
	if len(c.Models) == 0 {
		bad("models: at least one [[models]] entry is needed")
	}
	names := map[string]bool{}
	for i, m := range c.Models {
		where := fmt.Sprintf("models[%d]", i)
		if m.Name == "" {
			bad("%s.name: missing", where)
		} else if names[m.Name] {
			bad("%s.name: %q used twice", where, m.Name)
		}
		names[m.Name] = true
		switch m.Arch {
		case "mnist_cnn":
			if len(m.Widths) != 0 && len(m.Widths) != 3 {
				bad("%s.widths: mnist_cnn takes [conv1, conv2, hidden]", where)
			}
		case "wide_resnet":
			if len(m.Widths) != 0 && len(m.Widths) != 4 {
				bad("%s.widths: wide_resnet takes [init, stage1, stage2, stage3]", where)
			}
			if m.Units < 1 || m.Image < 1 {
				bad("%s: units and image must be ≥ 1", where)
			}
		default:
			bad("%s.arch: %q is not mnist_cnn or wide_resnet", where, m.Arch)
		}
		for _, w := range m.Widths {
			if w < 1 {
				bad("%s.widths: %v must be positive", where, m.Widths)
				break
			}
		}
		if m.Checkpoint == "" {
			bad("%s.checkpoint: missing", where)
		}
		switch m.PaperModel {
		case "", AdvTrained, NaturallyTrained:
		default:
			bad("%s.paper_model: %q is not %s or %s", where, m.PaperModel, AdvTrained, NaturallyTrained)
		}
	}
	if (c.Data.Set == "mnist") != allArch(c.Models, "mnist_cnn") {
		bad("models: mnist needs mnist_cnn models and cifar10 wide_resnet ones")
	}
	checkRadii(bad, "attack.eta", c.Attack.Eta, true)
	if c.Attack.Iterations < 1 {
		bad("attack.iterations: %d must be ≥ 1", c.Attack.Iterations)
	}
	if c.Attack.Restarts < 1 {
		bad("attack.restarts: %d must be ≥ 1", c.Attack.Restarts)
	}
	if c.Attack.Step < 0 {
		bad("attack.step: %v must be ≥ 0", c.Attack.Step)
	}
	if c.Attack.LearningRate < 0 {
		bad("attack.learning_rate: %v must be ≥ 0", c.Attack.LearningRate)
	}
	if ok {
		proto.check(c, bad)
	}
	if c.Experiment != Adaptive {
		// Keys only the adaptive experiment reads are refused elsewhere,
		// not silently ignored.
		r := c.Reject
		if r.Holdout != 0 || len(r.Keep) > 0 || r.DetectorKeep != 0 {
			bad("reject.holdout, reject.keep, reject.detector_keep: only experiment = %q reads them", Adaptive)
		}
		if c.Adaptive != nil {
			bad("adaptive: only experiment = %q reads the [adaptive] table", Adaptive)
		}
		if c.Defense.RandomStart != nil {
			bad("defense.random_start: only experiment = %q reads it", Adaptive)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// checkRadii checks a sweep of ℓ∞ radii on the [0,1] scale.
func checkRadii(bad func(string, ...any), key string, v []float64, need bool) {
	if need && len(v) == 0 {
		bad("%s: at least one radius is needed", key)
	}
	for _, e := range v {
		if !(e >= 0 && e <= 1) {
			bad("%s: %v must lie in [0, 1] (the [0,1] pixel scale)", key, e)
		}
	}
}

// checkProb checks a confidence threshold in (0, 1).
func checkProb(bad func(string, ...any), key string, p float64) {
	if !(p > 0 && p < 1) {
		bad("%s: %v must lie in (0, 1)", key, p)
	}
}

// tomlMap returns the config under its TOML keys, as a file would give it
// with every default filled in.
func (c *Config) tomlMap() (map[string]any, error) {
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(c); err != nil {
		return nil, fmt.Errorf("experiments: config: %w", err)
	}
	m := map[string]any{}
	if _, err := toml.Decode(buf.String(), &m); err != nil {
		return nil, fmt.Errorf("experiments: config: %w", err)
	}
	return m, nil
}

func allArch(models []ModelConfig, arch string) bool {
	for _, m := range models {
		if m.Arch != arch {
			return false
		}
	}
	return true
}
