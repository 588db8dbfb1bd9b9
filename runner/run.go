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
	plan := experiments.NewPlan(c)
	f, err := backend.Open(c.Engine)
	if err != nil {
		return usageError{err}
	}
	if o.dryRun {
		return dryRun(stdout, plan, f)
	}
	if o.merge != "" {
		if err := experiments.Merge(plan, strings.Split(o.merge, ",")); err != nil {
			return err
		}
	}
	d := newDisplay(stderr)
	defer d.finish()
	env := job.Env{NewExecutor: f.New, Executor: f.Name, Log: d}
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
	if err := writeMeta(c.Output, shard, f.Name, c.Defaulted(), elapsed); err != nil {
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
func writeMeta(dir string, shard experiments.Shard, execName string, defaults []string, elapsed time.Duration) error {
	meta := map[string]any{
		"defaults":   defaults,
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
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, name), append(data, '\n'))
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
func dryRun(w io.Writer, plan *experiments.Plan, f *backend.Factory) error {
	c := plan.Config
	fmt.Fprintf(w, "%s: experiment %s, %d points, output %s\n", c.Title, c.Experiment, c.Data.Points, c.Output)
	fmt.Fprintf(w, "grid (%d settings):\n", len(plan.Settings))
	for _, s := range plan.Settings {
		fmt.Fprintf(w, "  model %-10s η=%.4f", s.Model, s.Eta)
		if c.Experiment == experiments.Embedding {
			fmt.Fprintf(w, " ξ=%.4f λ=%g", s.Xi, s.Lambda)
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
		if m, err = model.NewModel(experiments.Graph(c.Models[0])); err != nil {
			return err
		}
		m.InitRandom(1)
		fmt.Fprintf(w, "calibrating on random weights of model %s's architecture (its checkpoint is missing)\n", c.Models[0].Name)
	}
	factories := []*backend.Factory{f}
	if c.Engine.Backend != engine.Native {
		native, err := backend.Open(engine.Config{Backend: engine.Native})
		if err != nil {
			return err
		}
		factories = append(factories, native)
	}
	for _, f := range factories {
		exec, err := f.New(m)
		if err != nil {
			fmt.Fprintf(w, "executor %s: not available here: %v\n", f.Name, err)
			continue
		}
		per, err := calibrate(exec, c.Engine.Batch)
		exec.Close()
		if err != nil {
			return err
		}
		est := time.Duration(float64(evals) * per * float64(time.Second))
		fmt.Fprintf(w, "calibration on %s: %.0f input gradients/s at batch %d\nestimated time: %s on this machine (one process; -shard k/n divides it)\n",
			f.Name, 1/per, c.Engine.Batch, est.Round(time.Second))
	}
	if missing > 0 {
		fmt.Fprintf(w, "%d input(s) missing: fetch them before the run (see above)\n", missing)
	}
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
	f, err := backend.Open(c.Engine)
	if err != nil {
		return usageError{err}
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
