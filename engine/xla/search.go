package xla

import (
	"context"
	"fmt"
	"math"

	"confrobust/engine"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // GoMLX graph code reads best unqualified.
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

var _ engine.Searcher = (*Executor)(nil)

// critKind is a criterion computed inside a compiled search.
type critKind uint8

const (
	critNone           critKind = iota // KeepLast without a criterion
	critLoss                           // a recognised loss's value
	critConfidentWrong                 // engine.ConfidentWrong
	critWrongConf                      // engine.WrongConfidence
)

// critSpec is a recognised criterion with its per-call arguments.
type critSpec struct {
	kind   critKind
	loss   lossSpec // critLoss
	labels []int32  // critConfidentWrong, critWrongConf
}

// graphCriterion recognises the criteria a compiled search computes.
func graphCriterion(c engine.Criterion, n, k int) (spec critSpec, ok bool, err error) {
	switch v := c.(type) {
	case nil:
		return critSpec{kind: critNone}, true, nil
	case engine.ConfidentWrong:
		spec.kind = critConfidentWrong
		spec.labels, err = (lossSpec{}).labelsOf("criterion", v.Labels, n, k)
	case *engine.ConfidentWrong:
		if v == nil {
			return spec, false, nil
		}
		return graphCriterion(*v, n, k)
	case engine.WrongConfidence:
		spec.kind = critWrongConf
		spec.labels, err = (lossSpec{}).labelsOf("criterion", v.Labels, n, k)
	case *engine.WrongConfidence:
		if v == nil {
			return spec, false, nil
		}
		return graphCriterion(*v, n, k)
	case engine.Loss:
		ls, ok, err := graphLoss(v, n, k)
		if err != nil || !ok || ls.kind == lossLogitWeights || ls.kind == lossHinge {
			return spec, false, err
		}
		return critSpec{kind: critLoss, loss: ls}, true, nil
	default:
		return spec, false, nil
	}
	return spec, err == nil, err
}

// offset is what the host adds to the value computed in the graph to get
// the criterion: ConfidentWrong keeps ±||F(z)||∞ in the graph (full float32
// precision; the ordering is the same) and reports 1 ± ||F(z)||∞.
func (c critSpec) offset() float64 {
	if c.kind == critConfidentWrong {
		return 1
	}
	return 0
}

// searchKey is what a compiled search program depends on besides the batch
// size and the steps it unrolls.
type searchKey struct {
	loss      lossKind
	crit      critKind
	critLoss  lossKind
	rule      engine.KeepRule
	penalty   int8 // −1 none, else engine.Norm
	keepPen   bool // the criterion subtracts the penalty
	adam      bool
	distance  bool // Adam's ||z − x||² term
	final     bool // the program that judges the last point
	precision Precision
}

// searchCall holds the tensors of one Search on the device: its
// constants, uploaded once, and its state, replaced after every program.
type searchCall struct {
	key    searchKey
	n, m   int // rows, rows run (bucketed)
	consts []input
	state  []*tensors.Tensor // u, [m, v], best, best logits, best value, best time
}

// Search implements engine.Searcher: s runs as compiled programs of up to
// the executor's unroll (WithUnroll) steps each, every step's forward and
// backward pass, update, projection and keep rule on the device, the state
// kept there between programs; then one program judges the last point.
// The context, s.Progress and the finiteness of the loss are checked
// between programs, so a stop or a NaN is seen up to unroll−1 steps late,
// and a search that stops early (s.Groups) may run up to unroll−1 steps
// more than RunSearch would (the rows kept are the same).
func (e *Executor) Search(ctx context.Context, res *engine.SearchResult, s *engine.Search) error {
	if e.closed {
		return ErrClosed
	}
	d, k := e.inputSize, e.model.Graph.Classes
	if err := engine.CheckSearch(s, d, k); err != nil {
		return fmt.Errorf("engine/xla: %w", err)
	}
	n := s.N
	m := e.bucket(n)
	call, err := e.newSearchCall(s, n, m)
	if err != nil {
		return err
	}
	defer func() {
		finalizeAll(call.state)
		for _, in := range call.consts {
			if in.t != nil {
				in.t.FinalizeAll()
			}
		}
	}()
	unroll := max(1, min(e.unroll, s.Steps))
	done, stopped := 0, false
	for done < s.Steps {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("engine/xla: search: after %d of %d steps: %w", done, s.Steps, err)
		}
		steps := min(unroll, s.Steps-done)
		frozen, err := e.searchSteps(call, s, done, steps)
		if err != nil {
			return err
		}
		done += steps
		if s.Progress != nil {
			if err := s.Progress(steps); err != nil {
				return fmt.Errorf("engine/xla: search: progress: %w", err)
			}
		}
		if frozen != nil && groupsFrozen(s.Groups, frozen, n) {
			stopped = true
			break
		}
	}
	if !stopped {
		if _, err := e.searchSteps(call, s, s.Steps, 0); err != nil {
			return err
		}
	}
	return e.fetchSearch(res, call, done)
}

// groupsFrozen reports whether every group has a frozen row.
func groupsFrozen(groups []int, frozen []int32, n int) bool {
	done := map[int]bool{}
	for i := 0; i < n; i++ {
		if frozen[i] != 0 {
			done[groups[i]] = true
		}
	}
	for i := 0; i < n; i++ {
		if !done[groups[i]] {
			return false
		}
	}
	return true
}

// newSearchCall recognises s's loss and criterion, uploads its constants
// and its initial state (m rows, the last m−n zero).
func (e *Executor) newSearchCall(s *engine.Search, n, m int) (*searchCall, error) {
	d, k := e.inputSize, e.model.Graph.Classes
	loss, ok, err := graphLoss(s.Loss, n, k)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: loss %T is not computed in the graph", engine.ErrUnsupported, s.Loss)
	}
	if loss.kind == lossLogitWeights {
		return nil, fmt.Errorf("%w: loss %T in a search", engine.ErrUnsupported, s.Loss)
	}
	crit, ok, err := graphCriterion(s.Keep.Criterion, n, k)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: criterion %T is not computed in the graph", engine.ErrUnsupported, s.Keep.Criterion)
	}
	if crit.kind == critNone && s.Keep.Rule != engine.KeepLast {
		return nil, fmt.Errorf("%w: no criterion", engine.ErrUnsupported)
	}
	key := searchKey{loss: loss.kind, crit: crit.kind, critLoss: crit.loss.kind, rule: s.Keep.Rule, penalty: -1,
		adam: s.Adam != nil, precision: e.precision}
	if s.Penalty.Lambda > 0 {
		key.penalty = int8(s.Penalty.Norm)
		key.keepPen = s.Keep.Penalty
	}
	if s.Adam != nil && s.Adam.Distance > 0 {
		key.distance = true
	}
	call := &searchCall{key: key, n: n, m: m}
	rowsF := func(v []float32, size int) []float32 { return padded(v[:n*size], n, m, size) }
	xs, vecF := e.inputShape(m), shapes.Make(dtypes.Float32, m)
	scalar := func(v float64) input { return input{flat: []float32{float32(v)}, shape: shapes.Make(dtypes.Float32)} }
	var consts []input
	consts = append(consts, input{flat: rowsF(s.Lo, d), shape: xs}, input{flat: rowsF(s.Hi, d), shape: xs})
	if key.penalty >= 0 || key.distance {
		consts = append(consts, input{flat: rowsF(s.Origin, d), shape: xs})
	}
	if s.Adam == nil {
		consts = append(consts, input{flat: rowsF(s.Step, 1), shape: vecF})
	} else {
		a := s.Adam
		consts = append(consts, scalar(a.Beta1), scalar(a.Beta2), scalar(a.Epsilon))
		if key.distance {
			consts = append(consts, scalar(a.Distance))
		}
	}
	if key.penalty >= 0 {
		consts = append(consts, scalar(s.Penalty.Lambda))
	}
	if s.Keep.Rule == engine.KeepFirstAbove {
		consts = append(consts, scalar(s.Keep.Threshold-crit.offset()))
	}
	pl, err := padLoss(s.Loss, n, m, k)
	if err != nil {
		return nil, err
	}
	if loss, _, err = graphLoss(pl, m, k); err != nil {
		return nil, err
	}
	consts = append(consts, loss.inputs(m, k)...)
	consts = append(consts, e.critInputs(crit, s.Keep.Criterion, n, m)...)
	// Upload the constants once.
	for i := range consts {
		t, err := e.upload(consts[i])
		if err != nil {
			for _, c := range consts[:i] {
				c.t.FinalizeAll()
			}
			return nil, err
		}
		consts[i] = input{t: t, shape: consts[i].shape}
	}
	call.consts = consts
	// Initial state.
	init := []input{{flat: rowsF(s.Start, d), shape: xs}}
	if s.Adam != nil {
		init = append(init, input{flat: make([]float32, m*d), shape: xs}, input{flat: make([]float32, m*d), shape: xs})
	}
	times := make([]int32, m)
	for i := range times {
		times[i] = -1
	}
	init = append(init, input{flat: make([]float32, m*d), shape: xs}, input{flat: make([]float32, m*k), shape: shapes.Make(dtypes.Float32, m, k)},
		input{flat: make([]float32, m), shape: vecF}, input{flat: times, shape: shapes.Make(dtypes.Int32, m)})
	for _, in := range init {
		t, err := e.upload(in)
		if err != nil {
			finalizeAll(call.state)
			call.state = nil
			for _, c := range consts {
				c.t.FinalizeAll()
			}
			return nil, err
		}
		call.state = append(call.state, t)
	}
	return call, nil
}

// critInputs returns the inputs of a criterion for m rows.
func (e *Executor) critInputs(c critSpec, orig engine.Criterion, n, m int) []input {
	k := e.model.Graph.Classes
	switch c.kind {
	case critConfidentWrong, critWrongConf:
		return []input{{flat: padded(c.labels, n, m, 1), shape: shapes.Make(dtypes.Int32, m)}}
	case critLoss:
		pl, err := padLoss(orig.(engine.Loss), n, m, k)
		if err != nil {
			return nil // checked by graphCriterion
		}
		spec, _, _ := graphLoss(pl, m, k)
		return spec.inputs(m, k)
	}
	return nil
}

// upload copies one input to the device.
func (e *Executor) upload(in input) (*tensors.Tensor, error) {
	b, err := e.backend.BufferFromFlatData(0, in.flat, in.shape)
	if err != nil {
		return nil, fmt.Errorf("engine/xla: search: upload: %w", err)
	}
	t, err := tensors.FromBuffer(e.backend, b)
	if err != nil {
		return nil, fmt.Errorf("engine/xla: search: upload: %w", err)
	}
	return t, nil
}

// searchSteps runs one program of steps steps starting at step t0 (steps =
// 0: the program that judges the point of step t0, the last) and replaces
// the call's state. With KeepFirstAbove and groups it returns each row's
// frozen flag.
func (e *Executor) searchSteps(call *searchCall, s *engine.Search, t0, steps int) ([]int32, error) {
	key := call.key
	key.final = steps == 0
	m := call.m
	p, err := e.compile(progKey{kind: progSearch, n: m, steps: steps, search: key}, func(g *Graph, w map[string]*Node) []*Node {
		return e.buildSearch(g, w, key, m, steps, s)
	})
	if err != nil {
		return nil, err
	}
	var in []input
	for _, t := range call.state {
		in = append(in, input{t: t})
	}
	in = append(in, call.consts...)
	in = append(in, input{flat: []int32{int32(t0)}, shape: shapes.Make(dtypes.Int32)})
	if key.adam && steps > 0 {
		rates := make([]float32, steps)
		for j := range rates {
			rates[j] = float32(s.Adam.Rates[t0+j])
		}
		in = append(in, input{flat: rates, shape: shapes.Make(dtypes.Float32, steps)})
	}
	outs, err := e.run(p, in)
	if err != nil {
		return nil, err
	}
	if key.final {
		kept := call.state[len(call.state)-4:]
		finalizeAll(kept)
		copy(kept, outs)
		return nil, nil
	}
	ns := len(call.state)
	finalizeAll(call.state)
	copy(call.state, outs[:ns])
	extra := outs[ns:]
	ok := make([]int32, 1)
	if err := e.fetch(extra[0], ok); err != nil {
		finalizeAll(extra[1:])
		return nil, err
	}
	if ok[0] == 0 {
		finalizeAll(extra[1:])
		return nil, fmt.Errorf("engine/xla: %w in steps %d–%d", engine.ErrNotFinite, t0, t0+steps-1)
	}
	if len(extra) < 2 {
		return nil, nil
	}
	if s.Groups == nil {
		finalizeAll(extra[1:])
		return nil, nil
	}
	frozen := make([]int32, m)
	if err := e.fetch(extra[1], frozen); err != nil {
		return nil, err
	}
	return frozen, nil
}

// fetchSearch copies the kept rows of the call into res.
func (e *Executor) fetchSearch(res *engine.SearchResult, call *searchCall, steps int) error {
	d, k := e.inputSize, e.model.Graph.Classes
	n, m := call.n, call.m
	st := call.state[len(call.state)-4:]
	best, logits, val, times := make([]float32, m*d), make([]float32, m*k), make([]float32, m), make([]int32, m)
	for i, dst := range []any{best, logits, val, times} {
		err := e.fetch(st[i], dst)
		st[i] = nil
		if err != nil {
			return err
		}
	}
	res.X = append(res.X[:0], best[:n*d]...)
	res.Logits = append(res.Logits[:0], logits[:n*k]...)
	if cap(res.Score) < n {
		res.Score = make([]float64, n)
	}
	res.Score = res.Score[:n]
	if cap(res.Time) < n {
		res.Time = make([]int, n)
	}
	res.Time = res.Time[:n]
	off := 0.0
	if call.key.crit == critConfidentWrong {
		off = 1
	}
	for i := 0; i < n; i++ {
		res.Time[i] = int(times[i])
		res.Score[i] = math.NaN()
		if times[i] >= 0 && call.key.crit != critNone {
			res.Score[i] = off + float64(val[i])
		}
	}
	res.Steps = steps
	return nil
}

// searchGraph holds the nodes of a search program while it is built.
type searchGraph struct {
	e          *Executor
	key        searchKey
	n          int
	w          map[string]*Node // weights
	lo, hi     *Node
	origin     *Node
	step       *Node
	beta1      *Node
	beta2      *Node
	epsilon    *Node
	distance   *Node
	lambda     *Node
	threshold  *Node
	lossArgs   []*Node
	critArgs   []*Node
	lossSpec   lossSpec
	critSpec   critSpec
	u, m, v    *Node
	best       *Node
	bestLogits *Node
	bestVal    *Node
	bestTime   *Node
}

// buildSearch builds a program of steps steps (0: judge the last point).
// Its parameters are the state, the constants and the per-call inputs in
// the order searchSteps passes them; its outputs the new state, then (for
// steps > 0) an int32 flag that every loss was finite and, with
// KeepFirstAbove, the rows' frozen flags.
func (e *Executor) buildSearch(g *Graph, w map[string]*Node, key searchKey, n, steps int, s *engine.Search) []*Node {
	k := e.model.Graph.Classes
	xs, vecF := e.inputShape(n), shapes.Make(dtypes.Float32, n)
	scalar := func(name string) *Node { return Parameter(g, name, shapes.Make(dtypes.Float32)) }
	sg := &searchGraph{e: e, key: key, n: n, w: w}
	sg.u = Parameter(g, "u", xs)
	if key.adam {
		sg.m, sg.v = Parameter(g, "adam_m", xs), Parameter(g, "adam_v", xs)
	}
	sg.best = Parameter(g, "best", xs)
	sg.bestLogits = Parameter(g, "best_logits", shapes.Make(dtypes.Float32, n, k))
	sg.bestVal = Parameter(g, "best_value", vecF)
	sg.bestTime = Parameter(g, "best_time", shapes.Make(dtypes.Int32, n))
	sg.lo, sg.hi = Parameter(g, "lo", xs), Parameter(g, "hi", xs)
	if key.penalty >= 0 || key.distance {
		sg.origin = Parameter(g, "origin", xs)
	}
	if !key.adam {
		sg.step = Parameter(g, "step", vecF)
	} else {
		sg.beta1, sg.beta2, sg.epsilon = scalar("beta1"), scalar("beta2"), scalar("epsilon")
		if key.distance {
			sg.distance = scalar("distance")
		}
	}
	if key.penalty >= 0 {
		sg.lambda = scalar("lambda")
	}
	if key.rule == engine.KeepFirstAbove {
		sg.threshold = scalar("threshold")
	}
	sg.lossSpec = lossSpec{kind: key.loss}
	sg.lossArgs = sg.lossSpec.parameters(g, n, k)
	sg.critSpec = critSpec{kind: key.crit, loss: lossSpec{kind: key.critLoss}}
	switch key.crit {
	case critConfidentWrong, critWrongConf:
		sg.critArgs = []*Node{Parameter(g, "crit/labels", shapes.Make(dtypes.Int32, n))}
	case critLoss:
		sg.critArgs = sg.critSpec.loss.parametersNamed(g, "crit", n, k)
	}
	t0 := Parameter(g, "t0", shapes.Make(dtypes.Int32))
	var rates *Node
	if key.adam && steps > 0 {
		rates = Parameter(g, "rates", shapes.Make(dtypes.Float32, steps))
	}
	state := func() []*Node {
		out := []*Node{sg.u}
		if key.adam {
			out = append(out, sg.m, sg.v)
		}
		return append(out, sg.best, sg.bestLogits, sg.bestVal, sg.bestTime)
	}
	if steps == 0 {
		// Only the kept rows are outputs: an output aliasing an input
		// parameter (u, m, v) would share its buffer.
		z, _ := sg.point()
		sg.keep(z, StopGradient(sg.forward(z)), t0)
		return []*Node{sg.best, sg.bestLogits, sg.bestVal, sg.bestTime}
	}
	finite := Const(g, true)
	for j := 0; j < steps; j++ {
		z, th := sg.point()
		logits := sg.forward(z)
		l := sg.lossSpec.build(logits, sg.lossArgs)
		finite = LogicalAnd(finite, LogicalAll(IsFinite(l)))
		grad := Gradient(ReduceAllSum(l), z)[0]
		t := AddScalar(t0, float64(j))
		sg.keep(z, StopGradient(logits), t)
		if key.adam {
			sg.adamStep(z, th, grad, Reshape(Slice(rates, AxisElem(j))))
		} else {
			sg.signStep(grad)
		}
	}
	out := append(state(), ConvertDType(finite, dtypes.Int32))
	if key.rule == engine.KeepFirstAbove {
		out = append(out, ConvertDType(sg.frozen(), dtypes.Int32))
	}
	return out
}

// forward returns the float32 logits of z in the search precision.
func (sg *searchGraph) forward(z *Node) *Node { return sg.e.attackForward(z, sg.n, sg.w) }

// point returns the current point z (and tanh(w) for Adam).
func (sg *searchGraph) point() (z, th *Node) {
	if !sg.key.adam {
		return sg.u, nil
	}
	ctr := DivScalar(Add(sg.lo, sg.hi), 2)
	rad := DivScalar(Sub(sg.hi, sg.lo), 2)
	th = Tanh(sg.u)
	return Min(Max(Add(ctr, Mul(rad, th)), sg.lo), sg.hi), th
}

// rows reshapes x [n, H, W, C] to [n, d].
func (sg *searchGraph) rows(x *Node) *Node { return Reshape(x, sg.n, sg.e.inputSize) }

// diff64 returns z − x per row [n, d] in float64, where the difference of
// two float32 values is exact, as the host computes it: the first
// coordinate of largest |z_j − x_j| is then the same one (sign steps make
// many coordinates tie exactly).
func (sg *searchGraph) diff64(z *Node) *Node {
	return sg.rows(Sub(ConvertDType(z, dtypes.Float64), ConvertDType(sg.origin, dtypes.Float64)))
}

// dist returns |z − x| per row [n] in the penalty's norm (float32, computed
// in float64).
func (sg *searchGraph) dist(z *Node) *Node {
	diff := sg.diff64(z)
	if sg.key.penalty == int8(engine.Norm2) {
		return ConvertDType(Sqrt(ReduceSum(Square(diff), -1)), dtypes.Float32)
	}
	return ConvertDType(ReduceMax(Abs(diff), -1), dtypes.Float32)
}

// criterion returns the value kept per row [n] of z with logits.
func (sg *searchGraph) criterion(z, logits *Node) *Node {
	k := logits.Shape().Dimensions[1]
	var v *Node
	switch sg.key.crit {
	case critNone:
		return Zeros(z.Graph(), shapes.Make(dtypes.Float32, sg.n))
	case critLoss:
		v = sg.critSpec.loss.build(logits, sg.critArgs)
	case critConfidentWrong:
		conf := ReduceMax(Softmax(logits, -1), -1)
		pred := ArgMax(logits, -1, dtypes.Int32)
		v = Where(NotEqual(pred, sg.critArgs[0]), conf, Neg(conf))
	case critWrongConf:
		p := Softmax(logits, -1)
		isLabel := GreaterThan(OneHot(sg.critArgs[0], k, dtypes.Float32), ZerosLike(p))
		v = ReduceMax(Where(isLabel, Neg(OnesLike(p)), p), -1)
	}
	if sg.key.keepPen && sg.key.penalty >= 0 {
		v = Sub(v, Mul(BroadcastToShape(sg.lambda, v.Shape()), sg.dist(z)))
	}
	return v
}

// frozen returns, for KeepFirstAbove, whether each row's kept value reached
// the threshold.
func (sg *searchGraph) frozen() *Node {
	has := GreaterOrEqual(sg.bestTime, ZerosLike(sg.bestTime))
	return LogicalAnd(has, GreaterOrEqual(sg.bestVal, BroadcastToShape(sg.threshold, sg.bestVal.Shape())))
}

// keep applies the keep rule to the point z with logits at step t.
func (sg *searchGraph) keep(z, logits, t *Node) {
	v := sg.criterion(z, logits)
	var better *Node
	if sg.key.rule == engine.KeepLast {
		better = BroadcastToShape(Const(z.Graph(), true), v.Shape())
	} else {
		none := LessThan(sg.bestTime, ZerosLike(sg.bestTime))
		better = LogicalAnd(LogicalNot(IsNaN(v)), LogicalOr(none, GreaterThan(v, sg.bestVal)))
		if sg.key.rule == engine.KeepFirstAbove {
			better = LogicalAnd(better, LogicalNot(sg.frozen()))
		}
	}
	sg.best = Where(better, z, sg.best)
	sg.bestLogits = Where(better, logits, sg.bestLogits)
	sg.bestVal = Where(better, v, sg.bestVal)
	sg.bestTime = Where(better, BroadcastToShape(t, sg.bestTime.Shape()), sg.bestTime)
}

// signStep applies z ← clamp(z + step·sign(g − λ·∂|z − x|), lo, hi).
func (sg *searchGraph) signStep(grad *Node) {
	z := sg.u
	if sg.key.penalty >= 0 {
		grad = Sub(grad, sg.penaltyGrad(z))
	}
	step := Reshape(sg.step, sg.n, 1, 1, 1)
	sg.u = Min(Max(Add(z, Mul(Sign(grad), step)), sg.lo), sg.hi)
}

// penaltyGrad returns λ·∂|z − x|/∂z as the host computes it: for ℓ∞ the
// sign of z_j − x_j at the first coordinate of largest |z_j − x_j|, for ℓ2
// (z − x)/|z − x|₂, zero at z = x.
func (sg *searchGraph) penaltyGrad(z *Node) *Node {
	d := sg.e.inputSize
	diff := sg.diff64(z)
	var gp *Node
	if sg.key.penalty == int8(engine.Norm2) {
		dist := Sqrt(ReduceSum(Square(diff), -1))
		pos := GreaterThan(dist, ZerosLike(dist))
		safe := Reshape(Where(pos, dist, OnesLike(dist)), sg.n, 1)
		lambda := BroadcastToShape(ConvertDType(sg.lambda, dtypes.Float64), diff.Shape())
		gp = ConvertDType(Where(pos, Mul(lambda, Div(diff, safe)), ZerosLike(diff)), dtypes.Float32)
	} else {
		a := Abs(diff)
		arg := ArgMax(a, -1, dtypes.Int32)
		pos := GreaterThan(ReduceMax(a, -1), Zeros(z.Graph(), shapes.Make(dtypes.Float64, sg.n)))
		sign := ConvertDType(Sign(diff), dtypes.Float32)
		lambda := BroadcastToShape(sg.lambda, sign.Shape())
		gp = Where(pos, Mul(lambda, Mul(OneHot(arg, d, dtypes.Float32), sign)), Zeros(z.Graph(), sign.Shape()))
	}
	return Reshape(gp, z.Shape().Dimensions...)
}

// adamStep applies one Adam update with step rate (see engine.Adam).
func (sg *searchGraph) adamStep(z, th, grad, rate *Node) {
	gz := grad
	if sg.key.distance {
		gz = Add(gz, Mul(MulScalar(BroadcastToShape(sg.distance, z.Shape()), 2), Sub(z, sg.origin)))
	}
	rad := DivScalar(Sub(sg.hi, sg.lo), 2)
	gw := Mul(gz, Mul(rad, OneMinus(Square(th))))
	b := func(v *Node) *Node { return BroadcastToShape(v, z.Shape()) }
	b1, b2 := b(sg.beta1), b(sg.beta2)
	sg.m = Add(Mul(b1, sg.m), Mul(OneMinus(b1), gw))
	sg.v = Add(Mul(b2, sg.v), Mul(OneMinus(b2), Square(gw)))
	upd := Div(sg.m, Add(Sqrt(sg.v), b(sg.epsilon)))
	sg.u = Sub(sg.u, Mul(b(rate), upd))
}
