// Command xlacheck checks and times engine/xla on one backend: the logits
// and input gradients of Madry's MNIST CNN and CIFAR-10 WideResNet (random
// weights from a fixed seed) against the float64 reference and engine/native
// (the CPU engine), XLA's native against the portable convolutions on the
// same device, and the throughput of input
// gradients and of the compiled PGD loop. scripts/gpu-check.sh runs it on a
// GPU machine next to scripts/torch_reference.py.
//
// Usage:
//
//	xlacheck [flags]
//
// Build it with the XLA backend linked (cgo):
//
//	CGO_ENABLED=1 go build -tags xla -o bin/xlacheck ./engine/crosscheck/cmd/xlacheck
//
// Every result line starts with "RESULT " followed by key=value pairs, for
// scripts; other lines are for people.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"time"

	"confrobust/engine"
	"confrobust/engine/internal/reference"
	"confrobust/engine/native"
	"confrobust/engine/xla"
	"confrobust/model"
)

var (
	backendFlag = flag.String("backend", "", `GoMLX backend: "xla:/abs/path/xla_cuda_plugin.so", "xla:cuda", "go"; empty: $`+xla.PluginEnv+`, $GOMLX_BACKEND, "xla"`)
	archFlag    = flag.String("arch", "mnist,wrn", "comma-separated networks: mnist, wrn")
	batchFlag   = flag.Int("batch", 0, "batch size (0: 1000 for mnist, 256 for wrn)")
	stepsFlag   = flag.Int("steps", 20, "PGD steps timed per repetition")
	unrollFlag  = flag.Int("unroll", 0, "search steps per compiled program (0: the executor's default)")
	repsFlag    = flag.Int("reps", 3, "timed repetitions (after one warm-up)")
	checkFlag   = flag.Int("check", 2, "images checked against the float64 reference and engine/native (0: skip)")
	opsFlag     = flag.String("ops", "auto", "convolution and pooling: auto, native, portable")
	seedFlag    = flag.Uint64("seed", 1, "seed of the random weights and inputs")
)

func usage() {
	fmt.Fprintf(os.Stderr, "usage: xlacheck [flags]\n")
	flag.PrintDefaults()
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("xlacheck: ")
	flag.Usage = usage
	flag.Parse()
	if flag.NArg() > 0 {
		usage()
		os.Exit(2)
	}
	if err := xlacheckMain(); err != nil {
		log.Fatal(err)
	}
}

func xlacheckMain() error {
	ops := map[string]xla.Ops{"auto": xla.OpsAuto, "native": xla.OpsNative, "portable": xla.OpsPortable}[*opsFlag]
	if _, ok := map[string]bool{"auto": true, "native": true, "portable": true}[*opsFlag]; !ok {
		return fmt.Errorf("unknown -ops %q", *opsFlag)
	}
	for _, arch := range strings.Split(*archFlag, ",") {
		var g *model.Graph
		batch := *batchFlag
		switch arch {
		case "mnist":
			g = model.MNISTCNN(model.DefaultMNIST)
			if batch == 0 {
				batch = 1000
			}
		case "wrn":
			g = model.WideResNet(model.DefaultWideResNet)
			if batch == 0 {
				batch = 256
			}
		default:
			return fmt.Errorf("unknown -arch %q", arch)
		}
		if err := check(arch, g, batch, ops); err != nil {
			return fmt.Errorf("%s: %w", arch, err)
		}
	}
	return nil
}

func check(arch string, g *model.Graph, batch int, ops xla.Ops) error {
	m, err := model.NewModel(g)
	if err != nil {
		return err
	}
	m.InitRandom(*seedFlag)
	e, err := xla.New(m, xla.WithBackend(*backendFlag), xla.WithOps(ops), xla.WithUnroll(*unrollFlag))
	if err != nil {
		return err
	}
	defer e.Close()
	fmt.Printf("== %s: %s, precision %s, batch %d\n", arch, e.Backend(), e.Precision(), batch)
	size, c := g.Input.Size(), g.Classes
	r := rand.New(rand.NewPCG(*seedFlag, 2))
	x := make([]float32, batch*size)
	for i := range x {
		x[i] = r.Float32()
	}
	targets := make([]int, batch)
	for i := range targets {
		targets[i] = r.IntN(c)
	}
	loss := engine.TargetLogProb{Targets: targets}

	if n := min(*checkFlag, batch); n > 0 {
		if err := checkAgainstReference(arch, e, m, x[:n*size], n, loss); err != nil {
			return err
		}
		if err := checkAgainstNative(arch, e, m, x[:n*size], n, loss); err != nil {
			return err
		}
		if e.Ops() == xla.OpsNative {
			if err := checkNativeVsPortable(arch, e, m, x[:n*size], n, loss); err != nil {
				return err
			}
		}
	}

	// Input gradients: compile, then time.
	dx, z := make([]float32, batch*size), make([]float32, batch*c)
	t0 := time.Now()
	if err := e.InputGrad(dx, z, nil, x, batch, loss); err != nil {
		return err
	}
	compile := time.Since(t0)
	best := math.Inf(1)
	for range *repsFlag {
		t0 := time.Now()
		if err := e.InputGrad(dx, z, nil, x, batch, loss); err != nil {
			return err
		}
		best = min(best, time.Since(t0).Seconds())
	}
	fmt.Printf("RESULT arch=%s what=input_grad batch=%d first_call_s=%.3f best_s=%.5f images_per_s=%.1f\n",
		arch, batch, compile.Seconds(), best, float64(batch)/best)

	// Compiled search: images·steps per second.
	labels := make([]int, batch)
	for i := range labels {
		labels[i] = (targets[i] + 1) % c
	}
	lo, hi := make([]float32, len(x)), make([]float32, len(x))
	for i, v := range x {
		lo[i], hi[i] = max(v-8.0/255, 0), min(v+8.0/255, 1)
	}
	step := make([]float32, batch)
	for i := range step {
		step[i] = 2.0 / 255
	}
	s := &engine.Search{N: batch, Lo: lo, Hi: hi, Start: x, Steps: *stepsFlag, Step: step, Loss: loss,
		Keep: engine.Keep{Criterion: engine.ConfidentWrong{Labels: labels}}}
	var res engine.SearchResult
	t0 = time.Now()
	if err := e.Search(context.Background(), &res, s); err != nil {
		return err
	}
	first := time.Since(t0)
	best = math.Inf(1)
	for range *repsFlag {
		t0 := time.Now()
		if err := e.Search(context.Background(), &res, s); err != nil {
			return err
		}
		best = min(best, time.Since(t0).Seconds())
	}
	found := 0
	for _, v := range res.Score {
		if v > 1 {
			found++
		}
	}
	fmt.Printf("RESULT arch=%s what=pgd batch=%d steps=%d unroll=%d first_call_s=%.3f best_s=%.5f steps_per_s=%.2f image_steps_per_s=%.1f misclassified=%d\n",
		arch, batch, s.Steps, e.Unroll(), first.Seconds(), best, float64(s.Steps)/best, float64(batch*s.Steps)/best, found)
	return nil
}

// checkAgainstReference compares logits and directional derivatives of the
// loss with the float64 reference (central differences, in parallel).
func checkAgainstReference(arch string, e *xla.Executor, m *model.Model, x []float32, n int, loss engine.TargetLogProb) error {
	size, c := m.Graph.Input.Size(), m.Graph.Classes
	dx, z := make([]float32, n*size), make([]float32, n*c)
	if err := e.InputGrad(dx, z, nil, x, n, loss); err != nil {
		return err
	}
	// The full WideResNet has millions of leaky ReLUs: a step of 1e-5 or 1e-6
	// crosses enough kinks to be 10% or 1% off (measured on the CPU: 0.097,
	// 0.0088, then 1.6e-5 at 1e-7 and 2.0e-5 at 1e-8, where float64 rounding
	// starts to show).
	const h = 1e-8
	type job struct {
		i    int
		sign float64
	}
	r := rand.New(rand.NewPCG(3, 3))
	dirs := make([][]float64, n)
	for i := range dirs {
		dirs[i] = make([]float64, size)
		for k := range dirs[i] {
			dirs[i][k] = r.NormFloat64()
		}
	}
	vals := map[job]float64{}
	logits := make([][]float64, n)
	ref := reference.New(m)
	var mu sync.Mutex
	var wg sync.WaitGroup
	var firstErr error
	for i := 0; i < n; i++ {
		for _, s := range []float64{0, 1, -1} {
			wg.Add(1)
			go func(j job) {
				defer wg.Done()
				xi := make([]float64, size)
				for k := range xi {
					xi[k] = float64(x[j.i*size+k]) + j.sign*h*dirs[j.i][k]
				}
				zr, err := ref.Logits(xi)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					firstErr = err
					return
				}
				vals[j] = reference.LogSoftmax(zr)[loss.Targets[j.i]]
				if j.sign == 0 {
					logits[j.i] = zr
				}
			}(job{i, s})
		}
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	worstZ, worstG := 0.0, 0.0
	for i := 0; i < n; i++ {
		scale := 0.0
		for _, v := range logits[i] {
			scale = max(scale, math.Abs(v))
		}
		for j := 0; j < c; j++ {
			worstZ = max(worstZ, math.Abs(float64(z[i*c+j])-logits[i][j])/max(scale, 1e-12))
		}
		fd := (vals[job{i, 1}] - vals[job{i, -1}]) / (2 * h)
		dot := 0.0
		for k := 0; k < size; k++ {
			dot += float64(dx[i*size+k]) * dirs[i][k]
		}
		worstG = max(worstG, math.Abs(dot-fd)/max(math.Abs(fd), math.Abs(dot), 1e-12))
	}
	fmt.Printf("RESULT arch=%s what=vs_reference images=%d logits_max_rel_diff=%.3g grad_directional_max_rel_diff=%.3g\n", arch, n, worstZ, worstG)
	return nil
}

// checkAgainstNative compares e with engine/native, the CPU engine, on the
// same weights and inputs. (This command is outside both engines' packages;
// neither engine imports the other.)
func checkAgainstNative(arch string, e *xla.Executor, m *model.Model, x []float32, n int, loss engine.TargetLogProb) error {
	ne, err := native.New(m)
	if err != nil {
		return err
	}
	defer ne.Close()
	size, c := m.Graph.Input.Size(), m.Graph.Classes
	dx1, z1 := make([]float32, n*size), make([]float32, n*c)
	dx2, z2 := make([]float32, n*size), make([]float32, n*c)
	if err := e.InputGrad(dx1, z1, nil, x, n, loss); err != nil {
		return err
	}
	if err := ne.InputGrad(dx2, z2, nil, x, n, loss); err != nil {
		return err
	}
	fmt.Printf("RESULT arch=%s what=vs_native images=%d logits_max_rel_diff=%.3g grad_max_rel_diff=%.3g\n",
		arch, n, maxRelDiff(z1, z2), maxRelDiff(dx1, dx2))
	return nil
}

// checkNativeVsPortable compares e (native convolution and pooling) with
// the portable forms on the same backend.
func checkNativeVsPortable(arch string, e *xla.Executor, m *model.Model, x []float32, n int, loss engine.TargetLogProb) error {
	p, err := xla.New(m, xla.WithBackendInstance(e.GoMLXBackend()), xla.WithOps(xla.OpsPortable))
	if err != nil {
		return err
	}
	defer p.Close()
	size, c := m.Graph.Input.Size(), m.Graph.Classes
	dx1, z1 := make([]float32, n*size), make([]float32, n*c)
	dx2, z2 := make([]float32, n*size), make([]float32, n*c)
	if err := e.InputGrad(dx1, z1, nil, x, n, loss); err != nil {
		return err
	}
	if err := p.InputGrad(dx2, z2, nil, x, n, loss); err != nil {
		return err
	}
	fmt.Printf("RESULT arch=%s what=native_vs_portable images=%d logits_max_rel_diff=%.3g grad_max_rel_diff=%.3g\n",
		arch, n, maxRelDiff(z1, z2), maxRelDiff(dx1, dx2))
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
