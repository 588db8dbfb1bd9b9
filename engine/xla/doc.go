// Package xla is the engine.Executor that runs a model.Model on GoMLX
// (github.com/gomlx/gomlx v0.26.0): on GPUs through XLA and a PJRT plugin,
// and on any machine through GoMLX's pure-Go backend, which the tests use.
//
// The computation is built from the model's model.Graph, the same
// description engine/native runs; nothing describes the networks a second
// time. Parameters are uploaded once (New, Sync) and stay on the device;
// each call uploads its inputs and copies back only its outputs.
//
// # Use
//
// Create an executor and use it through engine.Executor:
//
//	e, err := xla.New(model, xla.WithBackend("xla:/abs/path/xla_cuda_plugin.so"))
//	if err != nil { ... } // says how to provide a plugin when none loads
//	defer e.Close()
//	err = e.Logits(logits, x, n)
//	err = e.InputGrad(dx, logits, losses, x, n, engine.TargetLogProb{Targets: t})
//
// Run a whole projected search on the device (engine.Searcher; package
// attack hands its searches to it):
//
//	var res engine.SearchResult
//	err = e.Search(ctx, &res, &engine.Search{N: n, Lo: lo, Hi: hi, Start: x, Steps: 100,
//		Step: step, Loss: engine.TargetLogProb{Targets: t},
//		Keep: engine.Keep{Criterion: engine.ConfidentWrong{Labels: y}}})
//	// res.X, res.Logits, res.Score, res.Time: the kept point of every row
//
// An Executor is not safe for concurrent use. Several executors may share
// one backend (WithBackendInstance, GoMLXBackend).
//
// # Backends and plugins
//
// WithBackend takes GoMLX's backend configuration; when it is empty the
// first of these that is set wins:
//
//  1. $CONFROBUST_PJRT_PLUGIN (PluginEnv): the absolute path of a PJRT
//     plugin, used as "xla:<path>". jax's CUDA plugin works
//     (jax_plugins/xla_cuda13/xla_cuda_plugin.so); load it by its real
//     path, not through a symlink. For a plugin loaded by absolute path
//     the executor sets GOPJRT_CUDA_CHECKS=0 unless it is set: go-xla
//     v0.1.4's CUDA check, when it finds an nvidia/ folder next to the
//     plugin, points XLA_FLAGS at a path hard-coded from its author's
//     machine. A plugin given by path is never auto-installed.
//  2. $GOMLX_BACKEND, e.g. "xla:cuda", searched by GoMLX in
//     $PJRT_PLUGIN_LIBRARY_PATH and its install directory.
//  3. "xla": GoMLX's own search; on a machine with a network it installs
//     missing plugins itself unless GOMLX_NO_AUTO_INSTALL is set.
//
// "go" selects GoMLX's pure-Go backend (slow; for tests), run as
// "go:ops_sequential": its parallel op scheduler races in v0.26.0. A missing plugin,
// one that fails to load, or an xla configuration in a binary built without
// XLA is an error wrapping ErrNoPlugin with these instructions; the executor
// never falls back to another backend (engine/backend's "auto" does, to
// engine/native, with a warning; FindPlugin is its search).
//
// XLA is linked wherever cgo is enabled (the default when a C compiler is
// found): go-xla loads PJRT plugins with dlopen, so building needs only the
// Go modules and a C compiler, no PJRT or CUDA library. Builds with
// CGO_ENABLED=0 or the build tag noxla leave it out and run only the
// pure-Go backend (Linked reports which):
//
//	CGO_ENABLED=1 go build -o bin/runner ./runner      # XLA linked
//	go build -tags noxla ./...                           # without XLA
//
// # Portable and native forms
//
// GoMLX v0.26.0's pure-Go backend has no Pad, Reverse or SelectAndScatterMax,
// so it cannot differentiate GoMLX's Convolve or MaxPool. The portable forms
// (OpsPortable) build a convolution as a gather of every window of the whole
// batch (im2col, with an appended zero row for the padding) followed by one
// DotGeneral, and SAME max pooling as −∞ padding + reshape + ReduceMax (a
// gather + ReduceMax when the window is larger than the stride); their
// gradients are scatter-adds, which every backend has. Activations are kept
// as [H, W, N, C] in this form so that the gather needs no transpose.
// OpsNative uses XLA's convolution and reduce-window in NHWC, with
// TensorFlow's SAME paddings given explicitly: GoMLX's PadSame pads for
// stride 1 and differs from TensorFlow on Madry's stride-2 convolutions (see
// TestPortableConvMatchesConvolve). OpsAuto (the default) picks native
// where the backend can differentiate it and portable otherwise. Strides are
// always set explicitly (v0.26.0 fails on stride 0).
//
// # Losses
//
// The losses of package engine (CrossEntropy, TargetLogProb, CWMargin,
// LogitWeights, Prob, NegEntropy, ConfidenceHinge) are recognised and
// computed inside the compiled program, one program per call. Any other
// engine.Loss is evaluated on the host: a forward program gives the
// logits, Loss.Eval gives ∂loss/∂logits, and a second program computes the
// vector-Jacobian product back to the input (or the parameters). Search
// accepts only the recognised losses (and criteria) and returns
// engine.ErrUnsupported for others, so that callers step through InputGrad.
//
// # Compiled programs
//
// Programs are compiled on first use and cached per (kind, batch size, loss
// kind, unrolled steps; for searches also criterion, keep rule, penalty and
// update); Compiles counts them and CompileTime sums their build and
// compile time. WithBatchBuckets pads batches to powers of two and
// WithPaddedBatches(n) pads calls of up to n rows to one of eight sizes, so
// that varying (for example, last partial) batches reuse programs. GoMLX
// v0.26.0 has no While loop, so Search compiles Unroll steps (WithUnroll:
// 10 for networks under 1 GFLOP per input, 2 above) into one program and
// calls it ⌈Steps/Unroll⌉ times with the state (iterate, Adam moments, kept
// point, its logits, criterion and step) on the device, then one program
// judges the last point. Only the kept rows are copied back, plus a
// finiteness flag (and, for KeepFirstAbove, the frozen rows) per program.
// Larger Unroll saves per-call overhead (which dominates small networks such
// as the MNIST CNN) at the cost of compile time. The ℓ∞ penalty's
// subgradient takes the first coordinate of largest |z − x| computed in
// float64 (exact for float32 operands), as the host does: sign steps make
// many coordinates tie exactly.
//
// # Precision
//
// Everything is float32 by default. Precision reports "fp32" on the pure-Go
// and CPU backends and "tf32 allowed" on CUDA: GoMLX v0.26.0 emits
// convolutions and dots with XLA's DEFAULT precision, which lets NVIDIA GPUs
// use TF32 tensor cores; the backend option "tf32" ("xla:<plugin>,tf32")
// forces TF32 for dots. Strict FP32 on a GPU cannot be requested through
// GoMLX v0.26.0. WithPrecision(BF16) runs the network of InputGrad and Search
// in mixed bfloat16 (convolutions, dense layers, batch norms and activations
// in bfloat16; input scaling, TF 1.x's per-image standardization, whose
// one-pass variance cancels catastrophically in bfloat16, average pooling,
// losses, criteria and steps in float32), while Logits and ParamGrad stay
// float32: the confidences an attack reports come from Logits. Results
// metadata should record Backend and Precision.
//
// # Checking on a GPU
//
// The GPU machine has no Go toolchain: build engine/crosscheck/cmd/gpucheck
// and the runner beforehand and run scripts/gpu-check.sh there (see
// package engine/crosscheck/gpucheck and the README's Engines section).
package xla
