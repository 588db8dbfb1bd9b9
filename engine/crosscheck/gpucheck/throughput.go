package gpucheck

import (
	"context"
	"fmt"
	"math"
	"time"

	"confrobust/engine"
	"confrobust/engine/backend"
)

// Rate is one throughput measurement of the compiled attack step.
type Rate struct {
	Impl      string `json:"impl"` // "xla"
	Net       string `json:"net"`
	Precision string `json:"precision"` // "float32" (TF32 allowed on CUDA) or "bf16"
	Batch     int    `json:"batch"`
	Steps     int    `json:"steps"`
	Unroll    int    `json:"unroll"`
	// FirstCallS is the first search's time (compiling its programs);
	// BestS the best of the timed searches after it; CompileS the
	// executor's compile time.
	FirstCallS float64 `json:"first_call_s"`
	BestS      float64 `json:"best_s"`
	CompileS   float64 `json:"compile_s"`
	// ImageGradsPerS is Batch·Steps/BestS: images × attack steps (one
	// forward and backward pass, the sign step, projection and keep rule
	// each) per second.
	ImageGradsPerS float64 `json:"image_grads_per_s"`
	Executor       string  `json:"executor"`
}

// Throughput runs part 2: the compiled max-confidence step (Search with
// the target log-probability, most-confident-wrong keep rule, η = 8/255)
// of the WideResNet at each of o.Batches (float32) and o.BF16Batches (bf16)
// and of the MNIST CNN at o.MNISTBatch in both. It writes throughput.json.
func Throughput(ctx context.Context, o Options) ([]Rate, error) {
	nets, err := o.nets()
	if err != nil {
		return nil, err
	}
	var out []Rate
	for _, prec := range []string{engine.Float32, engine.BF16} {
		f, err := o.openXLA(prec, 1)
		if err != nil {
			return out, err
		}
		for _, n := range nets {
			batches := o.Batches
			if prec == engine.BF16 {
				batches = o.BF16Batches
			}
			if n.name == "mnist" {
				batches = []int{o.MNISTBatch}
			}
			for _, b := range batches {
				r, err := o.rate(ctx, f.Rebatched(b), n, b)
				if err != nil {
					f.Close()
					return out, fmt.Errorf("gpucheck: throughput %s batch %d %s: %w", n.name, b, prec, err)
				}
				r.Precision = prec
				o.logf("throughput %s batch %d %s: %.0f image-gradients/s (first call %.1f s, compile %.1f s)",
					n.name, b, prec, r.ImageGradsPerS, r.FirstCallS, r.CompileS)
				out = append(out, r)
				// Write as we go: a later part past its time limit keeps these.
				if err := o.writeJSON("throughput.json", out); err != nil {
					f.Close()
					return out, err
				}
			}
		}
		f.Close()
	}
	return out, o.writeJSON("throughput.json", out)
}

// rate times the step of net n at batch b on an executor of f.
func (o *Options) rate(ctx context.Context, f *backend.Factory, n net, b int) (Rate, error) {
	m, err := randomModel(n.graph, o.Seed)
	if err != nil {
		return Rate{}, err
	}
	e, err := f.New(m)
	if err != nil {
		return Rate{}, err
	}
	defer e.Close()
	s, ok := e.(engine.Searcher)
	if !ok {
		return Rate{}, fmt.Errorf("executor %s has no compiled search", f.Name)
	}
	x := randomInputs(n.graph, b, o.Seed+2)
	req := maxConfSearch(x, b, n.graph.Classes, o.Steps, 8.0/255)
	var res engine.SearchResult
	r := Rate{Impl: "xla", Net: n.name, Batch: b, Steps: o.Steps, Executor: f.Name}
	if u, ok := e.(interface{ Unroll() int }); ok {
		r.Unroll = min(u.Unroll(), o.Steps)
	}
	t0 := time.Now()
	if err := s.Search(ctx, &res, req); err != nil {
		return r, err
	}
	r.FirstCallS = time.Since(t0).Seconds()
	r.BestS = math.Inf(1)
	for range 2 {
		t0 := time.Now()
		if err := s.Search(ctx, &res, req); err != nil {
			return r, err
		}
		r.BestS = min(r.BestS, time.Since(t0).Seconds())
	}
	r.CompileS = compileTime(e).Seconds()
	r.ImageGradsPerS = float64(b*o.Steps) / r.BestS
	return r, nil
}

// maxConfSearch is the Table 2 step on n inputs x: targeted (target
// label+1), the target log-probability ascended, the most confident wrong
// point kept, sign steps of eps/4 in the ℓ∞ ball of radius eps.
func maxConfSearch(x []float32, n, k, steps int, eps float32) *engine.Search {
	d := len(x) / n
	s := &engine.Search{N: n, Lo: make([]float32, n*d), Hi: make([]float32, n*d), Start: x, Steps: steps, Step: make([]float32, n)}
	labels, targets := make([]int, n), make([]int, n)
	for i := range labels {
		labels[i] = i % k
		targets[i] = (i + 1) % k
		s.Step[i] = eps / 4
	}
	for q, v := range x {
		s.Lo[q], s.Hi[q] = max(v-eps, 0), min(v+eps, 1)
	}
	s.Loss = engine.TargetLogProb{Targets: targets}
	s.Keep = engine.Keep{Criterion: engine.ConfidentWrong{Labels: labels}}
	return s
}
