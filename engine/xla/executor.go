package xla

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"confrobust/engine"
	"confrobust/model"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // GoMLX graph code reads best unqualified.
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// Ops selects how convolutions and pooling are built.
type Ops int

const (
	// OpsAuto uses OpsPortable on GoMLX's pure-Go backend and OpsNative on XLA.
	OpsAuto Ops = iota
	// OpsPortable builds convolution as gather-im2col + DotGeneral and max
	// pooling as reshape + ReduceMax, forms every GoMLX backend differentiates.
	OpsPortable
	// OpsNative uses GoMLX's Convolve and MaxPool (XLA convolution and
	// reduce-window), which the pure-Go backend runs forward only.
	OpsNative
)

type options struct {
	config    string
	backend   backends.Backend
	ops       Ops
	unroll    int
	buckets   bool
	fixed     int
	precision Precision
}

// Option configures New.
type Option func(*options)

// WithBackend sets the GoMLX backend configuration: "go" for the pure-Go
// backend, "xla:/abs/path/xla_cuda_plugin.so" for a PJRT plugin by path, or
// "xla:cuda" / "xla" for GoMLX's own plugin search. Options may follow the
// plugin after commas ("xla:cuda,tf32" lets DotGeneral use TF32). Empty means:
// $CONFROBUST_PJRT_PLUGIN, else $GOMLX_BACKEND, else "xla".
func WithBackend(config string) Option { return func(o *options) { o.config = config } }

// WithBackendInstance makes the executor use an existing backend (shared
// between executors; Close does not finalize it).
func WithBackendInstance(b backends.Backend) Option { return func(o *options) { o.backend = b } }

// WithOps selects portable or native convolution and pooling.
func WithOps(ops Ops) Option { return func(o *options) { o.ops = ops } }

// WithUnroll sets the number of search steps compiled into one program
// (Search). The default (0) is DefaultUnroll for networks of less than
// 1 GFLOP per forward pass of one input (the MNIST CNN: per-call overhead
// dominates) and 2 for larger ones (the WideResNet: compile time grows with
// the program, per-call overhead is negligible).
func WithUnroll(steps int) Option { return func(o *options) { o.unroll = steps } }

// WithPaddedBatches makes Logits, InputGrad and Search run a call of
// m ≤ n rows as ⌈m/q⌉·q rows (at most n) with q = ⌈n/8⌉, padding with zero
// rows whose results are dropped: a run whose calls hold up to n rows (the
// last chunk of a search, CW's shrinking chunks) compiles at most eight
// programs of each kind instead of one per size, and computes at most
// n/8 − 1 rows in vain per call. Larger calls run as they are (or
// bucketed, WithBatchBuckets). Rows do not interact, so the real rows'
// results do not depend on the padding. 0 (the default) turns it off.
func WithPaddedBatches(n int) Option { return func(o *options) { o.fixed = n } }

// DefaultUnroll is the number of search steps compiled into one program for
// small networks (see WithUnroll).
const DefaultUnroll = 10

// Precision is the arithmetic of the attack's passes (InputGrad and Search).
type Precision int

const (
	// FP32 computes in float32 (on CUDA, XLA may use TF32 for convolutions
	// and dots; see Executor.Precision).
	FP32 Precision = iota
	// BF16 runs the network of InputGrad and Search in bfloat16 (weights and
	// inputs converted inside the program, losses, criteria and steps in
	// float32). Logits and ParamGrad stay float32, so every confidence an
	// attack reports, which comes from Logits, is a float32 one.
	BF16
)

// WithPrecision sets the precision of InputGrad and Search.
func WithPrecision(p Precision) Option { return func(o *options) { o.precision = p } }

// WithBatchBuckets sets whether Logits, InputGrad and PGD round a batch of
// n up to the next power of two (padding with zero inputs whose results are
// dropped), so that a run with varying batch sizes compiles a few programs
// instead of one per size (a WideResNet program takes seconds to compile).
// Rows do not interact, so the results of the n real rows do not depend on
// the padding. The default is off: a fixed batch size that is not a power of
// two would otherwise always pay for the padding. ParamGrad always runs the
// exact batch.
func WithBatchBuckets(on bool) Option {
	return func(o *options) { o.buckets = on }
}

// Executor runs a model.Model on a GoMLX backend. It implements
// engine.Executor. The model's parameters are uploaded once (New, Sync) and
// stay on the device; compiled programs are cached per batch size and loss
// kind. An Executor is not safe for concurrent use.
type Executor struct {
	model     *model.Model
	shapes    []model.Shape
	backend   backends.Backend
	ownsBack  bool
	config    string
	native    bool
	weights   []backends.Buffer // m.Specs order, on device
	programs  map[progKey]*program
	closed    bool
	scratchZ  []float32 // logits for host-side losses
	scratchG  []float32 // ∂loss/∂logits for host-side losses
	scratchL  []float32 // losses for host-side losses
	compiles  int
	compiling time.Duration // spent building and compiling programs
	inputSize int
	unroll    int  // search steps per program
	buckets   bool // round batch sizes up to powers of two
	fixed     int  // pad calls of up to fixed rows (WithPaddedBatches)
	precision Precision
}

var _ engine.Executor = (*Executor)(nil)

// New returns an executor of m on the backend chosen by the options (see
// WithBackend). It fails, saying how to provide one, when the backend needs
// a PJRT plugin that is missing or does not load; it never falls back to
// another backend.
func New(m *model.Model, opts ...Option) (*Executor, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if m == nil || m.Graph == nil {
		return nil, fmt.Errorf("engine/xla: nil model")
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("engine/xla: %w", err)
	}
	shp, err := m.Graph.Shapes()
	if err != nil {
		return nil, fmt.Errorf("engine/xla: %w", err)
	}
	if o.unroll < 0 {
		return nil, fmt.Errorf("engine/xla: negative unroll %d", o.unroll)
	}
	if o.fixed < 0 {
		return nil, fmt.Errorf("engine/xla: negative padded batch %d", o.fixed)
	}
	if o.precision != FP32 && o.precision != BF16 {
		return nil, fmt.Errorf("engine/xla: unknown precision %d", o.precision)
	}
	e := &Executor{model: m, shapes: shp, programs: map[progKey]*program{}, inputSize: m.Graph.Input.Size(),
		unroll: o.unroll, precision: o.precision}
	if e.unroll == 0 {
		e.unroll = DefaultUnroll
		if forwardFLOPs(m.Graph, shp) >= 1e9 {
			e.unroll = 2
		}
	}
	if o.backend != nil {
		e.backend, e.config = o.backend, o.backend.Name()
	} else {
		cfg, err := resolveBackend(o.config)
		if err != nil {
			return nil, err
		}
		if e.backend, err = newBackend(cfg); err != nil {
			return nil, err
		}
		e.config, e.ownsBack = cfg, true
	}
	e.buckets, e.fixed = o.buckets, o.fixed
	switch o.ops {
	case OpsNative:
		e.native = true
	case OpsPortable:
	default:
		e.native = differentiatesNative(e.backend)
	}
	if err := e.Sync(); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

// Model implements engine.Executor.
func (e *Executor) Model() *model.Model { return e.model }

// Backend returns a description of the backend, for results metadata.
func (e *Executor) Backend() string {
	ops := "portable"
	if e.native {
		ops = "native"
	}
	return fmt.Sprintf("gomlx %s (%s; %s conv/pool)", e.backend.Name(), e.config, ops)
}

// Ops returns the resolved form of convolutions and pooling: OpsNative or
// OpsPortable.
func (e *Executor) Ops() Ops {
	if e.native {
		return OpsNative
	}
	return OpsPortable
}

// GoMLXBackend returns the GoMLX backend the executor runs on, to share it
// with another executor (WithBackendInstance) instead of opening a second
// client on the same device.
func (e *Executor) GoMLXBackend() backends.Backend { return e.backend }

// Precision returns "fp32" when every float32 product is computed in full
// float32, or "tf32 allowed" when XLA may use TF32 tensor cores (CUDA
// plugins: GoMLX v0.26.0 emits float32 convolutions and dots with XLA's
// DEFAULT precision, which lets NVIDIA GPUs use TF32; "tf32" in the backend
// options forces it for dots). With BF16 it is "bf16 attack passes, " and
// that, for Logits and ParamGrad.
func (e *Executor) Precision() string {
	p := "fp32"
	if !isPureGo(e.backend) {
		d := strings.ToLower(e.config + " " + e.backend.Description())
		for _, gpu := range []string{"cuda", "gpu", "nvidia", "tf32"} {
			if strings.Contains(d, gpu) {
				p = "tf32 allowed"
			}
		}
	}
	if e.precision == BF16 {
		return "bf16 attack passes, " + p + " logits"
	}
	return p
}

// Unroll returns the number of search steps compiled into one program.
func (e *Executor) Unroll() int { return e.unroll }

// Compiles returns the number of programs compiled so far.
func (e *Executor) Compiles() int { return e.compiles }

// CompileTime returns the time spent building and compiling programs so
// far (on XLA, most of a run's fixed cost: seconds per WideResNet program).
func (e *Executor) CompileTime() time.Duration { return e.compiling }

// Sync implements engine.Executor: it uploads the model's parameters again.
func (e *Executor) Sync() error {
	if e.closed {
		return ErrClosed
	}
	// Upload everything first: on an error the old weights stay in use.
	fresh := make([]backends.Buffer, 0, len(e.model.Specs))
	for _, s := range e.model.Specs {
		v := e.model.Params[s.Name]
		err := fmt.Errorf("engine/xla: parameter %s has %d values, want %d", s.Name, len(v), s.Size())
		var buf backends.Buffer
		if len(v) == s.Size() {
			if buf, err = e.backend.BufferFromFlatData(0, v, shapes.Make(dtypes.Float32, s.Shape...)); err != nil {
				err = fmt.Errorf("engine/xla: upload %s: %w", s.Name, err)
			}
		}
		if err != nil {
			e.freeBuffers(fresh)
			return err
		}
		fresh = append(fresh, buf)
	}
	e.freeBuffers(e.weights)
	e.weights = fresh
	return nil
}

func (e *Executor) freeBuffers(bufs []backends.Buffer) {
	for _, b := range bufs {
		_ = e.backend.BufferFinalize(b)
	}
}

// Close implements engine.Executor.
func (e *Executor) Close() error {
	if e.closed {
		return nil
	}
	e.freeBuffers(e.weights)
	e.weights = nil
	for k, p := range e.programs {
		p.g.Finalize()
		delete(e.programs, k)
	}
	if e.ownsBack {
		e.backend.Finalize()
	}
	e.closed = true
	return nil
}

// ErrClosed is returned by the methods of a closed Executor.
var ErrClosed = errors.New("engine/xla: executor is closed")

// progKind is what a compiled program computes.
type progKind uint8

const (
	progLogits progKind = iota
	progInputGrad
	progParamGrad
	progSearch
)

// progKey identifies a compiled program: programs are cached per key.
type progKey struct {
	kind   progKind
	n      int
	loss   lossKind  // lossHost: the program takes ∂loss/∂logits as an input
	steps  int       // search steps unrolled in the program
	search searchKey // the search program's loss, criterion, rule and update
}

// program is a compiled graph whose first parameters are the model's weights.
type program struct {
	g *Graph
}

// compile builds and compiles the program of key with build, which receives
// the parameter nodes of the weights by name and returns the outputs.
func (e *Executor) compile(key progKey, build func(g *Graph, w map[string]*Node) []*Node) (p *program, err error) {
	if p := e.programs[key]; p != nil {
		return p, nil
	}
	start := time.Now()
	defer func() { e.compiling += time.Since(start) }()
	g := NewGraph(e.backend, fmt.Sprintf("%s_%d_k%d_n%d_l%d_s%d", e.model.Graph.Name, e.compiles, key.kind, key.n, key.loss, key.steps))
	defer func() {
		if r := recover(); r != nil {
			g.Finalize()
			p, err = nil, fmt.Errorf("engine/xla: build %s: %v", g.Name(), r)
		}
	}()
	w := make(map[string]*Node, len(e.model.Specs))
	for _, s := range e.model.Specs {
		w[s.Name] = Parameter(g, "param/"+s.Name, shapes.Make(dtypes.Float32, s.Shape...))
	}
	outs := build(g, w)
	g.Compile(outs...)
	p = &program{g: g}
	e.programs[key] = p
	e.compiles++
	return p, nil
}

// forward builds the logits [n, classes] of x [n, H, W, C], in the dtype
// of x and w.
func (e *Executor) forward(x *Node, n int, w map[string]*Node) *Node {
	return newNetBuilder(e.model.Graph, e.shapes, e.native, n, w).forward(x)
}

// attackForward builds the float32 logits of x in the precision of the
// attack's passes (InputGrad, Search): float32, or mixed bfloat16.
func (e *Executor) attackForward(x *Node, n int, w map[string]*Node) *Node {
	b := newNetBuilder(e.model.Graph, e.shapes, e.native, n, w)
	if e.precision == BF16 {
		b.low = dtypes.BFloat16
	}
	return b.forward(x)
}

func (e *Executor) inputShape(n int) shapes.Shape {
	in := e.model.Graph.Input
	return shapes.Make(dtypes.Float32, n, in[0], in[1], in[2])
}

// input is one per-call input of a program.
type input struct {
	flat  any // []float32 or []int32, uploaded and donated
	shape shapes.Shape
	t     *tensors.Tensor // or a tensor already on the device (not donated)
}

// run executes p on the weights followed by inputs and returns its outputs,
// which the caller must finalize (see fetch).
func (e *Executor) run(p *program, inputs []input) (outs []*tensors.Tensor, err error) {
	bufs := make([]backends.Buffer, 0, len(e.weights)+len(inputs))
	donate := make([]bool, 0, cap(bufs))
	bufs = append(bufs, e.weights...)
	for range e.weights {
		donate = append(donate, false)
	}
	// Buffers uploaded here are donated to the execution; if it never
	// starts they are freed here. (After a failed execution they may have
	// been consumed, so they are left alone: a leak rather than a double
	// free.)
	var owned []backends.Buffer
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("engine/xla: run %s: %v", p.g.Name(), r)
		}
	}()
	for _, in := range inputs {
		if in.t != nil {
			b, err := in.t.Buffer(e.backend, 0)
			if err != nil {
				e.freeBuffers(owned)
				return nil, fmt.Errorf("engine/xla: run %s: %w", p.g.Name(), err)
			}
			bufs, donate = append(bufs, b), append(donate, false)
			continue
		}
		b, err := e.backend.BufferFromFlatData(0, in.flat, in.shape)
		if err != nil {
			e.freeBuffers(owned)
			return nil, fmt.Errorf("engine/xla: upload input of %s: %w", p.g.Name(), err)
		}
		owned = append(owned, b)
		bufs, donate = append(bufs, b), append(donate, true)
	}
	return p.g.RunWithBuffers(bufs, donate, 0), nil
}

// fetch copies output t into dst (skipped when dst is nil) and finalizes t.
func (e *Executor) fetch(t *tensors.Tensor, dst any) error {
	defer t.FinalizeAll()
	if dst == nil {
		return nil
	}
	switch d := dst.(type) {
	case []float32:
		if d == nil {
			return nil
		}
	case []int32:
		if d == nil {
			return nil
		}
	}
	b, err := t.Buffer(e.backend, 0)
	if err != nil {
		return fmt.Errorf("engine/xla: fetch output: %w", err)
	}
	if err := e.backend.BufferToFlatData(b, dst); err != nil {
		return fmt.Errorf("engine/xla: fetch output: %w", err)
	}
	return nil
}

func finalizeAll(ts []*tensors.Tensor) {
	for _, t := range ts {
		if t != nil {
			t.FinalizeAll()
		}
	}
}

// checkBatch validates the sizes of a call's slices.
func (e *Executor) checkBatch(op string, n int, x []float32, outs ...namedSlice) error {
	if e.closed {
		return ErrClosed
	}
	if n <= 0 {
		return fmt.Errorf("engine/xla: %s: batch size %d, want > 0", op, n)
	}
	if len(x) < n*e.inputSize {
		return fmt.Errorf("engine/xla: %s: input has %d values, want %d (%d×%v)", op, len(x), n*e.inputSize, n, e.model.Graph.Input)
	}
	for _, o := range outs {
		if o.s != nil && len(o.s) < o.want {
			return fmt.Errorf("engine/xla: %s: %s has %d values, want %d", op, o.name, len(o.s), o.want)
		}
	}
	return nil
}

type namedSlice struct {
	name string
	s    []float32
	want int
}

// bucket returns the batch size a call of n runs with.
func (e *Executor) bucket(n int) int {
	if e.fixed > 0 && n > 0 && n <= e.fixed {
		q := (e.fixed + 7) / 8
		return min((n+q-1)/q*q, e.fixed)
	}
	if !e.buckets || n <= 0 {
		return n
	}
	m := 1
	for m < n {
		m <<= 1
	}
	return m
}

// padded returns the first n rows of v (rows of size values each) followed
// by zero rows up to m, or nil for nil v.
func padded[T any](v []T, n, m, size int) []T {
	if v == nil {
		return nil
	}
	out := make([]T, m*size)
	copy(out, v[:n*size])
	return out
}

// Logits implements engine.Executor.
func (e *Executor) Logits(dst, x []float32, n int) error {
	c := e.model.Graph.Classes
	if err := e.checkBatch("logits", n, x, namedSlice{"dst", dst, n * c}); err != nil {
		return err
	}
	if dst == nil {
		return fmt.Errorf("engine/xla: logits: nil dst")
	}
	if m := e.bucket(n); m != n {
		z := make([]float32, m*c)
		if err := e.logits(z, padded(x, n, m, e.inputSize), m); err != nil {
			return err
		}
		copy(dst, z[:n*c])
		return nil
	}
	return e.logits(dst, x, n)
}

func (e *Executor) logits(dst, x []float32, n int) error {
	c := e.model.Graph.Classes
	p, err := e.compile(progKey{kind: progLogits, n: n}, func(g *Graph, w map[string]*Node) []*Node {
		x := Parameter(g, "x", e.inputShape(n))
		return []*Node{e.forward(x, n, w)}
	})
	if err != nil {
		return err
	}
	outs, err := e.run(p, []input{{flat: x[:n*e.inputSize], shape: e.inputShape(n)}})
	if err != nil {
		return err
	}
	return e.fetch(outs[0], dst[:n*c])
}

// InputGrad implements engine.Executor. The losses of package engine
// (CrossEntropy, TargetLogProb, CWMargin, LogitWeights) are computed inside
// the compiled program; any other Loss runs on the host between a forward
// program and a vector-Jacobian program that takes ∂loss/∂logits.
func (e *Executor) InputGrad(dx, logits, losses, x []float32, n int, loss engine.Loss) error {
	c := e.model.Graph.Classes
	if err := e.checkBatch("input gradient", n, x, namedSlice{"dx", dx, n * e.inputSize},
		namedSlice{"logits", logits, n * c}, namedSlice{"losses", losses, n}); err != nil {
		return err
	}
	if dx == nil {
		return fmt.Errorf("engine/xla: input gradient: nil dx")
	}
	if m := e.bucket(n); m != n {
		pl, err := padLoss(loss, n, m, c)
		if err != nil {
			return err
		}
		pdx, pz, pl2 := make([]float32, m*e.inputSize), make([]float32, m*c), make([]float32, m)
		if err := e.inputGrad(pdx, pz, pl2, padded(x, n, m, e.inputSize), m, pl); err != nil {
			return err
		}
		copy(dx, pdx[:n*e.inputSize])
		if logits != nil {
			copy(logits, pz[:n*c])
		}
		if losses != nil {
			copy(losses, pl2[:n])
		}
		return nil
	}
	return e.inputGrad(dx, logits, losses, x, n, loss)
}

func (e *Executor) inputGrad(dx, logits, losses, x []float32, n int, loss engine.Loss) error {
	outs, err := e.grad(progInputGrad, logits, losses, x, n, loss)
	if err != nil {
		return err
	}
	return e.fetch(outs[0], dx[:n*e.inputSize])
}

// ParamGrad implements engine.Executor.
func (e *Executor) ParamGrad(grads map[string][]float32, logits, losses, x []float32, n int, loss engine.Loss) error {
	c := e.model.Graph.Classes
	if err := e.checkBatch("parameter gradient", n, x, namedSlice{"logits", logits, n * c}, namedSlice{"losses", losses, n}); err != nil {
		return err
	}
	if grads == nil {
		return fmt.Errorf("engine/xla: parameter gradient: nil grads map")
	}
	outs, err := e.grad(progParamGrad, logits, losses, x, n, loss)
	if err != nil {
		return err
	}
	var first error
	for i, s := range e.model.Specs {
		g := grads[s.Name]
		if len(g) != s.Size() {
			g = make([]float32, s.Size())
			grads[s.Name] = g
		}
		if err := e.fetch(outs[i], g); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// grad runs the gradient program of kind for loss and writes logits and
// losses; it returns the gradient outputs, which the caller fetches.
func (e *Executor) grad(kind progKind, logits, losses, x []float32, n int, loss engine.Loss) ([]*tensors.Tensor, error) {
	c := e.model.Graph.Classes
	xin := input{flat: x[:n*e.inputSize], shape: e.inputShape(n)}
	if spec, ok, err := graphLoss(loss, n, c); err != nil {
		return nil, err
	} else if ok {
		p, err := e.compile(progKey{kind: kind, n: n, loss: spec.kind}, func(g *Graph, w map[string]*Node) []*Node {
			x := Parameter(g, "x", e.inputShape(n))
			args := spec.parameters(g, n, c)
			z := e.forward(x, n, w)
			if kind == progInputGrad {
				z = e.attackForward(x, n, w)
			}
			l := spec.build(z, args)
			return append([]*Node{z, l}, e.gradients(kind, ReduceAllSum(l), x, w)...)
		})
		if err != nil {
			return nil, err
		}
		outs, err := e.run(p, append([]input{xin}, spec.inputs(n, c)...))
		if err != nil {
			return nil, err
		}
		if logits != nil {
			logits = logits[:n*c]
		}
		if losses != nil {
			losses = losses[:n]
		}
		err = e.fetch(outs[0], logits)
		if err2 := e.fetch(outs[1], losses); err == nil {
			err = err2
		}
		if err != nil {
			finalizeAll(outs[2:])
			return nil, err
		}
		return outs[2:], nil
	}
	if loss == nil {
		return nil, fmt.Errorf("engine/xla: nil loss")
	}
	// Host-side loss: forward, Eval, then the vector-Jacobian product.
	z := logits
	if z == nil {
		e.scratchZ = grow(e.scratchZ, n*c)
		z = e.scratchZ
	}
	if err := e.Logits(z, x, n); err != nil {
		return nil, err
	}
	e.scratchG = grow(e.scratchG, n*c)
	l := losses
	if l == nil {
		e.scratchL = grow(e.scratchL, n)
		l = e.scratchL
	}
	loss.Eval(l[:n], e.scratchG, z[:n*c], n, c)
	p, err := e.compile(progKey{kind: kind, n: n, loss: lossHost}, func(g *Graph, w map[string]*Node) []*Node {
		x := Parameter(g, "x", e.inputShape(n))
		dz := Parameter(g, "dlogits", shapes.Make(dtypes.Float32, n, c))
		z := e.forward(x, n, w)
		if kind == progInputGrad {
			z = e.attackForward(x, n, w)
		}
		vjp := ReduceAllSum(Mul(z, dz))
		return e.gradients(kind, vjp, x, w)
	})
	if err != nil {
		return nil, err
	}
	return e.run(p, []input{xin, {flat: e.scratchG, shape: shapes.Make(dtypes.Float32, n, c)}})
}

// gradients returns ∂f/∂x for progInputGrad, or ∂f/∂param for every
// parameter in spec order for progParamGrad.
func (e *Executor) gradients(kind progKind, f, x *Node, w map[string]*Node) []*Node {
	if kind == progInputGrad {
		return Gradient(f, x)
	}
	nodes := make([]*Node, len(e.model.Specs))
	for i, s := range e.model.Specs {
		nodes[i] = w[s.Name]
	}
	return Gradient(f, nodes...)
}

// differentiatesNative reports whether b has the operations the gradients
// of GoMLX's Convolve and MaxPool need (GoMLX's pure-Go backend lacks them).
func differentiatesNative(b backends.Backend) bool {
	ops := b.Capabilities().Operations
	return ops[backends.OpTypePad] && ops[backends.OpTypeReverse] && ops[backends.OpTypeSelectAndScatterMax]
}

// isPureGo reports whether b is GoMLX's pure-Go backend ("SimpleGo (go)").
func isPureGo(b backends.Backend) bool {
	return b.Name() == "go" || strings.HasSuffix(b.Name(), "(go)")
}

func grow(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

// forwardFLOPs returns the multiply-adds ×2 of one input's forward pass
// through the convolutions and dense layers of g (shapes from g.Shapes).
func forwardFLOPs(g *model.Graph, shp []model.Shape) float64 {
	f := 0.0
	for i := range g.Nodes {
		nd := &g.Nodes[i]
		in := g.InputShape(shp, i, 0)
		switch nd.Op {
		case model.OpConv2D:
			out := shp[i]
			f += 2 * float64(out[0]*out[1]*nd.Kernel*nd.Kernel*in[2]*nd.Out)
		case model.OpDense:
			f += 2 * float64(in.Size()*nd.Out)
		}
	}
	return f
}
