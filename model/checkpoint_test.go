package model

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"confrobust/tfckpt"
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
			if err := tfckpt.WriteCheckpointState(dir, prefix); err != nil {
				t.Fatal(err)
			}
			for _, path := range []string{prefix, tfckpt.IndexPath(prefix), dir} {
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
			b, err := tfckpt.OpenBundle(prefix)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			if len(b.Entries()) != len(m.Specs) {
				t.Errorf("%d tensors, want %d", len(b.Entries()), len(m.Specs))
			}
			for _, s := range m.Specs {
				e, err := b.Lookup(s.Name)
				if err != nil || e.DType != tfckpt.DTFloat || !slices.Equal(e.Shape, s.Shape) {
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
	w, err := tfckpt.CreateBundle(prefix)
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
			w.Add(s.Name, &tfckpt.Tensor{DType: tfckpt.DTInt32, Shape: s.Shape, Data: make([]byte, 4*s.Size())})
		case "Variable_5":
			w.AddFloat32(s.Name+"/.ATTRIBUTES/VARIABLE_VALUE", s.Shape, m.Params[s.Name])
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
	for _, sentinel := range []error{tfckpt.ErrNotFound, tfckpt.ErrDType, tfckpt.ErrFormat} {
		if !errors.Is(err, sentinel) {
			t.Errorf("LoadModel error does not wrap %v", sentinel)
		}
	}
	if strings.Contains(err.Error(), "Variable_5") {
		t.Errorf("Variable_5 under its TensorFlow 2 name was not found: %v", err)
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
