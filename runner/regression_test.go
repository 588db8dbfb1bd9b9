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
	{"mnist-table1", []string{"data.points=20", "attack.eta=[0.1,0.3]", "attack.iterations=10"}},
	{"mnist-table2", []string{"data.points=20", "attack.eta=[0.1,0.3]", "attack.iterations=5"}},
	{"mnist-table3", []string{"data.points=20", "attack.iterations=5"}},
	{"mnist-table4", []string{"data.points=4", "data.unit_points=2", "attack.eta=[0.3]", "attack.iterations=10", "defense.iterations=5"}},
	{"adaptive-mnist", []string{`models=[{name="adv", arch="mnist_cnn", checkpoint="../models/mnist-adv"}]`, "attack.eta=[0.1]", "data.points=4", "data.unit_points=2",
		"reject.holdout=30", "reject.keep=[0.99]", "attack.iterations=5", "defense.iterations=3", "adaptive.iterations=2"}},
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
			checkInformative(t, tc.config, res.Settings)
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

// checkInformative asserts that a regression golden can catch a wrong count:
// Table 1's has a setting that is neither all nor nothing, Table 4's has
// label-change examples beside confidence reductions.
func checkInformative(t *testing.T, config string, settings json.RawMessage) {
	t.Helper()
	var ss []struct {
		Found               *struct{ K, N int }                          `json:"found"`
		LabelChange         *struct{ First, Second, Other, Missing int } `json:"label_change"`
		ConfidenceReduction *struct{ First, Second, Other, Missing int } `json:"confidence_reduction"`
		Attacks             []struct {
			Robust struct{ K, N int } `json:"robust_accuracy"`
		} `json:"attacks"`
	}
	if err := json.Unmarshal(settings, &ss); err != nil {
		t.Fatal(err)
	}
	ok := false
	for _, s := range ss {
		switch {
		case s.Found != nil:
			ok = ok || (s.Found.K > 0 && s.Found.K < s.Found.N)
		case s.Attacks != nil:
			for _, a := range s.Attacks {
				ok = ok || (a.Robust.K > 0 && a.Robust.K < a.Robust.N)
			}
		case s.LabelChange != nil:
			lc := s.LabelChange.First + s.LabelChange.Second + s.LabelChange.Other + s.LabelChange.Missing
			cr := s.ConfidenceReduction.First + s.ConfidenceReduction.Second + s.ConfidenceReduction.Other + s.ConfidenceReduction.Missing
			ok = ok || (lc > 0 && cr > 0)
		default:
			ok = true
		}
	}
	if !ok {
		t.Errorf("%s: the regression has no setting that can catch a wrong count (all-or-nothing, or no label change)", config)
	}
}
