package attack

import (
	"context"
	"math"

	"confrobust/engine"
)

// Loss is the objective a PGD attack ascends.
type Loss int

const (
	// DefaultLoss picks the attack's default: cross-entropy for PGD,
	// the target's log-probability for MaxConfidence.
	DefaultLoss Loss = iota
	// CrossEntropy: untargeted, maximise −log F(x)_y (engine.CrossEntropy);
	// targeted, maximise log F(x)_t (engine.TargetLogProb, that is minimise
	// the cross-entropy of the target).
	CrossEntropy
	// TargetLogProb: targeted, maximise log F(x)_t (engine.TargetLogProb);
	// untargeted, minimise log F(x)_y, which is CrossEntropy.
	TargetLogProb
	// CWMargin: Carlini and Wagner's logit margin (engine.CWMargin), clipped
	// at Kappa: untargeted max_{j≠y} z_j − z_y, targeted z_t − max_{j≠t} z_j.
	CWMargin
	numLosses
)

var lossNames = [...]string{"default", "cross-entropy", "target log-probability", "CW margin"}

// String returns the loss's name.
func (l Loss) String() string {
	if l >= 0 && l < numLosses {
		return lossNames[l]
	}
	return "loss(" + itoa(int(l)) + ")"
}

// Keep is the criterion by which an attack keeps one iterate per input
// across all iterations and restarts.
type Keep int

const (
	// KeepConfidentWrong keeps the most confident wrongly classified point:
	// any point with C_F(z) ≠ y beats every correctly classified one; among
	// wrong points the highest ||F(z)||∞ wins; among correct ones, the lowest
	// confidence F(z)_y of the true label. It is the paper's criterion and the
	// zero value.
	KeepConfidentWrong Keep = iota
	// KeepHighestLoss keeps the point with the highest value of the ascended
	// objective (for TargetLogProb, the most confident point for the target).
	KeepHighestLoss
	// KeepLast keeps the last iterate of the last restart.
	KeepLast
	numKeeps
)

var keepNames = [...]string{"most confident wrong", "highest loss", "last"}

// String returns the criterion's name.
func (k Keep) String() string {
	if k >= 0 && k < numKeeps {
		return keepNames[k]
	}
	return "keep(" + itoa(int(k)) + ")"
}

// PGD is Madry et al.'s projected gradient attack in the ℓ∞ ball N(x, Eps)
// intersected with the [0,1] box: z ← Π(z + Step·sign(∇ loss)). Limits are
// checked between steps; the zero values of the optional fields are their
// defaults.
type PGD struct {
	// Eps is the ball's radius on the [0,1] pixel scale (≥ 0).
	Eps float64
	// Iterations is the number of gradient steps per start (> 0).
	Iterations int
	// Step is the step size; 0 means 2.5·Eps/Iterations.
	Step float64
	// Restarts is the number of starts; 0 means 1. More than one start needs
	// RandomStart.
	Restarts int
	// RandomStart starts from a point drawn uniformly in the ball (then
	// projected onto the box) instead of from x.
	RandomStart bool
	// Loss is the objective; DefaultLoss means CrossEntropy.
	Loss Loss
	// Kappa clips the CW margin above (≥ 0): the attack stops pushing once
	// the margin reaches Kappa. 0 stops at the decision boundary; use
	// float32(math.Inf(1)) for no clip.
	Kappa float32
	// Keep is the criterion for the returned point; the zero value is
	// KeepConfidentWrong.
	Keep Keep
	// Batch is the number of rows per executor call; 0 means all at once.
	Batch int
	// Seed seeds the random starts (PCG, one stream per input and start, so
	// that the result does not depend on Batch).
	Seed uint64
	// FirstInput is the index, in the caller's data set, of the first input
	// of x; the random streams follow the data-set index, so a data set split
	// into several calls gets the same starts as in one call.
	FirstInput int
	// Progress, when set, is called after every step.
	Progress Progress
}

// Result is what an attack returns for each of its n inputs.
type Result struct {
	// X holds the kept point of every input (n·d), inside the ball and the
	// box. Inputs not reached before a stop keep x.
	X []float32
	// Logits holds the logits of X (n·classes) from the plain forward pass.
	Logits []float32
	// Conf is ||F(X_i)||∞ and Pred is C_F(X_i).
	Conf []float64
	Pred []int
	// Wrong reports C_F(X_i) ≠ labels[i] (all false without labels).
	Wrong []bool
	// Score is the kept criterion value (see Keep); NaN for inputs never
	// reached.
	Score []float64
	// Done is the number of inputs (from the first) whose search finished.
	Done int
	// Steps is the number of InputGrad calls made.
	Steps  int
	Status Status
}

func (a *PGD) defaults(method string) (PGD, error) {
	c := *a
	if err := checkRadius(method, "Eps", c.Eps); err != nil {
		return c, err
	}
	var err error
	if c.Step, err = checkSearch(method, c.Eps, c.Iterations, c.Step, c.Batch, c.FirstInput); err != nil {
		return c, err
	}
	if c.Restarts < 0 {
		return c, bad(method, "Restarts", c.Restarts, "≥ 0")
	}
	if c.Restarts == 0 {
		c.Restarts = 1
	}
	if c.Restarts > 1 && !c.RandomStart {
		return c, bad(method, "Restarts", c.Restarts, "1 unless RandomStart is set (restarts from x repeat the same run)")
	}
	if c.Loss < 0 || c.Loss >= numLosses {
		return c, bad(method, "Loss", int(c.Loss), "CrossEntropy, TargetLogProb or CWMargin")
	}
	if c.Keep < 0 || c.Keep >= numKeeps {
		return c, bad(method, "Keep", int(c.Keep), "KeepConfidentWrong, KeepHighestLoss or KeepLast")
	}
	if !(c.Kappa >= 0) {
		return c, bad(method, "Kappa", c.Kappa, "≥ 0")
	}
	return c, nil
}

// Run attacks the n inputs x (n·d on [0,1]) of true labels labels. With
// targets nil the attack is untargeted; otherwise targets[i] is input i's
// target. labels may be nil only for an untargeted-free criterion (a
// targeted attack kept by KeepHighestLoss or KeepLast).
//
// On cancellation or a progress error Run returns the partial result (inputs
// before Result.Done are finished) with the wrapped error.
func (a *PGD) Run(ctx context.Context, exec engine.Executor, x []float32, labels, targets []int) (*Result, error) {
	const method = "PGD"
	c, err := a.defaults(method)
	if err != nil {
		return nil, err
	}
	needLabels := targets == nil || c.Keep == KeepConfidentWrong
	n, d, k, err := shape(method, exec, x, labels, needLabels)
	if err != nil {
		return nil, err
	}
	if targets != nil {
		if err := checkLabels(method, "targets", targets, n, k); err != nil {
			return nil, err
		}
	}
	if c.Batch == 0 {
		c.Batch = max(n, 1)
	}
	rows := make([]int, n)
	for i := range rows {
		rows[i] = i
	}
	s := c.search(method, exec, x, n, d, k, rows, labels, targets)
	s.meter = &meter{fn: c.Progress, total: n * c.Restarts * c.Iterations}
	return s.result(ctx, labels)
}

func checkLabels(method, param string, v []int, n, k int) error {
	if len(v) != n {
		return bad(method, param, len(v), itoa(n)+" values, one per input")
	}
	for i, y := range v {
		if y < 0 || y >= k {
			return bad(method, param+"["+itoa(i)+"]", y, "a class in [0, "+itoa(k)+")")
		}
	}
	return nil
}

// search builds the row search of PGD c on len(rows) rows, row r starting
// from input rows[r] with true label labels[r] (or nil) and target
// targets[r] (or nil for untargeted).
func (c *PGD) search(method string, exec engine.Executor, x []float32, n, d, k int, src, labels, targets []int) *rowSearch {
	row := func(int) int { return 0 }
	if targets != nil {
		row = func(r int) int { return targets[r] }
	}
	s := &rowSearch{
		method: method, exec: exec, n: len(src), d: d, k: k,
		origin:   func(r int) []float32 { return x[src[r]*d : (src[r]+1)*d] },
		eps:      func(int) float64 { return c.Eps },
		step:     func(int) float64 { return c.Step },
		iters:    c.Iterations,
		starts:   c.Restarts,
		random:   c.RandomStart,
		seed:     c.Seed,
		id:       func(r int) int { return (c.FirstInput+src[r])*k + row(r) },
		batch:    c.Batch,
		keepLast: c.Keep == KeepLast,
	}
	loss := c.Loss
	if loss == DefaultLoss {
		loss = CrossEntropy
		if targets != nil {
			loss = TargetLogProb
		}
	}
	s.loss = func(a, b int) engine.Loss {
		var ys, ts []int
		if labels != nil {
			ys = labels[a:b]
		}
		if targets != nil {
			ts = targets[a:b]
		}
		return lossOf(loss, ys, ts, c.Kappa)
	}
	s.device = func(rows []int) (engine.Loss, engine.Keep) {
		ys, ts := pick(labels, rows), pick(targets, rows)
		l := lossOf(loss, ys, ts, c.Kappa)
		switch c.Keep {
		case KeepConfidentWrong:
			return l, engine.Keep{Criterion: engine.ConfidentWrong{Labels: ys}}
		case KeepHighestLoss:
			return l, engine.Keep{Criterion: l.(engine.Criterion)}
		default:
			return l, engine.Keep{Rule: engine.KeepLast}
		}
	}
	if c.Keep == KeepConfidentWrong {
		s.score = func(r int, _, _, logits []float32) float64 { return confidentWrong(logits, labels[r]) }
	} else {
		s.score = func(r int, _, _, logits []float32) float64 {
			return objective(loss, logits, labels, targets, r, c.Kappa)
		}
	}
	return s
}

// lossOf returns the executor loss of loss for rows of true labels ys and
// targets ts (nil: untargeted).
func lossOf(loss Loss, ys, ts []int, kappa float32) engine.Loss {
	switch {
	case loss == CWMargin && ts != nil:
		return engine.CWMargin{Labels: ts, Kappa: kappa, Targeted: true}
	case loss == CWMargin:
		return engine.CWMargin{Labels: ys, Kappa: kappa}
	case ts != nil:
		return engine.TargetLogProb{Targets: ts}
	default:
		return engine.CrossEntropy{Labels: ys}
	}
}

// confidentWrong is KeepConfidentWrong's score: 1 + ||F(z)||∞ in (1, 2] when
// C_F(z) ≠ y, else 1 − F(z)_y in [0, 1).
func confidentWrong(logits []float32, y int) float64 {
	conf, pred := Confidence(logits)
	if pred != y {
		return 1 + conf
	}
	return 1 - conf
}

// objective recomputes the ascended loss of row r from its logits, in
// float64.
func objective(loss Loss, z []float32, labels, targets []int, r int, kappa float32) float64 {
	if loss == CWMargin {
		y, sgn := 0, 1.0
		if targets != nil {
			y, sgn = targets[r], -1
		} else {
			y = labels[r]
		}
		best := math.Inf(-1)
		for j, v := range z {
			if j != y {
				best = max(best, float64(v))
			}
		}
		return min(sgn*(best-float64(z[y])), float64(kappa))
	}
	if targets != nil {
		return logProb(z, targets[r])
	}
	return -logProb(z, labels[r])
}

// result runs s and assembles its Result, recomputing the kept points'
// logits with the plain forward pass.
func (s *rowSearch) result(ctx context.Context, labels []int) (*Result, error) {
	status, err := s.run(ctx)
	res := &Result{X: s.best, Score: s.bestScore, Done: s.rowsDone, Steps: s.steps, Status: status}
	if status == Failure {
		return res, err
	}
	// A finished search checks its points with the plain forward pass; a
	// stopped one returns at once, with the logits the search saw.
	res.Logits = s.bestLogits
	if err == nil {
		res.Logits = make([]float32, s.n*s.k)
		if ferr := forward(s.exec, res.Logits, res.X, s.n, s.d, s.k, s.batch); ferr != nil {
			res.Status = Failure
			return res, wrapf(s.method, "logits", ferr)
		}
	}
	res.Conf = make([]float64, s.n)
	res.Pred = make([]int, s.n)
	res.Wrong = make([]bool, s.n)
	Confidences(res.Conf, res.Pred, res.Logits, s.n, s.k)
	if labels != nil {
		for i := range res.Wrong {
			res.Wrong[i] = res.Pred[i] != labels[i]
		}
	}
	return res, err
}
