// Package backend turns the [engine] table of a config (engine.Config) into
// executors: it builds the executor the table names
// (engine/native on the CPU, engine/xla through GoMLX and a PJRT plugin).
// Packages that run models (experiments, train) see only engine.Executor;
// the runner builds a Factory here and hands its New to them.
//
//	f, err := backend.Open(engine.Config{Backend: "native"})
//	if err != nil { ... }
//	exec, err := f.New(m) // an engine.Executor of the model
//	fmt.Println(f.Name)   // "native (avx512, float32)"
package backend

import (
	"fmt"

	"confrobust/engine"
	"confrobust/engine/native"
	"confrobust/engine/native/gemm"
	"confrobust/engine/xla"
	"confrobust/model"
)

// Factory builds the executors a config names.
type Factory struct {
	// Name describes the executor for results and cards.
	Name string
	// New builds an executor of a model.
	New func(*model.Model) (engine.Executor, error)
}

// Open returns the factory of the config's executor. It loads nothing yet:
// a missing PJRT plugin is reported by the first New.
func Open(c engine.Config) (*Factory, error) {
	switch c.Backend {
	case engine.XLA:
		cfg := ""
		if c.Plugin != "" {
			cfg = "xla:" + c.Plugin
		}
		// The precision follows the backend (Executor.Precision): float32,
		// with TF32 allowed where XLA runs on a CUDA GPU.
		where := cfg
		if where == "" {
			where = "plugin from $" + xla.PluginEnv + " or GoMLX's search"
		}
		return &Factory{
			Name: "xla (" + where + ", float32; TF32 allowed on CUDA)",
			New: func(m *model.Model) (engine.Executor, error) {
				e, err := xla.New(m, xla.WithBackend(cfg))
				if err != nil {
					return nil, err
				}
				return e, nil
			},
		}, nil
	case engine.Native, "":
		k := gemm.Default()
		return &Factory{
			Name: "native (" + k.Name() + ", float32)",
			New: func(m *model.Model) (engine.Executor, error) {
				e, err := native.New(m, native.WithKernel(k))
				if err != nil {
					return nil, err
				}
				return e, nil
			},
		}, nil
	default:
		return nil, fmt.Errorf("engine/backend: unknown backend %q (want %s or %s)", c.Backend, engine.Native, engine.XLA)
	}
}
