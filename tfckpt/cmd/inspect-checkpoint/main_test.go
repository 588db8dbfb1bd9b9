package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

const fixtures = "../../testdata/tfckpt"

func TestRun(t *testing.T) {
	tests := []struct {
		name   string
		path   string
		tensor string
		arch   string
		verify bool
		want   []string // substrings of the output
		err    string   // substring of the error, "" for none
	}{
		{"directory prefix", filepath.Join(fixtures, "half_plus_three", "variables"), "", "", true,
			[]string{"3 tensors, 12 data bytes", "a    float32  []     4", "checksums: all 3 tensors match"}, ""},
		{"index file", filepath.Join(fixtures, "half_plus_two_mkl", "variables.index"), "conv2d/kernel", "", false,
			[]string{"conv2d/kernel  float32  [1,1,1,1]  4", "conv2d/kernel = [-0.52239597]"}, ""},
		{"wrong architecture", filepath.Join(fixtures, "half_plus_three", "variables"), "", "mnist", false,
			[]string{"graph mnist_cnn: does NOT fit", "tensors the graph does not use (3): a, b, c"}, "variable Variable_7 [10]"},
		{"missing", filepath.Join(fixtures, "nope"), "", "", false, nil, "is neither a checkpoint prefix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opt, err := options(tt.tensor, false, 3, tt.verify, tt.arch)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			err = run(&out, tt.path, opt)
			if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
				t.Errorf("error %v, want %q", err, tt.err)
			}
			for _, s := range tt.want {
				if !strings.Contains(out.String(), s) {
					t.Errorf("output lacks %q:\n%s", s, out.String())
				}
			}
		})
	}
	if _, err := options("", false, 0, false, "resnet"); err == nil {
		t.Error("unknown -arch accepted")
	}
}
