package gpucheck

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"confrobust/attack"
	"confrobust/dataset"
	"confrobust/engine"
	"confrobust/engine/backend"
	"confrobust/experiments"
	"confrobust/tfckpt"
)

// SliceSetup is what PrepareSlice wrote: the runner's command line for the
// slice (Config and one -set per entry of Sets) and its size.
type SliceSetup struct {
	Config     string   `json:"config"`
	Sets       []string `json:"sets"`
	Output     string   `json:"output"`
	Points     int      `json:"points"`
	Iterations int      `json:"iterations"`
	Records    int      `json:"records"`
	Net        string   `json:"net"`
}

// Slice is part 3's outcome: the runner's own run of the slice, from its
// meta.json, and the projections of the full tables at its rate.
type Slice struct {
	SliceSetup
	// GradientEvaluations is the slice's planned work (one input, one
	// step), Seconds the runner's time for it, CompileSeconds the part of
	// it spent compiling (once per program shape, so excluded from the
	// rate that projects hours of work).
	GradientEvaluations  int64   `json:"gradient_evaluations"`
	Seconds              float64 `json:"seconds"`
	CompileSeconds       float64 `json:"compile_seconds"`
	GradsPerS            float64 `json:"grads_per_s"`
	GradsPerSWithCompile float64 `json:"grads_per_s_with_compile"`
	Executor             string  `json:"executor"`
	Backend              string  `json:"backend"`
	Plugin               string  `json:"plugin"`
	PluginFrom           string  `json:"plugin_from"`
	Precision            string  `json:"precision"`
	Batch                int     `json:"batch"`
	// StepRate is the bare compiled step's rate at the slice's batch
	// (throughput.json), and StepShare GradsPerS/StepRate.
	StepRate  float64 `json:"step_rate,omitempty"`
	StepShare float64 `json:"step_share,omitempty"`
	// Projected are the full configs' gradient evaluations and hours at
	// GradsPerS (plus this run's compile time).
	Projected []Projection `json:"projected"`
}

// Projection is the projected time of one full config.
type Projection struct {
	Config              string  `json:"config"`
	GradientEvaluations int64   `json:"gradient_evaluations"`
	Hours               float64 `json:"hours"`
}

// PrepareSlice writes part 3's inputs into o.Out/slice: a CIFAR-10 test
// batch of random images labelled with the predictions of a random model of
// Madry's layout (so that every point is correctly classified), that
// model's checkpoint, and slice-setup.json, the runner's command line for
// table2 (the path of configs/table2.toml) on points points × 9 labels ×
// 1 start × iterations iterations at η = 0.03, one unit (points·9 rows: one
// device batch for points = 50). backendSet, if not empty, is added as
// "engine.backend=" + backendSet (the tests' xla on GoMLX's pure-Go
// backend; the GPU run leaves the config's auto).
func PrepareSlice(o Options, table2 string, points, iterations int, backendSet string) (*SliceSetup, error) {
	dir, err := filepath.Abs(filepath.Join(o.Out, "slice"))
	if err != nil {
		return nil, fmt.Errorf("gpucheck: %w", err)
	}
	g := tinyWRN()
	widths := `, widths=[4,6,8,10], units=1`
	if o.Scale == "paper" {
		g, widths = nil, ""
	}
	nets, err := o.nets()
	if err != nil {
		return nil, err
	}
	if g == nil {
		g = nets[1].graph
	}
	m, err := randomModel(g, o.Seed+3)
	if err != nil {
		return nil, err
	}
	ckpt := filepath.Join(dir, "model")
	if err := os.MkdirAll(ckpt, 0o755); err != nil {
		return nil, fmt.Errorf("gpucheck: %w", err)
	}
	if err := m.Save(filepath.Join(ckpt, "checkpoint-1")); err != nil {
		return nil, fmt.Errorf("gpucheck: %w", err)
	}
	if err := tfckpt.WriteCheckpointState(ckpt, filepath.Join(ckpt, "checkpoint-1")); err != nil {
		return nil, fmt.Errorf("gpucheck: %w", err)
	}
	// Random records, then their labels from the model's predictions.
	records := 2 * points
	const recordLen = 1 + 3*32*32
	data := make([]byte, records*recordLen)
	r := rand.New(rand.NewPCG(o.Seed, 5))
	for i := range data {
		data[i] = byte(r.IntN(256))
	}
	for i := 0; i < records; i++ {
		data[i*recordLen] = 0
	}
	cifar := filepath.Join(dir, "cifar-10-batches-bin")
	if err := os.MkdirAll(cifar, 0o755); err != nil {
		return nil, fmt.Errorf("gpucheck: %w", err)
	}
	batch := filepath.Join(cifar, "test_batch.bin")
	if err := os.WriteFile(batch, data, 0o644); err != nil {
		return nil, fmt.Errorf("gpucheck: %w", err)
	}
	set, err := dataset.Load("cifar10", cifar, dataset.Test)
	if err != nil {
		return nil, fmt.Errorf("gpucheck: %w", err)
	}
	f, err := o.openXLA(engine.Float32, min(records, engine.DeviceBatch))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	e, err := f.New(m)
	if err != nil {
		return nil, err
	}
	defer e.Close()
	k := g.Classes
	z := make([]float32, records*k)
	for a := 0; a < records; a += f.Config.Batch {
		b := min(a+f.Config.Batch, records)
		if err := e.Logits(z[a*k:b*k], set.Images[a*set.Shape.Size():b*set.Shape.Size()], b-a); err != nil {
			return nil, err
		}
	}
	pred := make([]int, records)
	attack.Confidences(nil, pred, z, records, k)
	for i, p := range pred {
		data[i*recordLen] = byte(p)
	}
	if err := os.WriteFile(batch, data, 0o644); err != nil {
		return nil, fmt.Errorf("gpucheck: %w", err)
	}
	out := filepath.Join(dir, "out")
	s := &SliceSetup{Config: table2, Output: out, Points: points, Iterations: iterations, Records: records, Net: g.Name,
		Sets: []string{
			fmt.Sprintf(`models=[{name="adv", arch="wide_resnet", checkpoint=%s%s}]`, strconv.Quote(ckpt), widths),
			"data.dir=" + strconv.Quote(cifar),
			"data.points=" + strconv.Itoa(points),
			"data.unit_points=" + strconv.Itoa(points),
			"attack.eta=[0.03]",
			"attack.restarts=1",
			"attack.iterations=" + strconv.Itoa(iterations),
			"output=" + strconv.Quote(out),
		}}
	if backendSet != "" {
		s.Sets = append(s.Sets, "engine.backend="+strconv.Quote(backendSet))
	}
	data2, _ := json.MarshalIndent(s, "", "  ")
	if err := os.WriteFile(filepath.Join(o.Out, "slice-setup.json"), append(data2, '\n'), 0o644); err != nil {
		return nil, fmt.Errorf("gpucheck: %w", err)
	}
	// One -set argument per line, for the script.
	var args strings.Builder
	for _, a := range s.Sets {
		args.WriteString(a + "\n")
	}
	if err := os.WriteFile(filepath.Join(o.Out, "slice.args"), []byte(args.String()), 0o644); err != nil {
		return nil, fmt.Errorf("gpucheck: %w", err)
	}
	return s, nil
}

// SliceReport reads the runner's meta.json of the slice prepared in o.Out,
// computes its rate and projects the full configs (table2 and table4, the
// paths of configs/table2.toml and table4.toml) at it. It writes
// slice.json.
func SliceReport(o Options, table2, table4 string) (*Slice, error) {
	var setup SliceSetup
	if err := readJSON(filepath.Join(o.Out, "slice-setup.json"), &setup); err != nil {
		return nil, err
	}
	var meta struct {
		Seconds        float64 `json:"seconds"`
		CompileSeconds float64 `json:"compile_seconds"`
		Executor       string  `json:"executor"`
		Backend        string  `json:"backend"`
		Plugin         string  `json:"plugin"`
		PluginFrom     string  `json:"plugin_from"`
		Precision      string  `json:"precision"`
		Batch          int     `json:"batch"`
	}
	if err := readJSON(filepath.Join(setup.Output, "meta.json"), &meta); err != nil {
		return nil, fmt.Errorf("%w (did the runner run the slice?)", err)
	}
	evals, err := plannedEvals(setup.Config, setup.Sets)
	if err != nil {
		return nil, err
	}
	s := &Slice{SliceSetup: setup, GradientEvaluations: evals, Seconds: meta.Seconds, CompileSeconds: meta.CompileSeconds,
		Executor: meta.Executor, Backend: meta.Backend, Plugin: meta.Plugin, PluginFrom: meta.PluginFrom, Precision: meta.Precision, Batch: meta.Batch}
	if meta.Seconds > 0 {
		s.GradsPerSWithCompile = float64(evals) / meta.Seconds
	}
	if run := meta.Seconds - meta.CompileSeconds; run > 0 {
		s.GradsPerS = float64(evals) / run
	}
	var rates []Rate
	if readJSON(filepath.Join(o.Out, "throughput.json"), &rates) == nil {
		for _, r := range rates {
			if r.Net == "wrn" && r.Precision == engine.Float32 && r.Batch == meta.Batch {
				s.StepRate = r.ImageGradsPerS
			}
		}
		if s.StepRate > 0 {
			s.StepShare = s.GradsPerS / s.StepRate
		}
	}
	for _, cfg := range []string{table2, table4} {
		n, err := plannedEvals(cfg, nil)
		if err != nil {
			return nil, err
		}
		p := Projection{Config: cfg, GradientEvaluations: n}
		if s.GradsPerS > 0 {
			p.Hours = (float64(n)/s.GradsPerS + meta.CompileSeconds) / 3600
		}
		s.Projected = append(s.Projected, p)
	}
	o.logf("slice: %d gradient evaluations in %.1f s (%.1f s compiling): %.0f/s", evals, meta.Seconds, meta.CompileSeconds, s.GradsPerS)
	return s, o.writeJSON("slice.json", s)
}

// plannedEvals returns the gradient evaluations of a config with sets.
func plannedEvals(config string, sets []string) (int64, error) {
	c, err := experiments.Load(config, sets)
	if err != nil {
		return 0, fmt.Errorf("gpucheck: %w", err)
	}
	return experiments.NewPlan(c).GradientEvaluations()
}

// Auto is what backend auto resolves to on this machine.
type Auto struct {
	Executor   string `json:"executor"`
	Name       string `json:"name"`
	Plugin     string `json:"plugin"`
	PluginFrom string `json:"plugin_from"`
	Precision  string `json:"precision"`
	Warning    string `json:"warning,omitempty"`
}

// ProbeAuto opens backend auto as the runner would and writes auto.json.
func ProbeAuto(o Options) (*Auto, error) {
	c := engine.Config{Backend: engine.Auto}
	c.Defaults(100)
	f, err := backend.Open(c)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	a := &Auto{Executor: f.Executor, Name: f.Name, Plugin: f.Plugin, PluginFrom: f.PluginFrom, Precision: f.Precision, Warning: f.Warning}
	return a, o.writeJSON("auto.json", a)
}

func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("gpucheck: %w", err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("gpucheck: %s: %w", path, err)
	}
	return nil
}
