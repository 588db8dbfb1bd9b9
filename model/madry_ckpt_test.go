package model

import (
	"confrobust/tfckpt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestMadryWideResNetCheckpoint saves and loads a model of the size of
// Madry's CIFAR-10 WideResNet (157 variables, 45,924,346 floats, 184 MB).
func TestMadryWideResNetCheckpoint(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 184 MB checkpoint; run without -short")
	}
	g := WideResNet(DefaultWideResNet)
	m, err := NewModel(g)
	if err != nil {
		t.Fatal(err)
	}
	m.InitRandom(1)
	dir := t.TempDir()
	prefix := filepath.Join(dir, "checkpoint-70000")
	start := time.Now()
	if err := m.Save(prefix); err != nil {
		t.Fatal(err)
	}
	saved := time.Since(start)
	if err := tfckpt.WriteCheckpointState(dir, prefix); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	got, err := LoadModel(g, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("save %v, load %v", saved, time.Since(start))
	for _, s := range m.Specs {
		if !slices.Equal(got.Params[s.Name], m.Params[s.Name]) {
			t.Errorf("%s differs after the round trip", s.Name)
		}
	}
	b, err := tfckpt.OpenBundle(prefix)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if n := len(b.Entries()); n != 157 {
		t.Errorf("%d tensors, want 157", n)
	}
}

var benchSink []float32

// BenchmarkReadFloat32 reads the largest tensor of Madry's WideResNet,
// unit_3_*/sub2/conv2/DW: 3·3·640·640 floats, 14.7 MB.
func BenchmarkReadFloat32(b *testing.B) {
	shape := []int{3, 3, 640, 640}
	v := make([]float32, 3*3*640*640)
	for i := range v {
		v[i] = float32(i)
	}
	prefix := filepath.Join(b.TempDir(), "bench")
	w, err := tfckpt.CreateBundle(prefix)
	if err != nil {
		b.Fatal(err)
	}
	if err := w.AddFloat32("unit_3_4/sub2/conv2/DW", shape, v); err != nil {
		b.Fatal(err)
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	bundle, err := tfckpt.OpenBundle(prefix)
	if err != nil {
		b.Fatal(err)
	}
	defer bundle.Close()
	dst := make([]float32, len(v))
	b.SetBytes(int64(4 * len(v)))
	b.ReportAllocs()
	for b.Loop() {
		if err := bundle.ReadFloat32(dst, "unit_3_4/sub2/conv2/DW"); err != nil {
			b.Fatal(err)
		}
	}
	benchSink = dst
}

// madryCheckpoint writes a random checkpoint of Madry's full WideResNet once
// per benchmark and returns its prefix and size in bytes.
func madryCheckpoint(b *testing.B) (string, *Graph, int64) {
	g := WideResNet(DefaultWideResNet)
	m, err := NewModel(g)
	if err != nil {
		b.Fatal(err)
	}
	m.InitRandom(1)
	prefix := filepath.Join(b.TempDir(), "checkpoint-70000")
	if err := m.Save(prefix); err != nil {
		b.Fatal(err)
	}
	fi, err := os.Stat(tfckpt.ShardPath(prefix, 0, 1))
	if err != nil {
		b.Fatal(err)
	}
	return prefix, g, fi.Size()
}

// BenchmarkLoadMadryWideResNet loads all 45,924,346 floats (184 MB) of a
// generated Madry-layout checkpoint with LoadModel, checksums verified; run
// it beside BenchmarkReadMadryWideResNetRaw, which only reads the same
// shard file's bytes, to see the cost of the bundle layer over the disk (or
// page cache).
func BenchmarkLoadMadryWideResNet(b *testing.B) {
	if testing.Short() {
		b.Skip("writes a 184 MB checkpoint")
	}
	prefix, g, size := madryCheckpoint(b)
	b.SetBytes(size)
	for b.Loop() {
		m, err := LoadModel(g, prefix)
		if err != nil {
			b.Fatal(err)
		}
		benchSink = m.Params["logit/DW"]
	}
}

func BenchmarkReadMadryWideResNetRaw(b *testing.B) {
	if testing.Short() {
		b.Skip("writes a 184 MB checkpoint")
	}
	prefix, _, size := madryCheckpoint(b)
	b.SetBytes(size)
	for b.Loop() {
		data, err := os.ReadFile(tfckpt.ShardPath(prefix, 0, 1))
		if err != nil {
			b.Fatal(err)
		}
		benchSink = []float32{float32(data[0])}
	}
}
