package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"confrobust/engine"
	"confrobust/engine/native"
	"confrobust/engine/native/gemm"
	"confrobust/engine/xla"
	"confrobust/experiments"
	"confrobust/tfmodel"
	"confrobust/train"

	"github.com/schollz/progressbar/v3"
)

// run loads the config and runs, merges or plans the experiment.
func run(ctx context.Context, o *options, stdout, stderr io.Writer) error {
	if ok, _ := train.IsConfig(o.config); ok { // errors are experiments.Load's to report
		return runTrain(ctx, o, stdout, stderr)
	}
	sets := o.sets
	if o.backend != "" {
		sets = append(sets, "engine.backend="+o.backend)
	}
	c, err := experiments.Load(o.config, sets)
	if err != nil {
		return usageError{err}
	}
	shard, err := experiments.ParseShard(o.shard)
	if err != nil {
		return usageError{err}
	}
	plan := experiments.NewPlan(c)
	newExec, execName := executorFactory(c)
	if o.dryRun {
		return dryRun(stdout, plan, newExec, execName)
	}
	if o.merge != "" {
		if err := experiments.Merge(plan, strings.Split(o.merge, ",")); err != nil {
			return err
		}
	}
	env := experiments.Env{NewExecutor: newExec, Executor: execName, Shard: shard, Log: stderr}
	if !o.quiet {
		env.Progress = newBar(stderr, c.Title)
	}
	start := time.Now()
	res, err := experiments.Run(ctx, plan, env)
	elapsed := time.Since(start)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted after %s; finished units are kept in %s: rerun the same command to resume (%w)",
				elapsed.Round(time.Second), filepath.Join(c.Output, "journal"), err)
		}
		return err
	}
	if err := writeMeta(c, shard, execName, elapsed); err != nil {
		return err
	}
	if res == nil {
		return nil // a shard: the results come with the merge
	}
	fmt.Fprintf(stdout, "%s\nResults in %s (results.json, results.csv, results.md, plots); took %s.\n",
		res.Markdown(), c.Output, elapsed.Round(time.Second))
	if o.check {
		return res.Check()
	}
	return nil
}

// executorFactory returns the constructor of the config's executor and its
// description for the results.
func executorFactory(c *experiments.Config) (func(*tfmodel.Model) (engine.Executor, error), string) {
	if c.Engine.Backend == "xla" {
		backend := ""
		if c.Engine.Plugin != "" {
			backend = "xla:" + c.Engine.Plugin
		}
		// The precision follows the backend (Executor.Precision): float32,
		// with TF32 allowed where XLA runs on a CUDA GPU.
		where := backend
		if where == "" {
			where = "plugin from $" + xla.PluginEnv + " or GoMLX's search"
		}
		name := "xla (" + where + ", float32; TF32 allowed on CUDA)"
		return func(m *tfmodel.Model) (engine.Executor, error) {
			e, err := xla.New(m, xla.WithBackend(backend))
			if err != nil {
				return nil, err
			}
			return e, nil
		}, name
	}
	k := gemm.Default()
	return func(m *tfmodel.Model) (engine.Executor, error) {
		e, err := native.New(m, native.WithKernel(k))
		if err != nil {
			return nil, err
		}
		return e, nil
	}, "native (" + k.Name() + ", float32)"
}

// writeMeta records what is not part of the results proper: when and how
// long, on what machine, with which Go.
func writeMeta(c *experiments.Config, shard experiments.Shard, execName string, elapsed time.Duration) error {
	meta := map[string]any{
		"finished":   time.Now().UTC().Format(time.RFC3339),
		"seconds":    elapsed.Seconds(),
		"shard":      shard.String(),
		"executor":   execName,
		"go":         runtime.Version(),
		"gomaxprocs": runtime.GOMAXPROCS(0),
		"goos":       runtime.GOOS + "/" + runtime.GOARCH,
	}
	data, _ := json.MarshalIndent(meta, "", "  ")
	name := "meta.json"
	if shard.N > 1 {
		name = fmt.Sprintf("meta-shard%d-of-%d.json", shard.K, shard.N)
	}
	if err := os.MkdirAll(c.Output, 0o755); err != nil {
		return err
	}
	return experiments.WriteFileAtomic(filepath.Join(c.Output, name), append(data, '\n'))
}

// dryRun prints the grid, the work and a time estimate from timing a few
// gradient calls of the first model on the chosen executor.
func dryRun(w io.Writer, plan *experiments.Plan, newExec func(*tfmodel.Model) (engine.Executor, error), execName string) error {
	c := plan.Config
	fmt.Fprintf(w, "%s: experiment %s, %d points, output %s\n", c.Title, c.Experiment, c.Data.Points, c.Output)
	fmt.Fprintf(w, "grid (%d settings):\n", len(plan.Settings))
	for _, s := range plan.Settings {
		if c.Experiment == experiments.Embedding {
			fmt.Fprintf(w, "  model %-10s η=%.4f ξ=%.4f λ=%g\n", s.Model, s.Eta, s.Xi, s.Lambda)
		} else {
			fmt.Fprintf(w, "  model %-10s η=%.4f\n", s.Model, s.Eta)
		}
	}
	evals := plan.GradientEvaluations()
	fmt.Fprintf(w, "work units: %d (%d points each)\ngradient evaluations: %d (one input, one step)\n", plan.Units(), c.Data.UnitPoints, evals)
	model, err := experiments.LoadModel(c.Models[0])
	if err != nil {
		return err
	}
	exec, err := newExec(model)
	if err != nil {
		return err
	}
	defer exec.Close()
	per, err := calibrate(exec, c.Engine.Batch)
	if err != nil {
		return err
	}
	est := time.Duration(float64(evals) * per * float64(time.Second))
	fmt.Fprintf(w, "calibration on %s: %.0f input gradients/s at batch %d\nestimated time: %s on this machine (one process; -shard k/n divides it)\n",
		execName, 1/per, c.Engine.Batch, est.Round(time.Second))
	return nil
}

// calibrate returns the seconds per input of one InputGrad at the batch
// size, from the best of a few timed calls after a warm-up.
func calibrate(exec engine.Executor, batch int) (float64, error) {
	g := exec.Model().Graph
	d, k := g.Input.Size(), g.Classes
	r := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, batch*d)
	for i := range x {
		x[i] = r.Float32()
	}
	labels := make([]int, batch)
	dx, logits := make([]float32, batch*d), make([]float32, batch*k)
	loss := engine.CrossEntropy{Labels: labels}
	best := 0.0
	deadline := time.Now().Add(3 * time.Second)
	for i := 0; i < 4 || (i < 20 && time.Now().Before(deadline)); i++ {
		t := time.Now()
		if err := exec.InputGrad(dx, logits, nil, x, batch, loss); err != nil {
			return 0, err
		}
		if s := time.Since(t).Seconds(); i > 0 && (best == 0 || s < best) {
			best = s
		}
	}
	return best / float64(batch), nil
}

// runTrain runs a training config (experiment = "train", package train):
// it trains or resumes the model, evaluates it and writes its card.
func runTrain(ctx context.Context, o *options, stdout, stderr io.Writer) error {
	if o.shard != "" || o.merge != "" || o.check {
		return usageError{fmt.Errorf("-shard, -merge and -check do not apply to the training config %s", o.config)}
	}
	sets := o.sets
	if o.backend != "" {
		sets = append(sets, "engine.backend="+o.backend)
	}
	c, err := train.Load(o.config, sets)
	if err != nil {
		return usageError{err}
	}
	newExec, execName := executorFactory(&experiments.Config{Engine: experiments.EngineConfig{Backend: c.Engine.Backend, Plugin: c.Engine.Plugin}})
	env := train.Env{NewExecutor: newExec, Executor: execName, Log: stderr}
	if o.dryRun {
		return train.DryRun(ctx, stdout, c, env)
	}
	if !o.quiet {
		p := &trainBar{w: stderr, title: c.Title}
		env.Progress, env.Log = p.report, p
		defer p.finish()
	}
	card, err := train.Run(ctx, c, env)
	if err != nil {
		return err
	}
	card.Markdown(stdout)
	fmt.Fprintf(stdout, "\nModel and card in %s.\n", c.Output)
	return nil
}

// trainBar shows one progress bar per phase of a training run, with the
// loss and accuracy in the description; log lines clear the bar first.
type trainBar struct {
	w     io.Writer
	title string
	phase string
	b     *progressbar.ProgressBar
}

func (p *trainBar) report(r train.Report) error {
	if p.b == nil || r.Phase != p.phase {
		p.finish()
		p.phase = r.Phase
		p.b = progressbar.NewOptions64(int64(r.Total),
			progressbar.OptionSetWriter(p.w),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(200_000_000),
			progressbar.OptionFullWidth(),
		)
	}
	desc := p.title + " " + r.Phase
	if r.Phase == "train" {
		desc = fmt.Sprintf("%s epoch %d loss %.4f acc %.2f%%", p.title, r.Epoch, r.Loss, 100*r.Accuracy)
	}
	p.b.Describe(desc)
	return p.b.Set64(int64(r.Done))
}

func (p *trainBar) finish() {
	if p.b != nil {
		p.b.Finish()
		io.WriteString(p.w, "\n")
		p.b = nil
	}
}

// Write writes a log line below a cleared bar.
func (p *trainBar) Write(b []byte) (int, error) {
	if p.b != nil {
		p.b.Clear()
	}
	return p.w.Write(b)
}
