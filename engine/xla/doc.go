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
// Run a whole PGD attack on the device (RunPGD is the same with arguments of
// package engine only, for an optional interface in package attack):
//
//	var res xla.PGDResult
//	err = e.PGD(ctx, &res, x0, start, n, xla.PGDConfig{
//		Loss: engine.TargetLogProb{Targets: t}, Labels: y,
//		Eps: 8.0 / 255, StepSize: 2.0 / 255, Steps: 100, Unroll: 10})
//	// res.Best, res.BestConf, res.BestLabel: the most confident misclassified
//	// iterate (else the least confident correct one), as attack.KeepConfidentWrong
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
//     path, not through a symlink, and set GOPJRT_CUDA_CHECKS=0 and
//     GOMLX_NO_AUTO_INSTALL=1 when it is not where go-xla expects it.
//  2. $GOMLX_BACKEND, e.g. "xla:cuda", searched by GoMLX in
//     $PJRT_PLUGIN_LIBRARY_PATH and its install directory.
//  3. "xla": GoMLX's own search; on a machine with a network it installs
//     missing plugins itself unless GOMLX_NO_AUTO_INSTALL is set.
//
// "go" selects GoMLX's pure-Go backend (slow; for tests), run as
// "go:ops_sequential": its parallel op scheduler races in v0.26.0. A missing plugin,
// one that fails to load, or an xla configuration in a binary built without
// the xla build tag is an error wrapping ErrNoPlugin with these instructions;
// the executor never falls back to another backend.
//
// XLA is linked only with the build tag xla (it needs cgo), so that go build
// ./... and go test ./... work on machines without it:
//
//	CGO_ENABLED=1 go build -tags xla -o bin/xlacheck ./engine/crosscheck/cmd/xlacheck
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
// LogitWeights) are recognised and computed inside the compiled program, one
// program per call. Any other engine.Loss is evaluated on the host: a
// forward program gives the logits, Loss.Eval gives ∂loss/∂logits, and a
// second program computes the vector-Jacobian product back to the input (or
// the parameters).
//
// # Compiled programs
//
// Programs are compiled on first use and cached per (kind, batch size, loss
// kind, unrolled steps); Compiles counts them. WithBatchBuckets pads batches
// to powers of two so that varying (for example, last partial) batches
// reuse programs. GoMLX v0.26.0 has no While
// loop, so PGD compiles Unroll steps into one program and calls it
// ⌈Steps/Unroll⌉ times with the attack state (iterate, best example, its
// confidence and label) kept on the device, then one forward program
// evaluates the last iterate. PGDConfig.Continue carries the best iterate
// from one call to the next (random restarts). Larger Unroll saves per-call overhead (which
// dominates small networks such as the MNIST CNN) at the cost of compile time.
//
// # Precision
//
// Everything is float32. Precision reports "fp32" on the pure-Go and CPU
// backends and "tf32 allowed" on CUDA: GoMLX v0.26.0 emits convolutions and
// dots with XLA's DEFAULT precision, which lets NVIDIA GPUs use TF32 tensor
// cores; the backend option "tf32" ("xla:<plugin>,tf32") forces TF32 for
// dots. Strict FP32 on a GPU cannot be requested through GoMLX v0.26.0.
// Results metadata should record Backend and Precision.
//
// # Checking on a GPU (README draft)
//
// The GPU machine has no Go toolchain, so build the check binary first:
//
//	CGO_ENABLED=1 go build -tags xla -o bin/xlacheck ./engine/crosscheck/cmd/xlacheck
//	scripts/gpu-check.sh bin/xlacheck [outdir]
//
// gpu-check.sh finds the plugin (find /opt/torch/.venv -name
// xla_cuda_plugin.so, or $CONFROBUST_PJRT_PLUGIN), then prints for Madry's
// MNIST CNN (batch 1000) and WideResNet (batch 256) with random weights:
// the largest relative difference of logits and input gradients against
// engine/native on the same weights and inputs, of logits and
// input-gradient directional derivatives against the float64 reference
// (engine/internal/reference), and of native against portable forms on
// the same GPU; the first-call (compile) time, input gradients/s and PGD
// image-steps/s, and the same throughput from scripts/torch_reference.py in PyTorch's
// default (TF32 convolutions), strict FP32 and torch.compile settings, with
// the ratios. (xlacheck, a command, imports both engines; the engine
// packages never import each other.)
package xla
