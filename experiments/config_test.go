package experiments

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const minimalConfig = `experiment = "rejection"
[data]
points = 10
[[models]]
name = "adv"
arch = "mnist_cnn"
checkpoint = "m/ckpt"
[attack]
eta = [0.1]
iterations = 5
[reject]
p = [0.9]
`

// TestLoadResolvesPaths: paths in a config are relative to its directory.
func TestLoadResolvesPaths(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "configs")
	os.MkdirAll(dir, 0o755)
	path := filepath.Join(dir, "x.toml")
	text := minimalConfig + "[engine]\nplugin = \"../plugins/xla_cuda_plugin.so\"\n"
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path, []string{`data.dir="mnist"`})
	if err != nil {
		t.Fatal(err)
	}
	for key, got := range map[string]string{
		"checkpoint":    c.Models[0].Checkpoint,
		"data.dir":      c.Data.Dir,
		"engine.plugin": c.Engine.Plugin,
	} {
		want := map[string]string{"checkpoint": filepath.Join(dir, "m", "ckpt"), "data.dir": filepath.Join(dir, "mnist"),
			"engine.plugin": filepath.Join(filepath.Dir(dir), "plugins", "xla_cuda_plugin.so")}[key]
		if got != want {
			t.Errorf("%s = %q, want %q", key, got, want)
		}
	}
	if c.Title != "x" || c.Output != filepath.Join("results", "x") {
		t.Errorf("title %q, output %q", c.Title, c.Output)
	}
}

// TestDefaultedKeys: a config without its [engine] table says which
// defaults it took.
func TestDefaultedKeys(t *testing.T) {
	c, err := Parse([]byte(minimalConfig), nil)
	if err != nil {
		t.Fatal(err)
	}
	got := c.Defaulted()
	for _, want := range []string{`engine.backend = "native"`, "engine.batch = 100", `data.set = "mnist"`, `data.sample = "per_eta"`,
		"data.unit_points = 10", "attack.restarts = 1", "attack.random_start = true", "seed = 0"} {
		if !slices.Contains(got, want) {
			t.Errorf("defaults %q lack %q", got, want)
		}
	}
	c, _ = Parse([]byte(minimalConfig+"[engine]\nbackend = \"native\"\nbatch = 50\nprecision = \"float32\"\n"), nil)
	for _, d := range c.Defaulted() {
		if strings.HasPrefix(d, "engine.") {
			t.Errorf("%q reported as a default, but the config gives it", d)
		}
	}
}

func TestSeeds(t *testing.T) {
	for _, tc := range []struct {
		set  string
		want Seeds
		err  string
	}{
		{"seed=7", Seeds{7}, ""},
		{"seed=[1, 2, 3]", Seeds{1, 2, 3}, ""},
		{"seed=-1", nil, "seed: -1 is not an integer ≥ 0"},
		{"seed=[]", nil, "seed: an empty list"},
		{`seed="a"`, nil, "not an integer"},
	} {
		c, err := Parse([]byte(minimalConfig), []string{tc.set})
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: %v, want %q", tc.set, err, tc.err)
			}
		case err != nil:
			t.Errorf("%s: %v", tc.set, err)
		case !slices.Equal(c.Seed, tc.want):
			t.Errorf("%s: seeds %v, want %v", tc.set, c.Seed, tc.want)
		default:
			if n := len(NewPlan(c).Settings); n != len(tc.want) {
				t.Errorf("%s: %d settings, want one per seed", tc.set, n)
			}
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct{ set, want string }{
		{`data.sample="each"`, `data.sample: "each" is not per_eta or shared`},
		{`models=[{name="a", arch="mnist_cnn", checkpoint="c", paper_model="madry"}]`, `models[0].paper_model: "madry"`},
		{`experiment="tables"`, `experiment: "tables" is not one of adaptive, embedding, rejection, separation`},
		{"reject.p=[1]", "reject.p: 1 must lie in (0, 1)"},
		{"engine.batch=-1", "engine.batch: -1 must be ≥ 1"},
	} {
		if _, err := Parse([]byte(minimalConfig), []string{tc.set}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("-set %s: %v, want %q", tc.set, err, tc.want)
		}
	}
}
