package experiments

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// toolLine is results.json's tool version, which changes with every build.
var toolLine = regexp.MustCompile(`"tool": "[^"]*"`)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestGoldens runs each protocol on the tiny model and compares the
// results.json, results.csv and results.md it writes with
// testdata/<experiment>.results.*. After an intended change of a format:
//
//	go test ./experiments -run TestGoldens -update
func TestGoldens(t *testing.T) {
	if testing.Short() {
		t.Skip("runs attacks")
	}
	for _, tc := range protocolCases {
		t.Run(tc.experiment, func(t *testing.T) {
			p, env := tinyRun(t, tc.experiment, tc.extra, "paper=\"\"")
			if _, err := Run(context.Background(), p, env, RunOptions{}); err != nil {
				t.Fatal(err)
			}
			tmp := filepath.Dir(p.Config.Output)
			for _, ext := range []string{"json", "csv", "md"} {
				got := readFile(t, filepath.Join(p.Config.Output, "results."+ext))
				got = bytes.ReplaceAll(got, []byte(tmp), []byte("$TMP"))
				got = toolLine.ReplaceAllLiteral(got, []byte(`"tool": "$TOOL"`))
				checkGolden(t, filepath.Join("testdata", tc.experiment+".results."+ext), got)
			}
		})
	}
}

// checkGolden compares got with the golden file, or rewrites it with -update.
func checkGolden(t *testing.T, golden string, got []byte) {
	t.Helper()
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
		t.Fatalf("%v (create it with: go test ./experiments -run TestGoldens -update)", err)
	}
	if bytes.Equal(got, want) {
		return
	}
	gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := 0; i < len(gl) && i < len(wl); i++ {
		if gl[i] != wl[i] {
			t.Fatalf("%s differs at line %d:\n got  %s\n want %s", golden, i+1, gl[i], wl[i])
		}
	}
	t.Fatalf("%s differs in length: %d lines, want %d", golden, len(gl), len(wl))
}
