package native

import (
	"errors"
	"fmt"
	"math"
	"runtime"

	"confrobust/engine"
	"confrobust/engine/native/gemm"
	"confrobust/model"
)

// DefaultColumnBuffer is the default bound, in float32 values, on the im2col
// buffer of a convolution (8 MiB, so that it can stay in a large last-level
// cache). A batch whose im2col matrix would be larger is processed in chunks
// of whole images.
const DefaultColumnBuffer = 2 << 20

// ErrClosed is returned by the methods of a closed Executor.
var ErrClosed = errors.New("native: executor is closed")

// Option configures an Executor.
type Option func(*config)

type config struct {
	kernel    gemm.Kernel
	workers   int
	colFloats int
}

// WithKernel sets the GEMM kernel (default gemm.Default()).
func WithKernel(k gemm.Kernel) Option { return func(c *config) { c.kernel = k } }

// WithWorkers sets the number of goroutines of the executor's elementwise,
// im2col and pooling loops; n <= 0 means runtime.GOMAXPROCS(0), the default.
// It does not change the GEMM kernel's own threads. Results are bit-identical
// for every n.
func WithWorkers(n int) Option { return func(c *config) { c.workers = n } }

// WithColumnBuffer bounds the im2col buffer to about floats float32 values
// (at least one image's im2col matrix is always held); floats <= 0 means
// DefaultColumnBuffer.
func WithColumnBuffer(floats int) Option { return func(c *config) { c.colFloats = floats } }

// layer is one compiled node of the graph.
type layer struct {
	node           *model.Node
	op             model.Op
	in             []int
	inShape, shape model.Shape
	size, inSize   int // floats per example of the output and of input 0

	buf   int        // the node whose activation buffer holds this output
	fused bool       // an activation node applied by its producer's output pass
	act   activation // activation nodes: which one
	epi   activation // conv, dense, batch norm: activation fused into the output pass
	alpha float32

	hasParams, needParam bool

	// gradAct is set on a max pool whose input is an activation that feeds
	// nothing else: the pool's backward applies the activation's derivative
	// and writes the activation's input gradient, and that activation
	// (gradFused) has no backward step of its own.
	gradAct, gradFused bool

	// Convolution and pooling geometry.
	k, s, padTop, padLft int
	kkc, rows            int  // conv: im2col columns, output pixels per example
	direct               bool // conv: 1×1, stride 1: the input is its own im2col matrix
	ipc                  int  // conv: images per im2col chunk

	w, b                        []float32 // conv, dense
	gamma, beta, mean, variance []float32 // batch norm
	bnScale                     []float32 // gamma·rsqrt(variance + epsilon)
	arg                         []int32   // max pool arg-max per output value
	stdScale                    []float32 // standardize: per-example scale
	useStd                      []bool
}

// Executor is the native CPU implementation of engine.Executor. See the
// package documentation for layouts, aliasing and concurrency.
type Executor struct {
	m      *model.Model
	g      *model.Graph
	layers []layer
	kernel gemm.Kernel
	pool   *pool
	cfg    config
	closed bool

	nmax      int               // batch size the per-example scratch is sized for
	mode      mode              // the kind of the call in progress
	plans     [numModes]actPlan // activation buffers of each kind of call
	ready     [numModes]int     // batch size each kind's buffers are sized for
	actSlots  [][]float32       // activation buffers, shared by the plans
	slotOf    []int             // gradient slot of each node
	slotSize  []int             // floats per example of each gradient slot
	slots     [][]float32
	gradReady int    // batch size the gradient slots are sized for
	written   []bool // per backward pass: gradient slot of the node holds a value
	inWritten bool
	col       []float32
	gapSum    []float64
	chanS1    []float64
	chanS2    []float64
	losses    []float32

	// Loop bodies, reused.
	im2col  im2colTask
	col2im  col2imTask
	biasAct biasActTask
	bn      batchNormTask
	ew      ewTask
	chanSum chanSumTask
	maxPool maxPoolTask
	maxGrad maxPoolGradTask
	avgPool avgPoolTask
	avgGrad avgPoolGradTask
	pad     padTask
	gap     gapTask
	std     standardizeTask
}

var _ engine.Executor = (*Executor)(nil)

// mode is the kind of a call, which decides which activations must survive
// the forward pass.
type mode uint8

const (
	modeLogits mode = iota // forward only: keep only the logits
	modeInput              // InputGrad: keep what the input gradient reads
	modeParam              // ParamGrad: keep also the inputs of parametrised layers
	numModes
)

// actPlan assigns activation buffers ("slots") to nodes for one mode. An
// activation running in place shares its input's slot; a slot is reused
// once its value has been read for the last time in the forward pass,
// unless the backward pass of that mode reads it.
type actPlan struct {
	slotOf   []int // per node
	slotSize []int // floats per example
}

// slotAlloc hands out buffers by best fit on their size per example,
// growing a free one or adding one when none fits.
type slotAlloc struct {
	size []int
	free []bool
}

func (a *slotAlloc) alloc(size int) int {
	best, largest := -1, -1
	for s, f := range a.free {
		if !f {
			continue
		}
		if a.size[s] >= size && (best < 0 || a.size[s] < a.size[best]) {
			best = s
		}
		if largest < 0 || a.size[s] > a.size[largest] {
			largest = s
		}
	}
	if best < 0 && largest >= 0 {
		best = largest
		a.size[best] = size
	}
	if best < 0 {
		a.size = append(a.size, size)
		a.free = append(a.free, true)
		best = len(a.free) - 1
	}
	a.free[best] = false
	return best
}

func (a *slotAlloc) release(s int) { a.free[s] = true }

// New returns an executor of m. It checks the model and compiles its graph;
// buffers are allocated on the first call, for the batch size of that call,
// and grown when a larger batch comes.
func New(m *model.Model, opts ...Option) (*Executor, error) {
	cfg := config{}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.kernel == nil {
		cfg.kernel = gemm.Default()
	}
	if cfg.workers <= 0 {
		cfg.workers = runtime.GOMAXPROCS(0)
	}
	if cfg.colFloats <= 0 {
		cfg.colFloats = DefaultColumnBuffer
	}
	if m == nil || m.Graph == nil {
		return nil, errors.New("native: nil model")
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("native: %w", err)
	}
	shapes, err := m.Graph.Shapes()
	if err != nil {
		return nil, fmt.Errorf("native: %w", err)
	}
	e := &Executor{m: m, g: m.Graph, kernel: cfg.kernel, cfg: cfg}
	e.compile(shapes)
	if err := e.Sync(); err != nil {
		return nil, err
	}
	e.pool = newPool(cfg.workers)
	// Stop the workers of an executor that is dropped without Close.
	runtime.AddCleanup(e, func(p *pool) { p.close() }, e.pool)
	return e, nil
}

// compile builds the layers: shapes and padding, buffer aliasing, fused
// activations and the plans of activation and gradient buffers.
func (e *Executor) compile(shapes []model.Shape) {
	g := e.g
	nn := len(g.Nodes)
	e.layers = make([]layer, nn)
	consumers := make([]int, nn)
	for i := range g.Nodes {
		for _, j := range g.Nodes[i].Inputs {
			if j != model.GraphInput {
				consumers[j]++
			}
		}
	}
	for i := range g.Nodes {
		n := &g.Nodes[i]
		l := &e.layers[i]
		l.node, l.op, l.in = n, n.Op, n.Inputs
		l.shape, l.inShape = shapes[i], g.InputShape(shapes, i, 0)
		l.size, l.inSize = l.shape.Size(), l.inShape.Size()
		l.buf = i
		switch n.Op {
		case model.OpConv2D, model.OpMaxPool:
			l.k, l.s = n.Kernel, n.Stride
			l.padTop = samePad(l.inShape[0], l.shape[0], l.k, l.s)
			l.padLft = samePad(l.inShape[1], l.shape[1], l.k, l.s)
			if n.Op == model.OpConv2D {
				l.kkc = l.k * l.k * l.inShape[2]
				l.rows = l.shape[0] * l.shape[1]
				l.direct = l.k == 1 && l.s == 1
				l.ipc = max(1, e.cfg.colFloats/(l.rows*l.kkc))
			}
		case model.OpAvgPool:
			l.k, l.s = n.Kernel, n.Stride
		case model.OpReLU:
			l.act = actReLU
		case model.OpLeakyReLU:
			l.act, l.alpha = actLeaky, n.Alpha
		}
		l.hasParams = n.Op == model.OpConv2D || n.Op == model.OpDense || n.Op == model.OpBatchNorm
		l.needParam = l.hasParams
		for _, j := range n.Inputs {
			if j != model.GraphInput && e.layers[j].needParam {
				l.needParam = true
			}
		}
		// An activation whose input feeds nothing else runs in place on the
		// input's buffer. Its gradient needs only the sign of its input,
		// which the output keeps (ReLU, leaky ReLU with α > 0); the input
		// must not be an operation whose own gradient reads its output.
		if l.act != actNone && (l.act != actLeaky || l.alpha > 0) {
			j := n.Inputs[0]
			if j != model.GraphInput && consumers[j] == 1 {
				p := &e.layers[j]
				switch p.op {
				case model.OpReLU, model.OpLeakyReLU, model.OpStandardize:
				default:
					l.buf = p.buf
					if (p.op == model.OpConv2D || p.op == model.OpDense || p.op == model.OpBatchNorm) && p.epi == actNone {
						p.epi, p.alpha, l.fused = l.act, l.alpha, true
					}
				}
			}
		}
	}
	for i := range e.layers {
		l := &e.layers[i]
		if l.op != model.OpMaxPool || l.in[0] == model.GraphInput {
			continue
		}
		j := l.in[0]
		if a := &e.layers[j]; a.act != actNone && (a.act != actLeaky || a.alpha > 0) && consumers[j] == 1 {
			l.gradAct, a.gradFused = true, true
		}
	}
	e.planGradients()
	e.planActivations()
	e.written = make([]bool, nn)
}

// samePad returns the padding before the data (top or left) of TensorFlow's
// SAME padding: pad_total = max((out−1)·stride + k − in, 0), of which the
// smaller half, floor(pad_total/2), comes before and the rest after.
func samePad(in, out, k, s int) int {
	return max((out-1)*s+k-in, 0) / 2
}

// planGradients assigns gradient buffers ("slots") to nodes so that nodes
// whose gradients are never live at the same time share one. Going backward,
// the gradient of node j is live from the first consumer that writes it (its
// last consumer in node order) until node j's own backward step.
func (e *Executor) planGradients() {
	nn := len(e.layers)
	e.slotOf = make([]int, nn)
	for i := range e.slotOf {
		e.slotOf[i] = -1
	}
	var a slotAlloc
	for i := nn - 1; i >= 0; i-- {
		l := &e.layers[i]
		if l.gradFused {
			continue
		}
		if e.slotOf[i] < 0 {
			e.slotOf[i] = a.alloc(l.size) // the output, or a node that feeds nothing
		}
		for _, j := range e.gradInputs(i) {
			if j != model.GraphInput && e.slotOf[j] < 0 {
				e.slotOf[j] = a.alloc(e.layers[j].size)
			}
		}
		a.release(e.slotOf[i])
	}
	e.slotSize = a.size
}

// planActivations builds the activation plan of each mode. Nodes sharing a
// buffer (an in-place activation and its input) form a group named by its
// first node (layer.buf); a group's buffer is free after the group's last
// reader in the forward pass unless the mode's backward pass reads it.
func (e *Executor) planActivations() {
	nn := len(e.layers)
	lastUse := make([]int, nn) // per group
	for i := range e.layers {
		l := &e.layers[i]
		lastUse[l.buf] = max(lastUse[l.buf], i)
		for _, j := range l.in {
			if j != model.GraphInput {
				r := e.layers[j].buf
				lastUse[r] = max(lastUse[r], i)
			}
		}
	}
	for md := range numModes {
		kept := make([]bool, nn) // per group
		keep := func(j int) {
			if j != model.GraphInput {
				kept[e.layers[j].buf] = true
			}
		}
		keep(nn - 1) // the logits, read by the loss
		for i := range e.layers {
			l := &e.layers[i]
			if md == modeLogits || md == modeParam && !l.needParam {
				continue
			}
			// What each backward step reads (see backward).
			switch l.op {
			case model.OpReLU, model.OpLeakyReLU:
				if !l.gradFused {
					keep(l.in[0])
				}
			case model.OpMaxPool:
				if l.gradAct {
					keep(l.in[0])
				}
			case model.OpStandardize:
				keep(i)
			case model.OpConv2D, model.OpDense, model.OpBatchNorm:
				if md == modeParam {
					keep(l.in[0])
				}
			}
		}
		p := &e.plans[md]
		p.slotOf = make([]int, nn)
		freed := make([]bool, nn)
		var a slotAlloc
		for i := range e.layers {
			l := &e.layers[i]
			if l.buf == i {
				p.slotOf[i] = a.alloc(l.size)
			} else {
				p.slotOf[i] = p.slotOf[l.buf]
			}
			release := func(r int) {
				if lastUse[r] == i && !kept[r] && !freed[r] {
					freed[r] = true
					a.release(p.slotOf[r])
				}
			}
			for _, j := range l.in {
				if j != model.GraphInput {
					release(e.layers[j].buf)
				}
			}
			release(l.buf)
		}
		p.slotSize = a.size
	}
}

// gradInputs returns the nodes whose gradients node i's backward step
// writes: its inputs, or its input's inputs when it applies the derivative
// of its input activation (gradAct).
func (e *Executor) gradInputs(i int) []int {
	if l := &e.layers[i]; l.gradAct {
		return e.layers[l.in[0]].in
	}
	return e.layers[i].in
}

// Model implements engine.Executor.
func (e *Executor) Model() *model.Model { return e.m }

// Kernel returns the GEMM kernel the executor uses.
func (e *Executor) Kernel() gemm.Kernel { return e.kernel }

// Name says which executor this is, with its kernel and worker count, for
// results metadata: for example "native/go-avx2-6x16-t2/w2".
func (e *Executor) Name() string {
	return fmt.Sprintf("native/%s/w%d", e.kernel.Name(), e.cfg.workers)
}

// Sync implements engine.Executor: it rereads the model's parameters (which
// may have been changed in place or replaced in the map) and recomputes the
// batch-norm factors derived from them.
func (e *Executor) Sync() error {
	if err := e.m.Validate(); err != nil {
		return fmt.Errorf("native: %w", err)
	}
	p := e.m.Params
	for i := range e.layers {
		l := &e.layers[i]
		n := l.node
		switch l.op {
		case model.OpConv2D, model.OpDense:
			l.w, l.b = p[n.Weight], nil
			if n.Bias != "" {
				l.b = p[n.Bias]
			}
		case model.OpBatchNorm:
			l.gamma, l.beta, l.mean, l.variance = p[n.Gamma], p[n.Beta], p[n.Mean], p[n.Variance]
			c := l.shape[2]
			if len(l.bnScale) != c {
				l.bnScale = make([]float32, c)
			}
			for ch := range c {
				// FusedBatchNorm: (variance + epsilon).rsqrt() * scale.
				r := float32(1 / math.Sqrt(float64(l.variance[ch]+n.Epsilon)))
				l.bnScale[ch] = r * l.gamma[ch]
			}
		}
	}
	return nil
}

// Close implements engine.Executor: it stops the worker goroutines and drops
// the buffers. Later calls return ErrClosed.
func (e *Executor) Close() error {
	if e.closed {
		return nil
	}
	e.closed = true
	e.pool.close()
	e.actSlots, e.slots, e.col = nil, nil, nil
	e.gapSum, e.chanS1, e.chanS2, e.losses = nil, nil, nil, nil
	for i := range e.layers {
		l := &e.layers[i]
		l.arg, l.stdScale, l.useStd = nil, nil, nil
	}
	e.ready, e.gradReady, e.nmax = [numModes]int{}, 0, 0
	return nil
}

// Bytes returns the size in bytes of the buffers the executor holds now
// (activations, gradients, im2col and scratch), not counting the model's
// parameters or the GEMM kernel's packing buffers. Buffers are allocated
// for the largest batch seen, per kind of call: forward only (Logits) needs
// the least, InputGrad more, ParamGrad the most (every input of a layer with
// parameters is kept).
func (e *Executor) Bytes() int64 {
	var b int64
	for _, s := range e.actSlots {
		b += 4 * int64(len(s))
	}
	for _, s := range e.slots {
		b += 4 * int64(len(s))
	}
	for _, l := range e.layers {
		b += 4*int64(len(l.arg)) + 4*int64(len(l.stdScale)) + int64(len(l.useStd))
	}
	b += 4*int64(len(e.col)) + 8*int64(len(e.gapSum)+len(e.chanS1)+len(e.chanS2)) + 4*int64(len(e.losses))
	return b
}

// ensure sizes the buffers of mode md for batches of n examples and makes
// md the current mode.
func (e *Executor) ensure(n int, md mode) {
	e.mode = md
	if n <= e.ready[md] {
		return
	}
	if n > e.nmax {
		e.nmax = n
		maxC := 0
		for i := range e.layers {
			l := &e.layers[i]
			maxC = max(maxC, l.shape[2], l.inShape[2])
			switch l.op {
			case model.OpMaxPool:
				l.arg = make([]int32, n*l.size)
			case model.OpStandardize:
				l.stdScale, l.useStd = make([]float32, n), make([]bool, n)
			case model.OpConv2D:
				if !l.direct {
					e.col = growTo(e.col, min(n, l.ipc)*l.rows*l.kkc)
				}
			}
		}
		e.gapSum = make([]float64, n*maxC)
		e.chanS1, e.chanS2 = make([]float64, maxC), make([]float64, maxC)
		e.losses = make([]float32, n)
	}
	n = e.nmax
	p := &e.plans[md]
	for len(e.actSlots) < len(p.slotSize) {
		e.actSlots = append(e.actSlots, nil)
	}
	for s, size := range p.slotSize {
		e.actSlots[s] = growTo(e.actSlots[s], n*size)
	}
	if md != modeLogits && e.gradReady < n {
		e.slots = make([][]float32, len(e.slotSize))
		for s, size := range e.slotSize {
			e.slots[s] = make([]float32, n*size)
		}
		e.gradReady = n
	}
	e.ready[md] = n
}

func growTo(s []float32, n int) []float32 {
	if len(s) >= n {
		return s
	}
	return make([]float32, n)
}

func (e *Executor) out(i, n int) []float32 {
	return e.actSlots[e.plans[e.mode].slotOf[i]][:n*e.layers[i].size]
}

func (e *Executor) grad(i, n int) []float32 { return e.slots[e.slotOf[i]][:n*e.layers[i].size] }

// input returns input k of node i.
func (e *Executor) input(i, k int, x []float32, n int) []float32 {
	if j := e.layers[i].in[k]; j != model.GraphInput {
		return e.out(j, n)
	}
	return x[:n*e.layers[i].inSize]
}

// check validates the arguments common to the executor's methods.
func (e *Executor) check(x []float32, n int) error {
	if e.closed {
		return ErrClosed
	}
	if n < 0 {
		return fmt.Errorf("native: negative batch size %d", n)
	}
	if need := n * e.g.Input.Size(); len(x) < need {
		return fmt.Errorf("native: input has %d values, want %d for %d examples of %v", len(x), need, n, e.g.Input)
	}
	return nil
}

func (e *Executor) checkOut(what string, s []float32, want int) error {
	if s != nil && len(s) < want {
		return fmt.Errorf("native: %s has %d values, want %d", what, len(s), want)
	}
	return nil
}

// Logits implements engine.Executor. dst must hold n·Classes values.
func (e *Executor) Logits(dst, x []float32, n int) error {
	if err := e.check(x, n); err != nil {
		return err
	}
	if err := e.checkOut("logits", dst, n*e.g.Classes); err != nil {
		return err
	}
	if dst == nil {
		return errors.New("native: nil logits")
	}
	if n == 0 {
		return nil
	}
	e.ensure(n, modeLogits)
	e.forward(x, n)
	copy(dst, e.out(len(e.layers)-1, n))
	return nil
}

// InputGrad implements engine.Executor. dx must hold as many values as the
// n inputs; it must not overlap x. It computes no parameter gradients.
func (e *Executor) InputGrad(dx, logits, losses, x []float32, n int, loss engine.Loss) error {
	if err := e.check(x, n); err != nil {
		return err
	}
	if err := e.checkOut("input gradient", dx, n*e.g.Input.Size()); err != nil {
		return err
	}
	if dx == nil {
		return errors.New("native: nil input gradient")
	}
	if err := e.checkLoss(logits, losses, n, loss); err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	e.ensure(n, modeInput)
	e.forward(x, n)
	if err := e.evalLoss(logits, losses, n, loss); err != nil {
		return err
	}
	e.backward(x, dx[:n*e.g.Input.Size()], n, nil)
	return nil
}

// ParamGrad implements engine.Executor. The gradients of the batch-norm
// moving mean and variance are computed too: in inference mode they enter
// the output as constants of an affine map, and their gradients are exact,
// though training does not use them.
func (e *Executor) ParamGrad(grads map[string][]float32, logits, losses, x []float32, n int, loss engine.Loss) error {
	if err := e.check(x, n); err != nil {
		return err
	}
	if grads == nil {
		return errors.New("native: nil gradient map")
	}
	if err := e.checkLoss(logits, losses, n, loss); err != nil {
		return err
	}
	for _, s := range e.m.Specs {
		if g := grads[s.Name]; len(g) != s.Size() {
			grads[s.Name] = make([]float32, s.Size())
		}
	}
	if n == 0 {
		for _, g := range grads {
			clear(g)
		}
		return nil
	}
	e.ensure(n, modeParam)
	e.forward(x, n)
	if err := e.evalLoss(logits, losses, n, loss); err != nil {
		return err
	}
	e.backward(x, nil, n, grads)
	return nil
}

func (e *Executor) checkLoss(logits, losses []float32, n int, loss engine.Loss) error {
	if loss == nil {
		return errors.New("native: nil loss")
	}
	if err := e.checkOut("logits", logits, n*e.g.Classes); err != nil {
		return err
	}
	return e.checkOut("losses", losses, n)
}

// evalLoss evaluates the loss on the logits into the output's gradient
// slot. A loss that panics (labels out of range, say) becomes an error.
func (e *Executor) evalLoss(logits, losses []float32, n int, loss engine.Loss) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("native: loss %T: %v", loss, r)
		}
	}()
	last := len(e.layers) - 1
	z := e.out(last, n)
	if losses == nil {
		losses = e.losses
	}
	loss.Eval(losses[:n], e.grad(last, n), z, n, e.g.Classes)
	if logits != nil {
		copy(logits, z)
	}
	return nil
}
