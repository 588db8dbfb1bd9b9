// Package gpucheck holds the measurements of scripts/gpu-check.sh, which a
// GPU machine without Go runs from binaries built beforehand
// (engine/crosscheck/cmd/gpucheck and runner):
//
//  1. Agree: xla and native on the same random weights and inputs (the full
//     Madry WideResNet and MNIST CNN): logits, input gradients, and a
//     20-point max-confidence search with the same decisions, on xla in
//     float32 and bf16.
//  2. Throughput: image-gradients/s of the compiled attack step (a
//     max-confidence Search) at several batches, in float32 (TF32 allowed)
//     and bf16; scripts/torch_reference.py measures PyTorch beside it.
//  3. Slice: the files of an end-to-end slice of configs/table2.toml
//     (synthetic CIFAR-10 records labelled by the model, a random checkpoint
//     of Madry's layout written with our own writer) and, after the runner
//     ran it, its throughput and the projected time of Tables 2 and 4.
//  4. Compile times, recorded by every part.
//
// Each part writes a JSON file into the output directory; Report merges
// them, with PyTorch's lines, into gpu-check.json and gpu-check.md. Scale
// "tiny" replaces the networks by small ones of the same layouts so that
// the Go tests run every part on GoMLX's pure-Go backend.
//
// The package builds executors only through engine/backend (it compares
// the two engines from outside both).
package gpucheck

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"confrobust/engine"
	"confrobust/engine/backend"
	"confrobust/model"
)

// Options configure the parts.
type Options struct {
	// XLA is the engine table of the xla executor checked (Backend xla,
	// Plugin the PJRT plugin; "" for $CONFROBUST_PJRT_PLUGIN or
	// $GOMLX_BACKEND, "go" in the tests).
	XLA engine.Config
	// Scale is "paper" (the full networks) or "tiny" (small networks of the
	// same layouts, for CPU tests).
	Scale string
	// Out is the directory the parts write into.
	Out string
	// Batches are the WideResNet batches of Throughput in float32,
	// BF16Batches in bf16; MNISTBatch the CNN's (both precisions).
	Batches     []int
	BF16Batches []int
	MNISTBatch  int
	// Steps is the number of attack steps timed per call (Throughput).
	Steps int
	// Points is the number of points of Agree's max-confidence search.
	Points int
	// Seed seeds the random weights and inputs.
	Seed uint64
	// Log receives progress lines.
	Log io.Writer
}

// Defaults returns the options of the GPU run: the paper-scale networks,
// WideResNet batches 128, 256, 450 (the configs' device batch) and 512 in
// float32 and 512 in bf16, MNIST at 1000, 20 steps, 20 points.
func Defaults(out string) Options {
	return Options{Scale: "paper", Out: out, Batches: []int{128, 256, engine.DeviceBatch, 512}, BF16Batches: []int{512}, MNISTBatch: 1000,
		Steps: 20, Points: 20, Seed: 1, XLA: engine.Config{Backend: engine.XLA, Precision: engine.Float32}, Log: io.Discard}
}

func (o *Options) logf(format string, a ...any) {
	if o.Log != nil {
		fmt.Fprintf(o.Log, "gpucheck: "+format+"\n", a...)
	}
}

// net is one network checked.
type net struct {
	name  string // "mnist" or "wrn"
	graph *model.Graph
}

// nets returns the networks of the scale.
func (o *Options) nets() ([]net, error) {
	switch o.Scale {
	case "paper":
		return []net{{"mnist", model.MNISTCNN(model.DefaultMNIST)}, {"wrn", model.WideResNet(model.DefaultWideResNet)}}, nil
	case "tiny":
		return []net{{"mnist", model.MNISTCNN(model.MNISTConfig{Conv1: 2, Conv2: 3, Hidden: 8})}, {"wrn", tinyWRN()}}, nil
	}
	return nil, fmt.Errorf("gpucheck: scale %q is not paper or tiny", o.Scale)
}

// tinyWRN is a WideResNet of Madry's layout on 32×32 CIFAR-10 images with
// one unit per stage and a few channels: the slice's network at scale tiny.
func tinyWRN() *model.Graph {
	return model.WideResNet(model.WideResNetConfig{Image: 32, InitWidth: 4, Widths: [3]int{6, 8, 10}, Units: 1, Classes: 10, InputScale: 255})
}

// randomModel returns a model of g with random weights from seed.
func randomModel(g *model.Graph, seed uint64) (*model.Model, error) {
	m, err := model.NewModel(g)
	if err != nil {
		return nil, fmt.Errorf("gpucheck: %w", err)
	}
	m.InitRandom(seed)
	return m, nil
}

// randomInputs returns n random inputs of g on [0,1].
func randomInputs(g *model.Graph, n int, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 2))
	x := make([]float32, n*g.Input.Size())
	for i := range x {
		x[i] = r.Float32()
	}
	return x
}

// openXLA opens the xla factory of the options in precision prec with
// batch rows per call.
func (o *Options) openXLA(prec string, batch int) (*backend.Factory, error) {
	c := o.XLA
	c.Backend, c.Precision, c.Batch = engine.XLA, prec, batch
	c.Defaults(batch)
	return backend.Open(c)
}

// openNative opens the native factory.
func openNative(batch int) (*backend.Factory, error) {
	c := engine.Config{Backend: engine.Native, Batch: batch}
	c.Defaults(batch)
	return backend.Open(c)
}

// compileTime returns the executor's compile time, if it reports one.
func compileTime(e engine.Executor) time.Duration {
	if c, ok := e.(interface{ CompileTime() time.Duration }); ok {
		return c.CompileTime()
	}
	return 0
}

// Compile is one compile-time measurement.
type Compile struct {
	What    string  `json:"what"`
	Seconds float64 `json:"seconds"`
}

// writeJSON writes v as the part file name in o.Out.
func (o *Options) writeJSON(name string, v any) error {
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return fmt.Errorf("gpucheck: %w", err)
	}
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("gpucheck: %s: %w", name, err)
	}
	p := filepath.Join(o.Out, name)
	if err := os.WriteFile(p, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("gpucheck: %w", err)
	}
	return nil
}

// maxRelDiff returns max|a−b| / max|b|.
func maxRelDiff(a, b []float32) float64 {
	d, s := 0.0, 0.0
	for i := range a {
		d = max(d, math.Abs(float64(a[i]-b[i])))
		s = max(s, math.Abs(float64(b[i])))
	}
	return d / max(s, 1e-30)
}
