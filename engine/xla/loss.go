package xla

import (
	"fmt"
	"math"

	"confrobust/engine"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // GoMLX graph code reads best unqualified.
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// lossKind is a loss of package engine computed inside a compiled program.
type lossKind uint8

const (
	lossHost lossKind = iota // any engine.Loss, evaluated on the host
	lossCrossEntropy
	lossTargetLogProb
	lossCWMargin
	lossCWMarginTargeted
	lossLogitWeights
	lossProb    // engine.Prob
	lossShannon // engine.NegEntropy, α = 1
	lossRenyi   // engine.NegEntropy, α ≠ 1
	lossHinge   // engine.ConfidenceHinge
)

// lossSpec is a recognised engine loss with its per-call arguments.
type lossSpec struct {
	kind   lossKind
	labels []int32
	param  float32 // CWMargin's κ, NegEntropy's α, ConfidenceHinge's threshold
	w      []float32
}

// graphLoss recognises the loss types of package engine. It returns ok =
// false for other losses (computed on the host), and an error for a
// recognised loss whose arguments do not fit n examples of c classes.
func graphLoss(l engine.Loss, n, c int) (spec lossSpec, ok bool, err error) {
	labels := func(name string, ls []int) ([]int32, error) { return spec.labelsOf(name, ls, n, c) }
	switch v := l.(type) {
	case *engine.CrossEntropy:
		if v == nil {
			return spec, false, nil
		}
		return graphLoss(*v, n, c)
	case *engine.TargetLogProb:
		if v == nil {
			return spec, false, nil
		}
		return graphLoss(*v, n, c)
	case *engine.CWMargin:
		if v == nil {
			return spec, false, nil
		}
		return graphLoss(*v, n, c)
	case *engine.LogitWeights:
		if v == nil {
			return spec, false, nil
		}
		return graphLoss(*v, n, c)
	case *engine.Prob:
		if v == nil {
			return spec, false, nil
		}
		return graphLoss(*v, n, c)
	case *engine.NegEntropy:
		if v == nil {
			return spec, false, nil
		}
		return graphLoss(*v, n, c)
	case *engine.ConfidenceHinge:
		if v == nil {
			return spec, false, nil
		}
		return graphLoss(*v, n, c)
	case engine.Prob:
		spec.kind = lossProb
		spec.labels, err = labels("probability", v.Labels)
	case engine.NegEntropy:
		if !(v.Alpha > 0) || math.IsInf(v.Alpha, 0) {
			return spec, false, fmt.Errorf("engine/xla: entropy α = %v, want a finite α > 0", v.Alpha)
		}
		spec.kind, spec.param = lossRenyi, float32(v.Alpha)
		if v.Alpha == 1 {
			spec.kind = lossShannon
		}
	case engine.ConfidenceHinge:
		spec.kind, spec.param = lossHinge, float32(v.Threshold)
		spec.labels, err = labels("confidence hinge", v.Targets)
	case engine.CrossEntropy:
		spec.kind = lossCrossEntropy
		spec.labels, err = labels("cross-entropy", v.Labels)
	case engine.TargetLogProb:
		spec.kind = lossTargetLogProb
		spec.labels, err = labels("target log-probability", v.Targets)
	case engine.CWMargin:
		spec.kind, spec.param = lossCWMargin, v.Kappa
		if v.Targeted {
			spec.kind = lossCWMarginTargeted
		}
		spec.labels, err = labels("CW margin", v.Labels)
	case engine.LogitWeights:
		if len(v.W) < n*c {
			return spec, false, fmt.Errorf("engine/xla: logit weights have %d values, want %d", len(v.W), n*c)
		}
		spec.kind, spec.w = lossLogitWeights, v.W[:n*c]
	default:
		return spec, false, nil
	}
	return spec, err == nil, err
}

// labelsOf checks n labels of c classes and converts them to int32.
func (lossSpec) labelsOf(name string, ls []int, n, c int) ([]int32, error) {
	if len(ls) < n {
		return nil, fmt.Errorf("engine/xla: %s has %d labels for %d examples", name, len(ls), n)
	}
	out := make([]int32, n)
	for i, y := range ls[:n] {
		if y < 0 || y >= c {
			return nil, fmt.Errorf("engine/xla: %s label %d of example %d is outside [0, %d)", name, y, i, c)
		}
		out[i] = int32(y)
	}
	return out, nil
}

// parameters creates the loss's graph inputs, matching inputs.
func (s lossSpec) parameters(g *Graph, n, c int) []*Node { return s.parametersNamed(g, "loss", n, c) }

// parametersNamed is parameters with the names under prefix.
func (s lossSpec) parametersNamed(g *Graph, prefix string, n, c int) []*Node {
	var out []*Node
	switch s.kind {
	case lossLogitWeights:
		return []*Node{Parameter(g, prefix+"/w", shapes.Make(dtypes.Float32, n, c))}
	case lossShannon:
		return nil
	case lossRenyi:
	default:
		out = append(out, Parameter(g, prefix+"/labels", shapes.Make(dtypes.Int32, n)))
	}
	if s.hasParam() {
		out = append(out, Parameter(g, prefix+"/param", shapes.Make(dtypes.Float32)))
	}
	return out
}

// hasParam reports whether the loss takes its scalar param.
func (s lossSpec) hasParam() bool {
	switch s.kind {
	case lossCWMargin, lossCWMarginTargeted, lossRenyi, lossHinge:
		return true
	}
	return false
}

// inputs returns the values of the loss's graph inputs.
func (s lossSpec) inputs(n, c int) []input {
	var out []input
	switch s.kind {
	case lossLogitWeights:
		return []input{{flat: s.w, shape: shapes.Make(dtypes.Float32, n, c)}}
	case lossShannon:
		return nil
	case lossRenyi:
	default:
		out = append(out, input{flat: s.labels, shape: shapes.Make(dtypes.Int32, n)})
	}
	if s.hasParam() {
		out = append(out, input{flat: []float32{s.param}, shape: shapes.Make(dtypes.Float32)})
	}
	return out
}

// logSumExp returns log Σ_j exp(v_j) over the last axis of v [n, c], with
// the maximum taken without gradient.
func logSumExp(v *Node) *Node {
	m := StopGradient(ReduceAndKeep(v, ReduceMax, -1))
	return Add(Reshape(m, v.Shape().Dimensions[0]), Log(ReduceSum(Exp(Sub(v, m)), -1)))
}

// build returns the per-example losses [n] of logits [n, c], with the same
// definitions (and the same zero gradient in CWMargin's clipped region,
// min(m, Kappa), and ConfidenceHinge's zero region, and the same first-index
// tie-breaking) as the host code in package engine.
func (s lossSpec) build(z *Node, args []*Node) *Node {
	n, c := z.Shape().Dimensions[0], z.Shape().Dimensions[1]
	param := func() *Node { return args[len(args)-1] }
	switch s.kind {
	case lossLogitWeights:
		return ReduceSum(Mul(z, args[0]), -1)
	case lossShannon:
		lp := LogSoftmax(z, -1)
		return ReduceSum(Mul(Exp(lp), lp), -1)
	case lossRenyi:
		// −H_α = (α·lse(z) − lse(αz))/(1−α).
		alpha := param()
		a := BroadcastToShape(alpha, z.Shape())
		an := BroadcastToShape(alpha, shapes.Make(z.DType(), n))
		return Div(Sub(Mul(an, logSumExp(z)), logSumExp(Mul(a, z))), OneMinus(an))
	}
	oneHot := OneHot(args[0], c, dtypes.Float32)
	pick := func(v *Node) *Node { return ReduceSum(Mul(v, oneHot), -1) }
	isLabel := GreaterThan(oneHot, ZerosLike(oneHot))
	negInf := BroadcastToShape(Infinity(z.Graph(), dtypes.Float32, -1), z.Shape())
	switch s.kind {
	case lossCrossEntropy:
		return Neg(pick(LogSoftmax(z, -1)))
	case lossTargetLogProb:
		return pick(LogSoftmax(z, -1))
	case lossProb:
		return pick(Softmax(z, -1))
	case lossHinge:
		// max(0, θ − (z_t − logsumexp_{j≠t} z_j)), zero gradient at ≤ 0.
		f := Sub(BroadcastToShape(param(), shapes.Make(z.DType(), n)), Sub(pick(z), logSumExp(Where(isLabel, negInf, z))))
		return Where(GreaterThan(f, ZerosLike(f)), f, ZerosLike(f))
	}
	// CW margin: the best other label is chosen without gradient (ArgMax
	// picks the first of ties, as the host loop does).
	others := Where(isLabel, negInf, z)
	best := ArgMax(StopGradient(others), -1)
	m := Sub(ReduceSum(Mul(z, OneHot(best, c, dtypes.Float32)), -1), pick(z))
	if s.kind == lossCWMarginTargeted {
		m = Neg(m)
	}
	// min(m, Kappa) with zero gradient where m > Kappa, as the host code.
	kappa := BroadcastToShape(param(), m.Shape())
	return Where(GreaterThan(m, kappa), kappa, m)
}

// padLoss returns loss for a batch of n real rows padded to m: package
// engine's losses get label 0 and zero weights on the padding; other losses
// are evaluated on the real rows only, with zero loss and gradient on the
// padding.
func padLoss(l engine.Loss, n, m, c int) (engine.Loss, error) {
	if _, ok, err := graphLoss(l, n, c); err != nil {
		return nil, err
	} else if !ok {
		if l == nil {
			return nil, fmt.Errorf("engine/xla: nil loss")
		}
		return paddedHostLoss{l, n}, nil
	}
	labels := func(ls []int) []int { return padded(ls, n, m, 1) }
	switch v := l.(type) {
	case *engine.CrossEntropy:
		return engine.CrossEntropy{Labels: labels(v.Labels)}, nil
	case *engine.TargetLogProb:
		return engine.TargetLogProb{Targets: labels(v.Targets)}, nil
	case *engine.CWMargin:
		return engine.CWMargin{Labels: labels(v.Labels), Kappa: v.Kappa, Targeted: v.Targeted}, nil
	case *engine.LogitWeights:
		return engine.LogitWeights{W: padded(v.W, n, m, c)}, nil
	case *engine.Prob:
		return engine.Prob{Labels: labels(v.Labels)}, nil
	case *engine.NegEntropy:
		return *v, nil
	case *engine.ConfidenceHinge:
		return engine.ConfidenceHinge{Targets: labels(v.Targets), Threshold: v.Threshold}, nil
	case engine.Prob:
		return engine.Prob{Labels: labels(v.Labels)}, nil
	case engine.NegEntropy:
		return v, nil
	case engine.ConfidenceHinge:
		return engine.ConfidenceHinge{Targets: labels(v.Targets), Threshold: v.Threshold}, nil
	case engine.CrossEntropy:
		return engine.CrossEntropy{Labels: labels(v.Labels)}, nil
	case engine.TargetLogProb:
		return engine.TargetLogProb{Targets: labels(v.Targets)}, nil
	case engine.CWMargin:
		return engine.CWMargin{Labels: labels(v.Labels), Kappa: v.Kappa, Targeted: v.Targeted}, nil
	case engine.LogitWeights:
		return engine.LogitWeights{W: padded(v.W, n, m, c)}, nil
	}
	return nil, fmt.Errorf("engine/xla: cannot pad loss %T", l)
}

// paddedHostLoss evaluates a host-side loss on the first n rows of a padded
// batch; the padding gets zero loss and zero gradient.
type paddedHostLoss struct {
	engine.Loss
	n int
}

// Eval implements engine.Loss.
func (l paddedHostLoss) Eval(losses, grad, logits []float32, m, classes int) {
	l.Loss.Eval(losses[:l.n], grad[:l.n*classes], logits[:l.n*classes], l.n, classes)
	clear(losses[l.n:m])
	clear(grad[l.n*classes : m*classes])
}
