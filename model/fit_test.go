package model

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"confrobust/tfckpt"
)

var update = flag.Bool("update", false, "update golden files")

func TestFit(t *testing.T) {
	g := MNISTCNN(smallMNIST)
	m, _ := NewModel(g)
	m.InitRandom(3)
	dir := t.TempDir()
	prefix := filepath.Join(dir, "checkpoint-1")
	w, err := tfckpt.CreateBundle(prefix)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range m.Specs {
		if s.Name != "Variable_7" { // the last bias is missing
			w.AddFloat32(s.Name, s.Shape, m.Params[s.Name])
		}
	}
	w.Add("global_step", &tfckpt.Tensor{DType: tfckpt.DTInt64, Data: make([]byte, 8)})
	w.AddFloat32("Variable/Adam", m.Specs[0].Shape, m.Params["Variable"])
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := tfckpt.OpenBundle(prefix)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var out bytes.Buffer
	if err := tfckpt.Inspect(&out, b, tfckpt.InspectOptions{Verify: true}); err != nil {
		t.Fatal(err)
	}
	err = Fit(&out, b, g)
	if !errors.Is(err, tfckpt.ErrNotFound) {
		t.Errorf("Fit error %v, want tfckpt.ErrNotFound", err)
	}
	got := bytes.ReplaceAll(out.Bytes(), []byte(dir), []byte("$TMP"))
	golden := filepath.Join("testdata", "graph.golden")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s:\n%s", golden, got)
	}
}
