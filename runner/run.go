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
	"confrobust/engine/backend"
	"confrobust/experiments"
	"confrobust/internal/atomicfile"
	"confrobust/internal/job"
	"confrobust/model"
	"confrobust/train"
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
	f, err := backend.Open(c.Engine)
	if err != nil {
		return usageError{err}
	}
	defer f.Close()
	c.Engine = f.Config // auto resolved, the executor's batch filled in
	plan := experiments.NewPlan(c)
	if o.dryRun {
		return dryRun(stdout, stderr, plan, f)
	}
	if f.Warning != "" {
		fmt.Fprintf(stderr, "runner: %s\n", f.Warning)
		if err := estimate(stderr, plan, f); err != nil {
			return err
		}
	}
	if o.merge != "" {
		if err := experiments.Merge(plan, strings.Split(o.merge, ",")); err != nil {
			return err
		}
	}
	d := newDisplay(stderr)
	defer d.finish()
	var compiled compileClock
	env := job.Env{NewExecutor: compiled.watch(f.New), Executor: f.Name, Log: d}
	if !o.quiet {
		env.Progress = d.report
	}
	logDefaults(env, c.Defaulted())
	start := time.Now()
	res, err := experiments.Run(ctx, plan, env, shard)
	d.finish()
	elapsed := time.Since(start)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted after %s; finished units are kept in %s: rerun the same command to resume (%w)",
				elapsed.Round(time.Second), filepath.Join(c.Output, "journal"), err)
		}
		return err
	}
	if err := writeMeta(c.Output, shard, f, c.Defaulted(), elapsed, compiled.total()); err != nil {
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

// writeMeta records what is not part of the results proper: when and how
// long, on what machine, with which Go.
func writeMeta(dir string, shard experiments.Shard, f *backend.Factory, defaults []string, elapsed, compiling time.Duration) error {
	meta := map[string]any{
		"compile_seconds": compiling.Seconds(),
		"defaults":        defaults,
		"finished":        time.Now().UTC().Format(time.RFC3339),
		"seconds":         elapsed.Seconds(),
		"shard":           shard.String(),
		"executor":        f.Name,
		"backend":         f.Executor,
		"plugin":          f.Plugin,
		"plugin_from":     f.PluginFrom,
		"precision":       f.Precision,
		"batch":           f.Config.Batch,
		"go":              runtime.Version(),
		"gomaxprocs":      runtime.GOMAXPROCS(0),
		"goos":            runtime.GOOS + "/" + runtime.GOARCH,
	}
	data, _ := json.MarshalIndent(meta, "", "  ")
	name := "meta.json"
	if shard.N > 1 {
		name = fmt.Sprintf("meta-shard%d-of-%d.json", shard.K, shard.N)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, name), append(data, '\n'))
}

// compileClock sums the compile time of the executors it watches (those
// that report one: engine/xla's), for meta.json.
type compileClock struct {
	execs []interface{ CompileTime() time.Duration }
}

// watch wraps newExec to remember the executors it builds.
func (c *compileClock) watch(newExec func(*model.Model) (engine.Executor, error)) func(*model.Model) (engine.Executor, error) {
	return func(m *model.Model) (engine.Executor, error) {
		e, err := newExec(m)
		if ct, ok := e.(interface{ CompileTime() time.Duration }); ok && err == nil {
			c.execs = append(c.execs, ct)
		}
		return e, err
	}
}

// total returns the compile time of every executor built so far.
func (c *compileClock) total() time.Duration {
	var t time.Duration
	for _, e := range c.execs {
		t += e.CompileTime()
	}
	return t
}

// logDefaults says which keys the config left out and which defaults they
// took, so that a config missing a table never runs silently on defaults.
func logDefaults(env job.Env, defaults []string) {
	if len(defaults) > 0 {
		env.Logf("defaults taken (not in the config): %s", strings.Join(defaults, ", "))
	}
}

// dryRun prints the grid, the work and a time estimate from timing a few
// gradient calls of the first model on the chosen executor.
func dryRun(w, stderr io.Writer, plan *experiments.Plan, f *backend.Factory) error {
	c := plan.Config
	fmt.Fprintf(w, "%s: experiment %s, %d points, output %s\n", c.Title, c.Experiment, c.Data.Points, c.Output)
	if f.Warning != "" {
		fmt.Fprintf(stderr, "runner: %s\n", f.Warning)
	}
	fmt.Fprintf(w, "grid (%d settings):\n", len(plan.Settings))
	for _, s := range plan.Settings {
		if c.Experiment == experiments.Embedding {
			fmt.Fprintf(w, "  model %-10s η=%.4f ξ=%.4f λ=%g\n", s.Model, s.Eta, s.Xi, s.Lambda)
		} else {
			fmt.Fprintf(w, "  model %-10s η=%.4f\n", s.Model, s.Eta)
		}
	}
	evals, err := plan.GradientEvaluations()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "work units: %d (%d points each)\ngradient evaluations: %d (one input, one step)\n", plan.Units(), c.Data.UnitPoints, evals)
	return estimate(w, plan, f)
}

// estimate prints the run's time on this machine from timing a few
// gradient steps of the first model on the factory's executor.
func estimate(w io.Writer, plan *experiments.Plan, f *backend.Factory) error {
	c := plan.Config
	evals, err := plan.GradientEvaluations()
	if err != nil {
		return err
	}
	model, err := experiments.LoadModel(c.Models[0])
	if err != nil {
		return err
	}
	exec, err := f.New(model)
	if err != nil {
		return err
	}
	defer exec.Close()
	per, what, err := calibrate(exec, c.Engine.Batch)
	if err != nil {
		return err
	}
	est := time.Duration(float64(evals) * per * float64(time.Second))
	fmt.Fprintf(w, "calibration on %s: %.0f %s/s at batch %d\nestimated time: %s on this machine (one process; -shard k/n divides it)\n",
		f.Name, 1/per, what, c.Engine.Batch, est.Round(time.Second))
	return nil
}

// calibrate returns the seconds per input-step at the batch size, from the
// best of a few timed calls after a warm-up: of the compiled search (two
// programs' worth of steps) when the executor has one, else of InputGrad.
func calibrate(exec engine.Executor, batch int) (float64, string, error) {
	g := exec.Model().Graph
	d, k := g.Input.Size(), g.Classes
	r := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, batch*d)
	for i := range x {
		x[i] = r.Float32()
	}
	labels := make([]int, batch)
	loss := engine.CrossEntropy{Labels: labels}
	var call func() error
	per := 1
	if s, ok := exec.(engine.Searcher); ok {
		lo, hi, step := make([]float32, len(x)), make([]float32, len(x)), make([]float32, batch)
		for i, v := range x {
			lo[i], hi[i] = max(v-0.03, 0), min(v+0.03, 1)
		}
		for i := range step {
			step[i] = 0.01
		}
		unroll := 1
		if u, ok := exec.(interface{ Unroll() int }); ok {
			unroll = u.Unroll()
		}
		req := &engine.Search{N: batch, Lo: lo, Hi: hi, Start: x, Steps: 2 * unroll, Step: step, Loss: loss,
			Keep: engine.Keep{Criterion: engine.ConfidentWrong{Labels: labels}}}
		var res engine.SearchResult
		call = func() error { return s.Search(context.Background(), &res, req) }
		per = req.Steps
	} else {
		dx, logits := make([]float32, batch*d), make([]float32, batch*k)
		call = func() error { return exec.InputGrad(dx, logits, nil, x, batch, loss) }
	}
	best := 0.0
	deadline := time.Now().Add(3 * time.Second)
	for i := 0; i < 4 || (i < 20 && time.Now().Before(deadline)); i++ {
		t := time.Now()
		if err := call(); err != nil {
			return 0, "", err
		}
		if s := time.Since(t).Seconds(); i > 0 && (best == 0 || s < best) {
			best = s
		}
	}
	if per > 1 {
		return best / float64(batch*per), "search input-steps", nil
	}
	return best / float64(batch), "input gradients", nil
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
	f, err := backend.Open(c.Engine)
	if err != nil {
		return usageError{err}
	}
	defer f.Close()
	c.Engine = f.Config
	if f.Warning != "" {
		fmt.Fprintf(stderr, "runner: %s\n", f.Warning)
	}
	d := newDisplay(stderr)
	defer d.finish()
	env := job.Env{NewExecutor: f.New, Executor: f.Name, Log: d}
	if o.dryRun {
		return train.DryRun(ctx, stdout, c, env)
	}
	if !o.quiet {
		env.Progress = d.report
	}
	logDefaults(env, c.Defaulted())
	card, err := train.Run(ctx, c, env)
	if err != nil {
		return err
	}
	card.Markdown(stdout)
	fmt.Fprintf(stdout, "\nModel and card in %s.\n", c.Output)
	return nil
}
