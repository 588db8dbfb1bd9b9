package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
)

// Searcher is an optional interface of an Executor: it runs a whole
// projected search (Search) on the executor's device, the steps, the
// projection and the choice of the point kept per row included, with the
// state kept on the device between steps and only the kept points copied
// back. Package attack hands a search to it when the executor has it and
// recognises the search's loss and criterion, and steps through InputGrad
// otherwise; both ways give the same points up to float rounding.
//
// RunSearch is the definition of a search's semantics, on any Executor.
type Searcher interface {
	// Search runs s and writes its outcome into res. It returns an error
	// wrapping ErrUnsupported, before any work, when it cannot run s (a
	// loss or criterion it does not recognise); an error wrapping ctx.Err()
	// when the context ends between steps; the error of s.Progress when that
	// returns one; and an error wrapping ErrNotFinite when a loss becomes
	// NaN or Inf. res is complete only when Search returns nil.
	Search(ctx context.Context, res *SearchResult, s *Search) error
}

// ErrUnsupported is returned (wrapped) by Searcher.Search for a search the
// executor cannot run; the caller runs it through InputGrad instead.
var ErrUnsupported = errors.New("engine: search not supported by the executor")

// ErrNotFinite is returned (wrapped) when a search's loss becomes NaN or Inf.
var ErrNotFinite = errors.New("engine: search objective is NaN or Inf")

// Search is a projected search of N rows in the input space: row i starts
// from Start_i, takes Steps gradient steps of Loss inside its box
// [Lo_i, Hi_i], and keeps one of the points z_0, …, z_Steps it visits by the
// rule Keep. Step t computes, at the point z_t, the logits (on which z_t is
// judged) and the gradient g_t of Σ_i Loss_i − Penalty_i; then:
//
//   - sign steps (Adam nil, the PGD of Madry et al.): z_{t+1} =
//     min(max(z_t + Step_i·sign(g_t), Lo_i), Hi_i), ascending Loss;
//   - Adam (Carlini and Wagner's change of variables): the variable w
//     starts at Start_i and z_t = min(max(c + r·tanh(w_t), Lo_i), Hi_i) with
//     c = (Lo+Hi)/2 and r = (Hi−Lo)/2; Adam descends Loss in w (see Adam).
//
// The last point z_Steps is judged on a forward pass of its own. Slices are
// flat: N·d values for inputs of d = H·W·C values, N for per-row values.
// Search does not modify its inputs.
type Search struct {
	// N is the number of rows (> 0).
	N int
	// Lo and Hi (N·d) bound every point of row i coordinatewise; a caller
	// rounds them inward so that the box lies in its threat model.
	Lo, Hi []float32
	// Origin (N·d) is each row's clean point x, used by Penalty and by
	// Adam.Distance; it may be nil when neither is used.
	Origin []float32
	// Start (N·d) is z_0 for sign steps (inside the box) or w_0 for Adam.
	Start []float32
	// Steps is the number of gradient steps (≥ 0).
	Steps int
	// Loss is the per-row objective: ascended by sign steps, descended by
	// Adam. Executors recognise the losses of this package (CrossEntropy,
	// TargetLogProb, CWMargin, LogitWeights, Prob, NegEntropy,
	// ConfidenceHinge) and may refuse others with ErrUnsupported.
	Loss Loss
	// Penalty, when its Lambda is positive, is subtracted from Loss (sign
	// steps only): the gradient is ∇Loss − λ·∂|z − x|.
	Penalty Penalty
	// Step (N) is each row's sign-step size; nil with Adam.
	Step []float32
	// Adam, when set, replaces sign steps by Adam in tanh space.
	Adam *Adam
	// Keep is the rule by which one point per row is kept.
	Keep Keep
	// Groups (N, optional) names each row's group, for KeepFirstAbove: the
	// search stops early once every group has a row whose kept criterion
	// reached the threshold (the rows of one input of CW). nil: never stop
	// early.
	Groups []int
	// Progress, when set, is called after every batch of steps with the
	// number of steps just run (each of N rows); an error stops the search
	// and is returned (wrapped).
	Progress func(steps int) error
}

// Penalty is the distance term λ·|z − x| that HCNN subtracts from its
// objective; its gradient is a subgradient of the norm.
type Penalty struct {
	// Lambda is λ (≥ 0); 0 means no penalty.
	Lambda float64
	// Norm is the norm |·|.
	Norm Norm
}

// Norm is the norm of a Penalty.
type Norm int

const (
	// NormInf is max_j |z_j − x_j|; its subgradient is sign(z_j − x_j) at
	// the first coordinate j of largest |z_j − x_j| (zero at z = x).
	NormInf Norm = iota
	// Norm2 is the Euclidean norm; its gradient is (z − x)/|z − x|₂ (zero at
	// z = x).
	Norm2
)

// Adam configures Adam steps in the variable w of z = c + r·tanh(w):
// m ← β1·m + (1−β1)·g_w, v ← β2·v + (1−β2)·g_w², w ← w − Rates[t]·m/(√v + ε),
// with g_w = (∂Loss/∂z + 2·Distance·(z − x))·r·(1 − tanh²w) and m = v = 0 at
// the start.
type Adam struct {
	// Rates[t] (Steps values) is the bias-corrected step of the update
	// after step t: lr·√(1−β2^(t+1))/(1−β1^(t+1)) for Adam's lr.
	Rates []float64
	// Beta1, Beta2 and Epsilon are Adam's constants.
	Beta1, Beta2, Epsilon float64
	// Distance (≥ 0) weighs the ||z − x||₂² term added to the loss.
	Distance float64
}

// KeepRule says which visited point a search keeps per row.
type KeepRule int

const (
	// KeepMax keeps the point of highest criterion; ties keep the earlier.
	KeepMax KeepRule = iota
	// KeepFirstAbove is KeepMax until the kept criterion reaches
	// Keep.Threshold; from then on the row keeps that first point (CW's
	// first p-confident point).
	KeepFirstAbove
	// KeepLast keeps the last point z_Steps.
	KeepLast
)

// Keep is the criterion by which a search keeps one point per row.
type Keep struct {
	// Rule is KeepMax (the zero value), KeepFirstAbove or KeepLast.
	Rule KeepRule
	// Criterion scores a point from its logits (higher is better); it may
	// be nil with KeepLast. Executors recognise ConfidentWrong,
	// WrongConfidence and the losses of this package that implement
	// Criterion.
	Criterion Criterion
	// Penalty subtracts the search's Penalty from the criterion.
	Penalty bool
	// Threshold is KeepFirstAbove's threshold.
	Threshold float64
}

// Criterion is a score of a row's point computed from its logits, by which
// a search keeps one point per row.
type Criterion interface {
	// Criterion returns the score of row i with logits z, in float64.
	Criterion(i int, z []float32) float64
}

// ConfidentWrong is the paper's criterion for the most confident wrong
// point: 1 + ||F(z)||∞ in (1, 2] when C_F(z) ≠ Labels[i], else 1 − F(z)_y in
// [0, 1), so that any wrongly classified point beats every correct one.
type ConfidentWrong struct {
	Labels []int
}

// Criterion implements Criterion.
func (c ConfidentWrong) Criterion(i int, z []float32) float64 {
	pred := 0
	for j, v := range z {
		if v > z[pred] {
			pred = j
		}
	}
	_, s := SumExp(z)
	if pred != c.Labels[i] {
		return 1 + 1/s
	}
	return 1 - 1/s
}

// WrongConfidence is max_{j≠y} F(z)_j for y = Labels[i], the confidence of
// the most likely wrong label (CW's criterion).
type WrongConfidence struct {
	Labels []int
}

// Criterion implements Criterion.
func (c WrongConfidence) Criterion(i int, z []float32) float64 {
	var buf [maxStackClasses]float64
	p := scratch(buf[:], len(z))
	SoftmaxFloat64(p, z)
	y, best := c.Labels[i], -1
	for j := range z {
		if j != y && (best < 0 || p[j] > p[best]) {
			best = j
		}
	}
	return p[best]
}

// logProb returns log softmax(z)_j in float64.
func logProb(z []float32, j int) float64 {
	m, s := SumExp(z)
	return float64(z[j]-m) - math.Log(s)
}

// Criterion implements Criterion: the loss −log F(z)_y in float64.
func (l CrossEntropy) Criterion(i int, z []float32) float64 { return -logProb(z, l.Labels[i]) }

// Criterion implements Criterion: the loss log F(z)_t in float64.
func (l TargetLogProb) Criterion(i int, z []float32) float64 { return logProb(z, l.Targets[i]) }

// Criterion implements Criterion: the clipped margin min(m, Kappa) in float64.
func (l CWMargin) Criterion(i int, z []float32) float64 {
	y, sgn := l.Labels[i], 1.0
	if l.Targeted {
		sgn = -1
	}
	best := math.Inf(-1)
	for j, v := range z {
		if j != y {
			best = max(best, float64(v))
		}
	}
	return min(sgn*(best-float64(z[y])), float64(l.Kappa))
}

// SearchResult is the outcome of a search of N rows. Its slices are
// allocated on first use and reused when large enough.
type SearchResult struct {
	// X (N·d) holds the kept point of every row.
	X []float32
	// Logits (N·classes) are the logits of X as the search computed them,
	// in the executor's search precision (callers that report confidences
	// recompute them with Logits).
	Logits []float32
	// Score (N) is the kept criterion, as the search computed it.
	Score []float64
	// Time (N) is the step t ∈ [0, Steps] of the kept point.
	Time []int
	// Steps is the number of steps run: s.Steps, or fewer when the search
	// stopped early (Groups).
	Steps int
}

// CheckSearch checks s against inputs of d values and classes classes, as
// every Searcher and RunSearch do before any work.
func CheckSearch(s *Search, d, classes int) error {
	n := s.N
	bad := func(format string, a ...any) error {
		return fmt.Errorf("engine: search: "+format, a...)
	}
	switch {
	case n <= 0:
		return bad("N = %d rows, want > 0", n)
	case s.Steps < 0:
		return bad("Steps = %d, want ≥ 0", s.Steps)
	case len(s.Lo) < n*d || len(s.Hi) < n*d:
		return bad("Lo has %d and Hi %d values, want %d", len(s.Lo), len(s.Hi), n*d)
	case len(s.Start) < n*d:
		return bad("Start has %d values, want %d", len(s.Start), n*d)
	case s.Loss == nil:
		return bad("nil Loss")
	case s.Groups != nil && len(s.Groups) < n:
		return bad("Groups has %d values, want %d", len(s.Groups), n)
	}
	if !(s.Penalty.Lambda >= 0) || math.IsInf(s.Penalty.Lambda, 0) {
		return bad("Penalty.Lambda = %v, want a finite λ ≥ 0", s.Penalty.Lambda)
	}
	if s.Penalty.Norm != NormInf && s.Penalty.Norm != Norm2 {
		return bad("Penalty.Norm = %d, want NormInf or Norm2", s.Penalty.Norm)
	}
	needOrigin := s.Penalty.Lambda > 0 || s.Adam != nil && s.Adam.Distance > 0
	if needOrigin && len(s.Origin) < n*d {
		return bad("Origin has %d values, want %d", len(s.Origin), n*d)
	}
	if s.Adam == nil {
		if len(s.Step) < n {
			return bad("Step has %d values, want %d", len(s.Step), n)
		}
	} else {
		a := s.Adam
		if len(a.Rates) < s.Steps {
			return bad("Adam.Rates has %d values, want %d", len(a.Rates), s.Steps)
		}
		if s.Penalty.Lambda > 0 {
			return bad("Penalty with Adam steps (add it to the loss)")
		}
		if !(a.Distance >= 0) {
			return bad("Adam.Distance = %v, want ≥ 0", a.Distance)
		}
	}
	switch s.Keep.Rule {
	case KeepMax, KeepFirstAbove:
		if s.Keep.Criterion == nil {
			return bad("nil Keep.Criterion")
		}
	case KeepLast:
	default:
		return bad("Keep.Rule = %d, want KeepMax, KeepFirstAbove or KeepLast", s.Keep.Rule)
	}
	for i, v := range s.Lo[:n*d] {
		if !(v <= s.Hi[i]) {
			return bad("box of value %d is [%v, %v]", i, v, s.Hi[i])
		}
	}
	return nil
}
