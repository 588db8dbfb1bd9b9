// Package native is the pure-Go CPU implementation of engine.Executor: it runs
// a model.Graph forward and backward exactly as TensorFlow 1.x computes
// Madry et al.'s MNIST CNN and CIFAR-10 WideResNet.
//
// # Use
//
//	ex, err := native.New(model) // gemm.Default() kernel, GOMAXPROCS workers
//	if err != nil { ... }
//	defer ex.Close()
//	err = ex.Logits(logits, x, n)                                   // n·Classes
//	err = ex.InputGrad(dx, nil, nil, x, n, engine.CrossEntropy{Labels: y})
//
// # Data layout
//
// Inputs, activations and input gradients are flat float32 slices in NHWC
// order: example i of a graph with input shape [H, W, C] is x[i·H·W·C :
// (i+1)·H·W·C], row-major over (h, w, c). Logits are n·Classes values.
// Parameters are the model's own slices in TensorFlow's layout: convolution
// weights [kh, kw, cin, cout], dense weights [in, out] (a dense layer
// flattens its input in (h, w, c) order), biases and batch-norm vectors
// [channels].
//
// # Computation
//
// Convolutions are im2col + GEMM (gemm.Kernel): one row per output pixel,
// k·k·cin columns in [kh, kw, cin] order, so that the weight tensor is the
// right-hand matrix as stored. SAME padding follows TensorFlow: out =
// ceil(in/stride), pad_total = max((out−1)·stride + k − in, 0), with
// floor(pad_total/2) rows (columns) before the data and the rest after. A
// batch whose im2col matrix exceeds the column buffer (WithColumnBuffer) is
// processed in chunks of whole images. Bias and a directly following ReLU or
// leaky ReLU are applied in the GEMM's output pass; an activation whose input
// feeds nothing else runs in place on that input's buffer. Per-image
// standardization follows TensorFlow 1.x (one-pass variance); batch norm is
// inference mode. Max pooling gives the gradient to the first maximum of each
// window in row-major order; padded cells never win.
//
// The input gradient (InputGrad) computes no weight-gradient GEMMs;
// ParamGrad computes the gradient of every parameter, including the
// batch-norm moving mean and variance (constants of an affine map in
// inference mode), and skips the input gradient.
//
// # Buffers, aliasing and allocation
//
// An Executor keeps its activations, gradients and im2col buffer between
// calls, sized for the largest batch seen so far, so calls with batches no
// larger than an earlier one allocate nothing (ParamGrad allocates a map
// entry on first use of each parameter). Buffers are planned per kind of
// call: an activation buffer is reused as soon as the forward pass has read
// it for the last time, unless that call's backward pass reads it, and
// gradient buffers are shared between nodes whose gradients are never live
// at once. So Logits holds only a few activations, InputGrad those its
// backward pass reads (activation signs, standardized images, max-pool
// inputs), and ParamGrad also the input of every layer with parameters. For
// Madry's WideResNet at batch 16 that is about 37, 234 and 390 MiB (Bytes
// reports it), besides the model's 184 MB of parameters. No slice passed to or
// returned from a method is retained: logits, losses, dx and the gradient
// map's slices are written in place and belong to the caller; x is only
// read and must not overlap dx.
//
// # Parallelism and determinism
//
// Loops other than GEMM (im2col, col2im, pooling, normalisation, elementwise
// operations) run on a fixed pool of WithWorkers goroutines (default
// GOMAXPROCS); GEMMs use the kernel's own threads. The two never run at the
// same time, so a kernel with its own thread pool (OpenBLAS) is not
// oversubscribed as long as its thread count is at most the number of cores.
// Every loop writes each output from one unit in a fixed order and all
// reductions run in a fixed order, so results are bit-identical across runs
// and across worker counts, given a deterministic kernel.
//
// # Benchmarks
//
//	go test -run '^$' -bench . -benchtime=20x ./engine/native/              # pure-Go GEMM
//	go test -tags openblas -run '^$' -bench . -benchtime=20x ./engine/native/ # OpenBLAS
//
// report images/s of Madry's MNIST CNN (batch 100) and WideResNet (batch 16,
// skipped with -short), a small WideResNet and single convolutions of the
// real layer shapes, forward and forward + input gradient, and bufMiB, the
// executor's buffers (Bytes). The flags -workers and -colbuf set
// WithWorkers and WithColumnBuffer.
//
// An Executor is not safe for concurrent use. Separate Executors may run
// concurrently, also on the same Model, as long as nobody changes the
// parameters meanwhile; each has its own worker pool, so running several at
// once oversubscribes the cores.
package native
