package xla

import (
	"context"
	"fmt"

	"confrobust/engine"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // GoMLX graph code reads best unqualified.
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// DefaultUnroll is the number of PGD steps compiled into one program when
// PGDConfig.Unroll is zero.
const DefaultUnroll = 10

// PGDConfig configures Executor.PGD: Steps iterations of
//
//	x ← clip(x + StepSize·sign(∇ₓ Σᵢ lossᵢ(x)), [x0 − Eps, x0 + Eps] ∩ [0, 1])
//
// from a given start, ascending Loss, while keeping for each example the
// best iterate by the paper's criterion: the most confident misclassified
// iterate if there is one, else the correctly classified iterate of lowest
// confidence (attack.KeepConfidentWrong).
type PGDConfig struct {
	// Loss is the objective ascended: one of package engine's losses
	// (CrossEntropy, TargetLogProb, CWMargin, LogitWeights), evaluated in
	// the compiled program. Other losses are an error (use InputGrad).
	Loss engine.Loss
	// Labels are the true labels: an iterate is adversarial when its
	// predicted label (argmax of the logits) differs from Labels[i].
	Labels []int
	// Eps is the ℓ∞ radius around x0, on the [0,1] pixel scale.
	Eps float32
	// StepSize is the step of the sign-gradient ascent.
	StepSize float32
	// Steps is the number of gradient steps; Steps+1 iterates (the start
	// and every step's result) are candidates for the best example. Zero
	// only evaluates the start.
	Steps int
	// Unroll is the number of steps compiled into one program (GoMLX
	// v0.26.0 has no While loop); the state stays on the device between
	// programs. Zero means the executor's default (WithUnroll, else
	// DefaultUnroll), capped at Steps. Larger values cost compile time and
	// save per-call overhead.
	Unroll int
	// Continue starts the bookkeeping from the best iterate already in the
	// PGDResult (Best, BestConf, BestLabel from an earlier call on the same
	// inputs, such as a previous random restart) instead of from nothing.
	Continue bool
}

// PGDResult is the outcome of Executor.PGD for n examples. Slices are
// allocated on first use and reused when large enough.
type PGDResult struct {
	X         []float32 // the final iterate, n·H·W·C
	Best      []float32 // the best iterate (see PGDConfig), n·H·W·C
	BestConf  []float32 // its confidence ||F(Best)||∞, the largest softmax probability
	BestLabel []int     // its predicted label; misclassified when ≠ Labels[i]
	Compiles  int       // programs compiled by this call (0 when all were cached)
}

// PGD runs projected gradient ascent on the n examples x0 starting at start
// (equal to x0, or a random point of the ball chosen by the caller), as
// compiled programs of Unroll steps each: the gradient, the sign step, the
// projection onto the ℓ∞ ball and the [0,1] box, and the bookkeeping of the
// best iterate all run on the device; only the
// results are copied back. The context is checked between programs; on
// cancellation PGD returns the context's error and res is not written.
func (e *Executor) PGD(ctx context.Context, res *PGDResult, x0, start []float32, n int, cfg PGDConfig) error {
	m := e.bucket(n)
	if m == n {
		return e.pgd(ctx, res, x0, start, n, cfg)
	}
	c, size := e.model.Graph.Classes, e.inputSize
	if err := e.checkBatch("pgd", n, x0, namedSlice{"start", start, n * size}); err != nil {
		return err
	}
	if len(start) < n*size {
		return fmt.Errorf("engine/xla: pgd: start has %d values, want %d", len(start), n*size)
	}
	if _, ok, err := graphLoss(cfg.Loss, n, c); err != nil {
		return err
	} else if !ok {
		return fmt.Errorf("engine/xla: pgd: loss %T is not one of package engine's losses", cfg.Loss)
	}
	if _, err := (lossSpec{}).labelsOf("true", cfg.Labels, n, c); err != nil {
		return err
	}
	pcfg := cfg
	var err error
	if pcfg.Loss, err = padLoss(cfg.Loss, n, m, c); err != nil {
		return err
	}
	pcfg.Labels = padded(cfg.Labels, n, m, 1)
	var pres PGDResult
	if cfg.Continue {
		if len(res.Best) < n*size || len(res.BestConf) < n || len(res.BestLabel) < n {
			return fmt.Errorf("engine/xla: pgd: Continue needs a result of %d examples, have %d best values, %d confidences, %d labels",
				n, len(res.Best), len(res.BestConf), len(res.BestLabel))
		}
		pres.Best, pres.BestConf, pres.BestLabel = padded(res.Best, n, m, size), padded(res.BestConf, n, m, 1), padded(res.BestLabel, n, m, 1)
	}
	if err := e.pgd(ctx, &pres, padded(x0, n, m, size), padded(start, n, m, size), m, pcfg); err != nil {
		return err
	}
	res.X = append(grow(res.X, n*size)[:0], pres.X[:n*size]...)
	res.Best = append(grow(res.Best, n*size)[:0], pres.Best[:n*size]...)
	res.BestConf = append(grow(res.BestConf, n)[:0], pres.BestConf[:n]...)
	if cap(res.BestLabel) < n {
		res.BestLabel = make([]int, n)
	}
	res.BestLabel = append(res.BestLabel[:0], pres.BestLabel[:n]...)
	res.Compiles = pres.Compiles
	return nil
}

func (e *Executor) pgd(ctx context.Context, res *PGDResult, x0, start []float32, n int, cfg PGDConfig) error {
	c, size := e.model.Graph.Classes, e.inputSize
	if err := e.checkBatch("pgd", n, x0, namedSlice{"start", start, n * size}); err != nil {
		return err
	}
	if len(start) < n*size {
		return fmt.Errorf("engine/xla: pgd: start has %d values, want %d", len(start), n*size)
	}
	switch {
	case cfg.Steps < 0 || cfg.Unroll < 0:
		return fmt.Errorf("engine/xla: pgd: negative steps %d or unroll %d", cfg.Steps, cfg.Unroll)
	case !(cfg.Eps >= 0) || !(cfg.StepSize >= 0):
		return fmt.Errorf("engine/xla: pgd: eps %v and step size %v must be non-negative", cfg.Eps, cfg.StepSize)
	}
	spec, ok, err := graphLoss(cfg.Loss, n, c)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("engine/xla: pgd: loss %T is not one of package engine's losses", cfg.Loss)
	}
	truth, err := (lossSpec{}).labelsOf("true", cfg.Labels, n, c)
	if err != nil {
		return err
	}
	unroll := cfg.Unroll
	if unroll == 0 {
		unroll = min(cfg.Steps, e.unroll)
	}
	compiles := e.compiles

	xShape := e.inputShape(n)
	vecF, vecI := shapes.Make(dtypes.Float32, n), shapes.Make(dtypes.Int32, n)
	// State on the device: x, best, bestConf, bestLabel.
	state := make([]*tensors.Tensor, 4)
	defer func() { finalizeAll(state) }()
	up := func(flat any, s shapes.Shape) (*tensors.Tensor, error) {
		b, err := e.backend.BufferFromFlatData(0, flat, s)
		if err != nil {
			return nil, fmt.Errorf("engine/xla: pgd: upload: %w", err)
		}
		return tensors.FromBuffer(e.backend, b)
	}
	if state[0], err = up(start[:n*size], xShape); err != nil {
		return err
	}
	best, bestConf, bestLabel := start[:n*size], make([]float32, n), make([]int32, n)
	for i := range bestLabel {
		bestLabel[i] = -1 // no best yet
	}
	if cfg.Continue {
		if len(res.Best) < n*size || len(res.BestConf) < n || len(res.BestLabel) < n {
			return fmt.Errorf("engine/xla: pgd: Continue needs a result of %d examples, have %d best values, %d confidences, %d labels",
				n, len(res.Best), len(res.BestConf), len(res.BestLabel))
		}
		best, bestConf = res.Best[:n*size], res.BestConf[:n]
		for i, l := range res.BestLabel[:n] {
			if l < -1 || l >= c {
				return fmt.Errorf("engine/xla: pgd: Continue: best label %d of example %d is outside [-1, %d)", l, i, c)
			}
			bestLabel[i] = int32(l)
		}
	}
	if state[1], err = up(best, xShape); err != nil {
		return err
	}
	if state[2], err = up(bestConf, vecF); err != nil {
		return err
	}
	if state[3], err = up(bestLabel, vecI); err != nil {
		return err
	}
	x0t, err := up(x0[:n*size], xShape)
	if err != nil {
		return err
	}
	defer x0t.FinalizeAll()
	truthT, err := up(truth, vecI)
	if err != nil {
		return err
	}
	defer truthT.FinalizeAll()

	for done := 0; done < cfg.Steps; {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("engine/xla: pgd: after %d of %d steps: %w", done, cfg.Steps, err)
		}
		k := min(unroll, cfg.Steps-done)
		p, err := e.compile(progKey{kind: progPGD, n: n, loss: spec.kind, steps: k}, func(g *Graph, w map[string]*Node) []*Node {
			x0 := Parameter(g, "x0", xShape)
			st := e.pgdState(g, n)
			labels := Parameter(g, "labels", vecI)
			eps := Parameter(g, "eps", shapes.Make(dtypes.Float32))
			step := Parameter(g, "step", shapes.Make(dtypes.Float32))
			args := spec.parameters(g, n, c)
			lo := MaxScalar(Sub(x0, eps), 0)
			hi := MinScalar(Add(x0, eps), 1)
			for t := 0; t < k; t++ {
				z := e.forward(st[0], n, w)
				grad := Gradient(ReduceAllSum(spec.build(z, args)), st[0])[0]
				st = keepBest(st, z, labels)
				st[0] = Min(Max(Add(st[0], Mul(Sign(grad), step)), lo), hi)
			}
			return st
		})
		if err != nil {
			return err
		}
		in := []input{{t: x0t}, {t: state[0]}, {t: state[1]}, {t: state[2]}, {t: state[3]}, {t: truthT},
			{flat: []float32{cfg.Eps}, shape: shapes.Make(dtypes.Float32)},
			{flat: []float32{cfg.StepSize}, shape: shapes.Make(dtypes.Float32)}}
		outs, err := e.run(p, append(in, spec.inputs(n, c)...))
		if err != nil {
			return err
		}
		finalizeAll(state)
		copy(state, outs)
		done += k
	}
	// The last iterate is a candidate too.
	p, err := e.compile(progKey{kind: progPGDFinal, n: n}, func(g *Graph, w map[string]*Node) []*Node {
		st := e.pgdState(g, n)
		labels := Parameter(g, "labels", vecI)
		// x itself is not an output: an output aliasing an input parameter
		// would share its buffer.
		return keepBest(st, e.forward(st[0], n, w), labels)[1:]
	})
	if err != nil {
		return err
	}
	outs, err := e.run(p, []input{{t: state[0]}, {t: state[1]}, {t: state[2]}, {t: state[3]}, {t: truthT}})
	if err != nil {
		return err
	}
	finalizeAll(state[1:])
	copy(state[1:], outs)

	res.X = grow(res.X, n*size)
	res.Best = grow(res.Best, n*size)
	res.BestConf = grow(res.BestConf, n)
	labels := make([]int32, n)
	for i, dst := range []any{res.X, res.Best, res.BestConf, labels} {
		if err := e.fetch(state[i], dst); err != nil {
			return err
		}
		state[i] = nil
	}
	if cap(res.BestLabel) < n {
		res.BestLabel = make([]int, n)
	}
	res.BestLabel = res.BestLabel[:n]
	for i, l := range labels {
		res.BestLabel[i] = int(l)
	}
	res.Compiles = e.compiles - compiles
	return nil
}

// pgdState creates the parameters x, best, bestConf, bestLabel.
func (e *Executor) pgdState(g *Graph, n int) []*Node {
	return []*Node{
		Parameter(g, "x", e.inputShape(n)),
		Parameter(g, "best", e.inputShape(n)),
		Parameter(g, "best_conf", shapes.Make(dtypes.Float32, n)),
		Parameter(g, "best_label", shapes.Make(dtypes.Int32, n)),
	}
}

// keepBest replaces the best example of each row by the iterate x = st[0]
// with logits z when x is better by the paper's criterion (attack's
// KeepConfidentWrong): a misclassified iterate beats a correctly classified
// one; among misclassified ones the higher confidence ||F(x)||∞ wins, among
// correct ones the lower; ties keep the earlier iterate. A row without a best
// yet (label −1) takes any iterate.
func keepBest(st []*Node, z, labels *Node) []*Node {
	z = StopGradient(z)
	conf := ReduceMax(Softmax(z, -1), -1)
	pred := ArgMax(z, -1, dtypes.Int32)
	bestConf, bestLabel := st[2], st[3]
	none := LessThan(bestLabel, ZerosLike(bestLabel))
	wrong := NotEqual(pred, labels)
	bestWrong := LogicalAnd(LogicalNot(none), NotEqual(bestLabel, labels))
	sameKind := Equal(ConvertDType(wrong, dtypes.Int32), ConvertDType(bestWrong, dtypes.Int32))
	improves := Where(wrong, GreaterThan(conf, bestConf), LessThan(conf, bestConf))
	better := LogicalOr(none, LogicalOr(LogicalAnd(wrong, LogicalNot(bestWrong)), LogicalAnd(sameKind, improves)))
	return []*Node{st[0], Where(better, st[0], st[1]), Where(better, conf, bestConf), Where(better, pred, bestLabel)}
}

// RunPGD is PGD with arguments of package engine and the standard library
// only, so that packages which must not import engine/xla (attack) can reach
// it through an interface of their own:
//
//	type pgdRunner interface {
//		RunPGD(ctx context.Context, x, best, bestConf []float32, bestLabel []int,
//			x0 []float32, n int, loss engine.Loss, labels []int, eps, stepSize float32, steps int) error
//	}
//
// x holds the start on entry and the final iterate on return; best (n·H·W·C),
// bestConf and bestLabel (n each) receive the best iterate (the most
// confident misclassified one, else the least confident correct one), its
// confidence and its predicted label.
// Steps per compiled program are the executor's default (WithUnroll).
func (e *Executor) RunPGD(ctx context.Context, x, best, bestConf []float32, bestLabel []int,
	x0 []float32, n int, loss engine.Loss, labels []int, eps, stepSize float32, steps int) error {
	size := e.inputSize
	switch {
	case n <= 0:
		return fmt.Errorf("engine/xla: pgd: batch size %d, want > 0", n)
	case len(x) < n*size || len(best) < n*size:
		return fmt.Errorf("engine/xla: pgd: x has %d and best %d values, want %d", len(x), len(best), n*size)
	case len(bestConf) < n || len(bestLabel) < n:
		return fmt.Errorf("engine/xla: pgd: bestConf has %d and bestLabel %d values, want %d", len(bestConf), len(bestLabel), n)
	}
	res := PGDResult{X: x[:n*size], Best: best[:n*size], BestConf: bestConf[:n], BestLabel: bestLabel[:n]}
	return e.PGD(ctx, &res, x0, x, n, PGDConfig{Loss: loss, Labels: labels, Eps: eps, StepSize: stepSize, Steps: steps})
}
