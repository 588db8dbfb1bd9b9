package tfmodel

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// smallMNIST keeps every layer of Madry's MNIST CNN with few channels.
var smallMNIST = MNISTConfig{Conv1: 2, Conv2: 3, Hidden: 5}

// smallWRN keeps every layer type and both strides of Madry's WideResNet.
var smallWRN = WideResNetConfig{Image: 8, InitWidth: 4, Widths: [3]int{6, 8, 10}, Units: 2, Classes: 10, InputScale: 255}

func TestSaveLoadModel(t *testing.T) {
	for _, g := range []*Graph{MNISTCNN(smallMNIST), WideResNet(smallWRN)} {
		t.Run(g.Name, func(t *testing.T) {
			t.Parallel()
			m, err := NewModel(g)
			if err != nil {
				t.Fatal(err)
			}
			m.InitRandom(7)
			dir := t.TempDir()
			prefix := filepath.Join(dir, "checkpoint-100")
			if err := m.Save(prefix); err != nil {
				t.Fatal(err)
			}
			if err := WriteCheckpointState(dir, prefix); err != nil {
				t.Fatal(err)
			}
			for _, path := range []string{prefix, IndexPath(prefix), dir} {
				got, err := LoadModel(g, path)
				if err != nil {
					t.Fatalf("LoadModel(%s): %v", path, err)
				}
				for _, s := range m.Specs {
					if !slices.Equal(got.Params[s.Name], m.Params[s.Name]) {
						t.Errorf("LoadModel(%s): %s differs", path, s.Name)
					}
				}
			}
			// The bundle holds exactly the graph's variables with their shapes.
			b, err := OpenBundle(prefix)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			if len(b.Entries()) != len(m.Specs) {
				t.Errorf("%d tensors, want %d", len(b.Entries()), len(m.Specs))
			}
			for _, s := range m.Specs {
				e, err := b.Lookup(s.Name)
				if err != nil || e.DType != DTFloat || !slices.Equal(e.Shape, s.Shape) {
					t.Errorf("%s: %+v, %v; want float32 %v", s.Name, e, err, s.Shape)
				}
			}
		})
	}
}

func TestLoadModelErrors(t *testing.T) {
	g := MNISTCNN(smallMNIST)
	dir := t.TempDir()
	prefix := filepath.Join(dir, "bad")
	// A checkpoint with one variable missing, one of the wrong shape, one
	// of the wrong dtype and one stored under its TensorFlow 2 name.
	m, _ := NewModel(g)
	m.InitRandom(1)
	w, err := CreateBundle(prefix)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range m.Specs {
		switch s.Name {
		case "Variable_1":
			// missing
		case "Variable_2":
			w.AddFloat32(s.Name, []int{s.Size()}, m.Params[s.Name])
		case "Variable_3":
			w.Add(s.Name, &Tensor{DType: DTInt32, Shape: s.Shape, Data: make([]byte, 4*s.Size())})
		case "Variable_5":
			w.AddFloat32(s.Name+objectSuffix, s.Shape, m.Params[s.Name])
		default:
			w.AddFloat32(s.Name, s.Shape, m.Params[s.Name])
		}
	}
	w.AddFloat32("global_step", nil, []float32{3})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = LoadModel(g, prefix)
	for _, want := range []string{
		"variable Variable_1 [2]",
		"variable Variable_2 has shape [150], want [5 5 2 3]",
		"variable Variable_3 is int32, want float32",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("LoadModel error %v, want it to mention %q", err, want)
		}
	}
	for _, sentinel := range []error{ErrNotFound, ErrDType, ErrFormat} {
		if !errors.Is(err, sentinel) {
			t.Errorf("LoadModel error does not wrap %v", sentinel)
		}
	}
	if strings.Contains(err.Error(), "Variable_5") {
		t.Errorf("Variable_5 under its TensorFlow 2 name was not found: %v", err)
	}
}

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

func TestSaveInvalidModel(t *testing.T) {
	m, _ := NewModel(MNISTCNN(smallMNIST))
	m.Params["Variable"] = m.Params["Variable"][:3]
	dir := t.TempDir()
	if err := m.Save(filepath.Join(dir, "x")); err == nil || !strings.Contains(err.Error(), "Variable has 3 values") {
		t.Errorf("Save of an invalid model: %v", err)
	}
	if names, _ := filepath.Glob(filepath.Join(dir, "*")); len(names) != 0 {
		t.Errorf("files left behind: %q", names)
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
