package tfckpt

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckpointPrefix(t *testing.T) {
	dir := t.TempDir()
	touch := func(name string) {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	touch("checkpoint-70000.index")
	sub := filepath.Join(dir, "sub")
	os.Mkdir(sub, 0o755)
	os.WriteFile(filepath.Join(sub, "model-5.index"), nil, 0o644)
	state := func(d, body string) {
		if err := os.WriteFile(filepath.Join(d, StateFile), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name  string
		state string // written to dir/checkpoint before the call, if not ""
		path  string
		want  string
		err   string
	}{
		{"prefix", "", filepath.Join(dir, "checkpoint-70000"), filepath.Join(dir, "checkpoint-70000"), ""},
		{"index file", "", filepath.Join(dir, "checkpoint-70000.index"), filepath.Join(dir, "checkpoint-70000"), ""},
		{"relative state", "model_checkpoint_path: \"checkpoint-70000\"\nall_model_checkpoint_paths: \"checkpoint-70000\"\n", dir, filepath.Join(dir, "checkpoint-70000"), ""},
		{"moved absolute state", "model_checkpoint_path: \"/home/madry/models/adv_trained/checkpoint-70000\"\n", dir, filepath.Join(dir, "checkpoint-70000"), ""},
		{"subdirectory", "model_checkpoint_path: \"sub/model-5\"\n", dir, filepath.Join(dir, "sub", "model-5"), ""},
		{"missing checkpoint", "model_checkpoint_path: \"checkpoint-1\"\n", dir, "", "has no index"},
		{"no path", "all_model_checkpoint_paths: \"x\"\n", dir, "", "has no model_checkpoint_path"},
		{"unquoted", "model_checkpoint_path: checkpoint-70000\n", dir, "", "is not a quoted path"},
		{"nothing", "", filepath.Join(dir, "nope"), "", "neither a checkpoint prefix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.state != "" {
				state(dir, tt.state)
			}
			got, err := CheckpointPrefix(tt.path)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("got %q, %v; want an error containing %q", got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	os.Remove(filepath.Join(dir, StateFile))
	if _, err := CheckpointPrefix(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("directory without a state file: %v, want fs.ErrNotExist", err)
	}
}

func TestWriteCheckpointState(t *testing.T) {
	dir := t.TempDir()
	if err := WriteCheckpointState(dir, filepath.Join(dir, "checkpoint-9")); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, StateFile))
	if err != nil {
		t.Fatal(err)
	}
	want := "model_checkpoint_path: \"checkpoint-9\"\nall_model_checkpoint_paths: \"checkpoint-9\"\n"
	if string(got) != want {
		t.Errorf("state file %q, want %q", got, want)
	}
}

// TestCheckpointPrefixSavedModel accepts a SavedModel directory (its
// variables/variables bundle) and a fixture-style folder holding
// variables.index.
func TestCheckpointPrefixSavedModel(t *testing.T) {
	dir := t.TempDir()
	vars := filepath.Join(dir, "saved", "variables")
	if err := os.MkdirAll(vars, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(dir, "saved", "saved_model.pb"), filepath.Join(vars, "variables.index")} {
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct{ path, want string }{
		{filepath.Join(dir, "saved"), filepath.Join(vars, "variables")},
		{vars, filepath.Join(vars, "variables")},
	} {
		if got, err := CheckpointPrefix(tc.path); err != nil || got != tc.want {
			t.Errorf("CheckpointPrefix(%s) = %q, %v; want %q", tc.path, got, err, tc.want)
		}
	}
	// The real fixtures: a SavedModel's variables folder.
	got, err := CheckpointPrefix(filepath.Join("testdata", "tfckpt", "half_plus_two_cpu"))
	if err != nil || got != filepath.Join("testdata", "tfckpt", "half_plus_two_cpu", "variables") {
		t.Errorf("fixture folder: %q, %v", got, err)
	}
}
