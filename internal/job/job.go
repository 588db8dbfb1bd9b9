// Package job holds what a long run of the harness (an experiment, a
// training run) needs from its caller: the executor constructor, a progress
// callback that can stop the run, and a log. The runner builds one Env and
// hands it to package experiments or package train.
package job

import (
	"fmt"
	"io"

	"confrobust/engine"
	"confrobust/model"
)

// Env is the environment of a run.
type Env struct {
	// NewExecutor builds an executor of a model (engine/native, engine/xla;
	// see package engine/backend). Training changes the model's parameters in
	// place and calls Sync.
	NewExecutor func(*model.Model) (engine.Executor, error)
	// Executor describes the executor for results and cards
	// ("native (avx2, float32)").
	Executor string
	// Progress, when set, is told about the work as it goes; an error it
	// returns stops the run, which returns that error wrapped.
	Progress Progress
	// Log receives one line per stage; nil means none.
	Log io.Writer
}

// Progress receives a run's progress. A non-nil error stops the run.
type Progress func(Report) error

// Report is the state of a run for progress displays.
type Report struct {
	// Phase names what runs: the experiment's title, "train", "eval clean",
	// "eval pgd ε=0.300".
	Phase string
	// Done and Total count Unit: gradient evaluations of one input
	// ("grads"), training steps ("steps") or images ("images").
	Done, Total int64
	Unit        string
	// Detail is an optional short status ("epoch 2 loss 0.0312 acc 99.10%"),
	// and Metrics the numbers behind it ("loss", "accuracy"), for callers
	// that watch them.
	Detail  string
	Metrics map[string]float64
}

// Report tells env.Progress about r, if there is one.
func (env Env) Report(r Report) error {
	if env.Progress == nil {
		return nil
	}
	return env.Progress(r)
}

// Logf writes one line to env.Log, if there is one.
func (env Env) Logf(format string, a ...any) {
	if env.Log != nil {
		fmt.Fprintf(env.Log, format+"\n", a...)
	}
}
