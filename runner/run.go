package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"confrobust/dataset"
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
	res, err := experiments.Run(ctx, plan, env, experiments.RunOptions{Shard: shard, ReportOnly: o.report, AllowNonFinite: o.allowNonFinite})
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

// dryRun prints the grid, the work, what inputs are missing (with the
// command that fetches them) and a time estimate on each executor at hand,
// from timing a few gradient calls of the first model (of random weights
// when its checkpoint is missing: the time does not depend on them). Only
// a failure to calibrate is an error; missing data is not.
func dryRun(w, stderr io.Writer, plan *experiments.Plan, f *backend.Factory) error {
	c := plan.Config
	fmt.Fprintf(w, "%s: experiment %s, %d points, output %s\n", c.Title, c.Experiment, c.Data.Points, c.Output)
	if f.Warning != "" {
		fmt.Fprintf(stderr, "runner: %s\n", f.Warning)
	}
	fmt.Fprintf(w, "grid (%d settings):\n", len(plan.Settings))
	for _, s := range plan.Settings {
		fmt.Fprintf(w, "  model %-10s η=%.4f", s.Model, s.Eta)
		if c.Experiment == experiments.Embedding || c.Experiment == experiments.Adaptive {
			fmt.Fprintf(w, " ξ=%.4f λ=%g", s.Xi, s.Lambda)
		}
		if c.Experiment == experiments.Adaptive {
			fmt.Fprintf(w, " keep=%g", s.Keep)
		}
		if len(c.Seed) > 1 {
			fmt.Fprintf(w, " seed=%d", s.Seed)
		}
		fmt.Fprintln(w)
	}
	evals, err := plan.GradientEvaluations()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "work units: %d (%d points each)\ngradient evaluations: %d (one input, one step)\n", plan.Units(), c.Data.UnitPoints, evals)

	fmt.Fprintf(w, "inputs:\n")
	missing := 0
	if _, err := dataset.Load(c.Data.Set, c.Data.Dir, dataset.Test); err != nil {
		missing++
		fmt.Fprintf(w, "  data %s: MISSING (%v)\n", c.Data.Set, err)
	} else {
		fmt.Fprintf(w, "  data %s: ok\n", c.Data.Set)
	}
	var m *model.Model
	for i, mc := range c.Models {
		loaded, err := experiments.LoadModel(mc, false)
		if errors.Is(err, model.ErrNonFinite) {
			fmt.Fprintf(w, "  model %s: REFUSED: %v\n", mc.Name, err)
			missing++
			continue
		}
		if err != nil {
			missing++
			fmt.Fprintf(w, "  model %s: MISSING (%v)\n", mc.Name, err)
			if mc.Arch == "wide_resnet" {
				fmt.Fprintf(w, "    fetch Madry's checkpoints with: scripts/fetch-madry.sh   (from the repository root; fills data/madry)\n")
			}
			continue
		}
		fmt.Fprintf(w, "  model %s: ok (%s)\n", mc.Name, mc.Checkpoint)
		if i == 0 {
			m = loaded
		}
	}
	if dep := c.PaperDepartures(); c.Paper != "" {
		if len(dep) == 0 {
			fmt.Fprintf(w, "paper: every setting is the paper's (%s); its numbers will be set beside ours\n", c.Paper)
		} else {
			fmt.Fprintf(w, "paper: %d of %d settings have no paper value (%s):\n  %s\n", len(dep), len(plan.Settings), c.Paper, strings.Join(dep, "\n  "))
		}
	}
	if m == nil {
		if m, err = randomModel(w, c); err != nil {
			return err
		}
	}
	factories := []*backend.Factory{f}
	if c.Engine.Backend != engine.Native {
		native, err := backend.Open(engine.Config{Backend: engine.Native, Batch: c.Engine.Batch})
		if err != nil {
			return err
		}
		defer native.Close()
		factories = append(factories, native)
	}
	for _, f := range factories {
		if err := printEstimate(w, f, m, evals, c.Engine.Batch); err != nil {
			return err
		}
	}
	if missing > 0 {
		fmt.Fprintf(w, "%d input(s) missing: fetch them before the run (see above)\n", missing)
	}
	return nil
}

// randomModel returns the first model's architecture with random weights,
// for timing when its checkpoint is missing or refused.
func randomModel(w io.Writer, c *experiments.Config) (*model.Model, error) {
	m, err := model.NewModel(experiments.Graph(c.Models[0]))
	if err != nil {
		return nil, err
	}
	m.InitRandom(1)
	fmt.Fprintf(w, "calibrating on random weights of model %s's architecture (its checkpoint is missing)\n", c.Models[0].Name)
	return m, nil
}

// estimate prints the run's time on this machine from timing a few
// gradient steps of the first model on the factory's executor (of random
// weights when its checkpoint cannot be loaded: the run then fails on it
// with its own error).
func estimate(w io.Writer, plan *experiments.Plan, f *backend.Factory) error {
	c := plan.Config
	evals, err := plan.GradientEvaluations()
	if err != nil {
		return err
	}
	m, err := experiments.LoadModel(c.Models[0], true)
	if err != nil {
		if m, err = randomModel(w, c); err != nil {
			return err
		}
	}
	return printEstimate(w, f, m, evals, c.Engine.Batch)
}

// printEstimate calibrates f's executor on m and prints the throughput and
// the time of evals input-steps; an executor that cannot be built here is
// reported, not an error.
func printEstimate(w io.Writer, f *backend.Factory, m *model.Model, evals int64, batch int) error {
	exec, err := f.New(m)
	if err != nil {
		fmt.Fprintf(w, "executor %s: not available here: %v\n", f.Name, err)
		return nil
	}
	defer exec.Close()
	per, what, err := calibrate(exec, batch)
	if err != nil {
		return err
	}
	est := time.Duration(float64(evals) * per * float64(time.Second))
	fmt.Fprintf(w, "calibration on %s: %.0f %s/s at batch %d\nestimated time: %s on this machine (one process; -shard k/n divides it)\n",
		f.Name, 1/per, what, batch, est.Round(time.Second))
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
