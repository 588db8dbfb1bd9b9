// Package engine defines the Executor interface through which attacks,
// defenses and training run a network, whatever computes it (engine/native on
// the CPU, engine/xla on GPUs), and the losses those computations use. An
// executor may also implement Searcher, which runs a whole projected search
// (Search) on its device; RunSearch defines what a search computes.
//
// Tensors are flat float32 slices in NHWC order. A batch of n inputs of a
// graph with input shape [H, W, C] is n·H·W·C values on the [0,1] pixel scale
// (a model whose own input scale differs, such as Madry's [0,255] CIFAR-10
// network, scales inside its graph). Logits are n·Classes values.
package engine

import (
	"confrobust/model"
)

// Executor runs one model's forward and backward passes on batches. An
// Executor is not safe for concurrent use; it keeps scratch buffers between
// calls so that steady-state calls allocate nothing.
type Executor interface {
	// Model returns the model the executor runs. Its parameters may be
	// changed in place between calls, followed by Sync.
	Model() *model.Model

	// Logits writes the logits of the n inputs in x into dst (n·Classes).
	Logits(dst, x []float32, n int) error

	// InputGrad runs the forward pass on the n inputs in x, evaluates loss
	// on their logits and writes ∂(Σ_i loss_i)/∂x into dx (same size as x).
	// It also writes the logits into logits and the per-example losses into
	// losses when those are non-nil.
	InputGrad(dx, logits, losses, x []float32, n int, loss Loss) error

	// ParamGrad is InputGrad for the parameters: it overwrites grads[name]
	// (allocating it on first use, with the size of the parameter) with
	// ∂(Σ_i loss_i)/∂param for every parameter of the model.
	ParamGrad(grads map[string][]float32, logits, losses, x []float32, n int, loss Loss) error

	// Sync tells the executor that the model's parameters changed in place.
	Sync() error

	// Close releases the executor's resources.
	Close() error
}

// Loss maps logits to per-example losses and their gradients. The executor
// differentiates the sum of the per-example losses.
type Loss interface {
	// Eval writes each example's loss into losses (len n) and
	// ∂loss_i/∂logits_i into grad (n·classes), for logits (n·classes).
	Eval(losses, grad, logits []float32, n, classes int)
}
