// Package backend turns the [engine] table of a config (engine.Config) into
// executors: it builds the executor the table names
// (engine/native on the CPU, engine/xla through GoMLX and a PJRT plugin),
// and resolves backend "auto" to the GPU when a PJRT CUDA plugin is found
// and loads, else to native with a warning. Packages that run models
// (experiments, train) see only engine.Executor; the runner builds a
// Factory here and hands its New to them.
//
//	f, err := backend.Open(engine.Config{Backend: "auto"})
//	if err != nil { ... }
//	defer f.Close()
//	if f.Warning != "" { log.Print(f.Warning) } // auto fell back to native
//	exec, err := f.New(m) // an engine.Executor of the model
//	fmt.Println(f.Name)   // "native (avx512, float32)"
package backend

import (
	"fmt"
	"path/filepath"
	"strings"

	"confrobust/engine"
	"confrobust/engine/native"
	"confrobust/engine/native/gemm"
	"confrobust/engine/xla"
	"confrobust/model"

	"github.com/gomlx/gomlx/backends"
)

// Factory builds the executors a config names.
type Factory struct {
	// Name describes the executor for results and cards: executor, plugin
	// and precision in one line.
	Name string
	// Executor is engine.Native or engine.XLA, what auto resolved to.
	Executor string
	// Plugin is the PJRT plugin loaded ("" for native or GoMLX's own
	// search), and PluginFrom where it was found (see xla.FindPlugin).
	Plugin, PluginFrom string
	// Precision is the arithmetic: "float32" for native; for xla the
	// executor's (xla.Executor.Precision: "tf32 allowed" on CUDA, "fp32"
	// elsewhere, with bf16 attack passes when asked).
	Precision string
	// Config is the config resolved: Backend native or xla, Batch set.
	Config engine.Config
	// Warning, for auto, says why it did not pick the GPU and how to get it.
	Warning string
	// New builds an executor of a model.
	New func(*model.Model) (engine.Executor, error)

	shared  backends.Backend // the xla backend shared by the executors
	batched func(batch int) func(*model.Model) (engine.Executor, error)
}

// Rebatched returns a factory like f whose executors take batch rows per
// call (sharing f's backend: close f, not the copy, when done).
func (f *Factory) Rebatched(batch int) *Factory {
	g := *f
	g.Config.Batch = batch
	g.shared = nil
	if f.batched != nil {
		g.New = f.batched(batch)
	}
	return &g
}

// Close releases the factory's shared backend; executors built by New
// must be closed first.
func (f *Factory) Close() error {
	if f.shared != nil {
		f.shared.Finalize()
		f.shared = nil
	}
	return nil
}

// Open returns the factory of the config's executor. For xla and auto it
// loads the PJRT plugin once (shared by every executor New builds): an
// explicit xla whose plugin is missing or fails to load is an error that
// says how to provide one; auto falls back to native with a Warning.
func Open(c engine.Config) (*Factory, error) {
	if c.Precision == "" {
		c.Precision = engine.Float32
	}
	if c.Plugin != "" && !filepath.IsAbs(c.Plugin) {
		// GoMLX loads plugins by absolute path only.
		abs, err := filepath.Abs(c.Plugin)
		if err != nil {
			return nil, fmt.Errorf("engine/backend: engine.plugin %q: %w", c.Plugin, err)
		}
		c.Plugin = abs
	}
	switch c.Backend {
	case engine.XLA:
		cfg := ""
		from := ""
		if c.Plugin != "" {
			cfg, from = "xla:"+c.Plugin, "engine.plugin"
		}
		return openXLA(c.Resolved(engine.XLA), cfg, from)
	case engine.Auto:
		return openAuto(c)
	case engine.Native, "":
		return openNative(c.Resolved(engine.Native))
	default:
		return nil, fmt.Errorf("engine/backend: unknown backend %q (want %s, %s or %s)", c.Backend, engine.Native, engine.XLA, engine.Auto)
	}
}

func openNative(c engine.Config) (*Factory, error) {
	if c.Precision != engine.Float32 {
		return nil, fmt.Errorf("engine/backend: engine.precision = %q: the native engine computes in float32 only; use backend \"xla\" (or \"auto\" on a GPU machine) for %s", c.Precision, c.Precision)
	}
	k := gemm.Default()
	return &Factory{
		Name:      "native (" + k.Name() + ", float32)",
		Executor:  engine.Native,
		Precision: engine.Float32,
		Config:    c,
		New: func(m *model.Model) (engine.Executor, error) {
			e, err := native.New(m, native.WithKernel(k))
			if err != nil {
				return nil, err
			}
			return e, nil
		},
	}, nil
}

// openXLA loads the backend of GoMLX configuration cfg ("" for the
// environment's and GoMLX's search) and returns its factory.
func openXLA(c engine.Config, cfg, from string) (*Factory, error) {
	prec := xla.FP32
	if c.Precision == engine.BF16 {
		prec = xla.BF16
	}
	// Load the backend once; an executor of a throw-away model tells its
	// description and precision.
	probe, err := model.NewModel(probeGraph())
	if err != nil {
		return nil, fmt.Errorf("engine/backend: %w", err)
	}
	shared, err := xla.NewBackend(cfg)
	if err != nil {
		return nil, err
	}
	e, err := xla.New(probe, xla.WithBackendInstance(shared), xla.WithPrecision(prec))
	if err != nil {
		shared.Finalize()
		return nil, err
	}
	precision, ops := e.Precision(), "portable"
	if e.Ops() == xla.OpsNative {
		ops = "native"
	}
	e.Close() // the backend stays for New
	f := &Factory{
		Name:       "xla (gomlx " + shared.Description() + "; " + ops + " conv/pool; " + precision + ")",
		Executor:   engine.XLA,
		PluginFrom: from,
		Precision:  precision,
		Config:     c,
		shared:     shared,
	}
	if p, ok := strings.CutPrefix(cfg, "xla:"); ok {
		f.Plugin, _, _ = strings.Cut(p, ",")
	}
	f.Config.Plugin = f.Plugin
	f.batched = func(batch int) func(*model.Model) (engine.Executor, error) {
		return func(m *model.Model) (engine.Executor, error) {
			e, err := xla.New(m, xla.WithBackendInstance(shared), xla.WithPrecision(prec), xla.WithPaddedBatches(batch))
			if err != nil {
				return nil, err
			}
			return e, nil
		}
	}
	f.New = f.batched(c.Batch)
	return f, nil
}

// openAuto picks the GPU when a PJRT CUDA plugin is found and loads, else
// native with a warning.
func openAuto(c engine.Config) (*Factory, error) {
	why := ""
	s := xla.FindPlugin(c.Plugin)
	switch {
	case !xla.Linked():
		why = "this binary was built without XLA (CGO_ENABLED=0 or -tags noxla)"
	case s.Path == "":
		why = "no PJRT CUDA plugin found (searched engine.plugin, $" + xla.PluginEnv + ", jax's xla_cuda_plugin.so in Python site-packages, GoMLX's install directories)"
	case !xla.HasNVIDIADevice():
		why = "a PJRT CUDA plugin was found (" + s.Path + ") but no NVIDIA device (/dev/nvidia*)"
	default:
		f, err := openXLA(c.Resolved(engine.XLA), "xla:"+s.Path, s.From)
		if err == nil {
			return f, nil
		}
		why = fmt.Sprintf("the PJRT CUDA plugin %s (%s) did not load: %v", s.Path, s.From, firstLine(err))
	}
	if c.Precision == engine.BF16 {
		return nil, fmt.Errorf("engine/backend: backend auto: %s, and the native engine cannot run engine.precision = \"bf16\"\n%s", why, xla.HowToGetGPU)
	}
	f, err := openNative(c.Resolved(engine.Native))
	if err != nil {
		return nil, err
	}
	f.Warning = "backend auto: running on the native CPU engine: " + why + "\n" + xla.HowToGetGPU
	return f, nil
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

// probeGraph is the smallest graph the executors accept.
func probeGraph() *model.Graph {
	return &model.Graph{Name: "probe", Input: model.Shape{1, 1, 2}, Classes: 2, Nodes: []model.Node{
		{Op: model.OpDense, Name: "fc", Inputs: []int{model.GraphInput}, Weight: "fc/w", Bias: "fc/b", Out: 2},
	}}
}
