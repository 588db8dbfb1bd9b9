package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden results in testdata/regression")

// regressions are the MNIST configs of configs/, scaled down to seconds,
// on the embedded models.
var regressions = []struct {
	config string
	sets   []string
}{
	{"mnist-table1", []string{"data.points=10", "data.unit_points=5", "attack.iterations=10"}},
	{"mnist-table2", []string{"data.points=20", "attack.eta=[0.1,0.3]", "attack.iterations=5"}},
	{"mnist-table3", []string{"data.points=20", "attack.iterations=5"}},
	{"mnist-table4", []string{"data.points=4", "data.unit_points=2", "attack.eta=[0.1]", "attack.iterations=10", "defense.iterations=5"}},
}

// TestRegression runs each scaled-down MNIST experiment on the native
// executor and compares its numbers (every setting's results and every
// point's record) bit for bit with testdata/regression/<config>.json.
// After an intended change, update the goldens with
//
//	go test ./runner -run TestRegression -update
func TestRegression(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the MNIST experiments")
	}
	for _, tc := range regressions {
		t.Run(tc.config, func(t *testing.T) {
			out := t.TempDir()
			args := []string{"-config", filepath.Join("..", "configs", tc.config+".toml"), "-quiet", "-set", "output=" + quote(out)}
			for _, s := range tc.sets {
				args = append(args, "-set", s)
			}
			runOK(t, args...)
			var res struct {
				Settings    json.RawMessage `json:"settings"`
				Comparisons json.RawMessage `json:"comparisons"`
				Points      json.RawMessage `json:"points"`
			}
			if err := json.Unmarshal(readFile(t, filepath.Join(out, "results.json")), &res); err != nil {
				t.Fatal(err)
			}
			got, err := json.MarshalIndent(res, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := json.Indent(&buf, got, "", "  "); err != nil {
				t.Fatal(err)
			}
			got = append(buf.Bytes(), '\n')
			golden := filepath.Join("testdata", "regression", tc.config+".json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (create it with: go test ./runner -run TestRegression -update)", err)
			}
			if !bytes.Equal(got, want) {
				gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
				for i := 0; i < len(gl) && i < len(wl); i++ {
					if gl[i] != wl[i] {
						t.Fatalf("results differ from %s at line %d:\n got  %s\n want %s\n(if the change is intended: go test ./runner -run TestRegression -update)", golden, i+1, gl[i], wl[i])
					}
				}
				t.Fatalf("results differ from %s in length (%d lines, want %d)", golden, len(gl), len(wl))
			}
		})
	}
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
