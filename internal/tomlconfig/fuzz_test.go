package tomlconfig

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fuzzConfig has the shapes of the experiments' Config: scalars of every
// kind, a pointer, lists, nested tables and an array of tables.
type fuzzConfig struct {
	Experiment string  `toml:"experiment"`
	Seed       uint64  `toml:"seed"`
	Output     string  `toml:"output"`
	Scale      float64 `toml:"scale"`
	Engine     struct {
		Backend string `toml:"backend"`
		Batch   int    `toml:"batch"`
		Workers int    `toml:"workers"`
		TF32    bool   `toml:"tf32"`
	} `toml:"engine"`
	Data struct {
		Set    string `toml:"set"`
		Dir    string `toml:"dir"`
		Points int    `toml:"points"`
	} `toml:"data"`
	Models []struct {
		Name       string `toml:"name"`
		Arch       string `toml:"arch"`
		Checkpoint string `toml:"checkpoint"`
		Widths     []int  `toml:"widths"`
		Units      int    `toml:"units"`
	} `toml:"models"`
	Attack struct {
		Eta         []float64 `toml:"eta"`
		Iterations  int       `toml:"iterations"`
		RandomStart *bool     `toml:"random_start"`
		Step        float64   `toml:"step"`
	} `toml:"attack"`
	Reject struct {
		P []float64 `toml:"p"`
	} `toml:"reject"`
	Ignored string // no tag: Defaults skips it
}

// FuzzDecode checks that no config text and no override makes Decode or
// Defaults panic, seeded with the project's configs and the overrides the
// runner's -set takes.
func FuzzDecode(f *testing.F) {
	configs, _ := filepath.Glob(filepath.Join("..", "..", "configs", "*.toml"))
	for _, name := range configs {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b), "attack.eta=[0.1,0.2]", "engine.backend=xla")
	}
	f.Add(text, "models=[{name=\"a\", widths=[1,2,3]}]", "data.points=50")
	f.Add("[[models]]\nname = \"x\"\n[[models]]\nunits = 3\n", "models.name=1", "seed=-1")
	f.Add("attack.random_start = true\nscale = nan\n", "engine=3", "engine.batch.x=1")
	f.Add("seed = 18446744073709551615\n", "reject.p=[0.9, \"a\"]", "=")
	f.Fuzz(func(t *testing.T, data, o1, o2 string) {
		var c fuzzConfig
		d, err := Decode([]byte(data), []string{o1, o2}, &c)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		for _, line := range d.Defaults(&c) {
			if !strings.Contains(line, " = ") {
				t.Fatalf("Defaults line %q is not key = value", line)
			}
		}
	})
}
