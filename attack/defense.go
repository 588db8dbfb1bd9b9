package attack

import (
	"context"
	"math"
	"slices"

	"confrobust/engine"
)

// Norm is the second norm |·| of HCNN and NCN, which measures z − x inside
// the ℓ∞ search ball.
type Norm int

const (
	// LInf is max_j |z_j − x_j| (the zero value).
	LInf Norm = iota
	// L2 is the Euclidean norm.
	L2
	numNorms
)

// String returns "linf" or "l2".
func (n Norm) String() string {
	switch n {
	case LInf:
		return "linf"
	case L2:
		return "l2"
	}
	return "norm(" + itoa(int(n)) + ")"
}

// penalty returns the engine penalty λ·|z − x| in this norm.
func (n Norm) penalty(lambda float64) engine.Penalty {
	p := engine.Penalty{Lambda: lambda, Norm: engine.NormInf}
	if n == L2 {
		p.Norm = engine.Norm2
	}
	return p
}

func (n Norm) dist(z, x []float32) float64 { return n.penalty(0).Dist(z, x) }

// subtractGrad subtracts lambda·∂|z − x|/∂z from g: (z − x)/|z − x|₂ for L2;
// for LInf, sign(z_j − x_j) at the first coordinate j of largest |z_j − x_j|
// (a subgradient). Both are zero at z = x.
func (n Norm) subtractGrad(g, z, x []float32, lambda float64) {
	n.penalty(lambda).SubtractGrad(g, z, x)
}

// Embedding is the outcome of an embedding defense (HCNN, MCN, NCN, or an
// entropy surrogate) on n inputs: Candidates points per input (one per label
// for Algorithm 1, one for the entropy surrogates), the chosen one, and the
// end-to-end prediction Γ(x) = C_F(chosen point). All confidences and
// objectives come from the plain forward pass on the returned points.
type Embedding struct {
	N, Classes, Candidates int
	// Points holds z^(c) of input i at (i·Candidates + c)·d (n·Candidates·d);
	// Logits, Conf (||F(z)||∞), Pred (C_F(z)), Label (the label searched, −1
	// for the entropy surrogates), Objective and Distance (|z − x| in the
	// second norm) are indexed i·Candidates + c.
	Points    []float32
	Logits    []float32
	Conf      []float64
	Pred      []int
	Label     []int
	Objective []float64
	Distance  []float64
	// Feasible (NCN only) reports F(z)_ℓ ≥ P for the candidate.
	Feasible []bool
	// Chosen is the index c of the chosen candidate of each input, X the
	// chosen points (n·d) and Prediction Γ(x).
	Chosen     []int
	X          []float32
	Prediction []int
	// Done is the number of inputs whose search finished; Steps counts
	// InputGrad calls.
	Done   int
	Steps  int
	Status Status
}

// HCNN solves the ξ-Highly Confident Near Neighbor objective (Definition 3)
//
//	HCNN_ξ(x) = argmax_{z ∈ N(x, ξ)} ||F(z)||∞ − λ|z − x|
//
// by Algorithm 1: for every label ℓ, a projected sign-gradient search (PGD
// with no random start unless RandomStart) maximising F(z)_ℓ − λ|z − x| in
// N(x, ξ) ∩ [0,1], keeping the iterate of best objective; then the label of
// the best objective F(z^(ℓ))_ℓ − λ|z^(ℓ) − x| (plain forward pass) wins.
// With Lambda 0 it is MCN_ξ (Definition 4); the paper's setting is ξ = η, no
// random start, 500 iterations.
//
// The gradient: with λ = 0 the search ascends log F(z)_ℓ (engine.TargetLogProb),
// whose gradient is ∇F_ℓ/F_ℓ: the same sign steps as ascending F_ℓ, the same
// maximiser, and no underflow where F_ℓ is tiny. With λ > 0 the sum with the
// penalty needs the true scale, so it ascends F(z)_ℓ itself (gradient
// F_ℓ(e_ℓ − F) with respect to the logits, computed in Go inside the loss)
// minus λ times a (sub)gradient of the norm.
type HCNN struct {
	// Xi is the search radius ξ on the [0,1] scale (≥ 0).
	Xi float64
	// Lambda is the distance weight λ (≥ 0); 0 gives MCN_ξ.
	Lambda float64
	// Norm is the second norm |·|.
	Norm Norm
	// Iterations is the number of steps per label (> 0).
	Iterations int
	// Step is the step size; 0 means 2.5·Xi/Iterations.
	Step float64
	// RandomStart starts each label's search uniformly in the ball (seeded
	// by Seed; FirstInput as in PGD) instead of at x.
	RandomStart bool
	Seed        uint64
	FirstInput  int
	// Batch is the number of rows ((input, label) pairs) per executor call;
	// 0 means all at once.
	Batch int
	// Progress, when set, is called after every step.
	Progress Progress
}

// MCN returns MCN_ξ, HCNN with λ = 0, in the paper's setting: radius xi, no
// random start, the given number of iterations (the paper's 500).
func MCN(xi float64, iterations int) *HCNN {
	return &HCNN{Xi: xi, Iterations: iterations}
}

func checkNorm(method string, n Norm) error {
	if n < 0 || n >= numNorms {
		return bad(method, "Norm", int(n), "LInf or L2")
	}
	return nil
}

// Run embeds the n inputs x (n·d).
func (h *HCNN) Run(ctx context.Context, exec engine.Executor, x []float32) (*Embedding, error) {
	const method = "HCNN"
	c := *h
	if err := checkRadius(method, "Xi", c.Xi); err != nil {
		return nil, err
	}
	if !(c.Lambda >= 0) || math.IsInf(c.Lambda, 0) {
		return nil, bad(method, "Lambda", c.Lambda, "a finite λ ≥ 0")
	}
	if err := checkNorm(method, c.Norm); err != nil {
		return nil, err
	}
	var err error
	if c.Step, err = checkSearch(method, c.Xi, c.Iterations, c.Step, c.Batch, c.FirstInput); err != nil {
		return nil, err
	}
	n, d, k, err := shape(method, exec, x, nil, false)
	if err != nil {
		return nil, err
	}
	src, lab := make([]int, n*k), make([]int, n*k)
	for r := range src {
		src[r], lab[r] = r/k, r%k
	}
	if c.Batch == 0 {
		c.Batch = max(n*k, 1)
	}
	s := &rowSearch{
		method: method, exec: exec, n: n * k, d: d, k: k,
		origin: func(r int) []float32 { return x[src[r]*d : (src[r]+1)*d] },
		eps:    func(int) float64 { return c.Xi },
		step:   func(int) float64 { return c.Step },
		iters:  c.Iterations, starts: 1, random: c.RandomStart, seed: c.Seed, batch: c.Batch,
		id:    func(r int) int { return c.FirstInput*k + r },
		meter: &meter{fn: c.Progress, total: n * k * c.Iterations},
	}
	p := make([]float64, k)
	s.score = func(r int, z, x, logits []float32) float64 {
		softmax64(p, logits)
		v := p[lab[r]]
		if c.Lambda > 0 {
			v -= c.Lambda * c.Norm.dist(z, x)
		}
		return v
	}
	if c.Lambda == 0 {
		s.loss = func(a, b int) engine.Loss { return engine.TargetLogProb{Targets: lab[a:b]} }
		s.device = func(rows []int) (engine.Loss, engine.Keep) {
			ls := pick(lab, rows)
			return engine.TargetLogProb{Targets: ls}, engine.Keep{Criterion: engine.Prob{Labels: ls}}
		}
	} else {
		s.loss = func(a, b int) engine.Loss { return engine.Prob{Labels: lab[a:b]} }
		s.grad = func(g, z, x []float32, _ int) { c.Norm.subtractGrad(g, z, x, c.Lambda) }
		s.penalty = c.Norm.penalty(c.Lambda)
		s.device = func(rows []int) (engine.Loss, engine.Keep) {
			ls := pick(lab, rows)
			return engine.Prob{Labels: ls}, engine.Keep{Criterion: engine.Prob{Labels: ls}, Penalty: true}
		}
	}
	status, err := s.run(ctx)
	e := &Embedding{N: n, Classes: k, Candidates: k, Points: s.best, Label: lab, Done: s.rowsDone / k, Steps: s.steps, Status: status}
	if status == Failure {
		return e, err
	}
	objective := func(i, cand int) float64 {
		r := i*k + cand
		return Prob(e.Logits[r*k:(r+1)*k], lab[r]) - c.Lambda*e.Distance[r]
	}
	if ferr := e.finish(exec, x, d, c.Norm, c.Batch, objective, nil, stopLogits(s, err)); ferr != nil {
		e.Status = Failure
		return e, ferr
	}
	return e, err
}

// stopLogits returns the logits the search s saw when it was stopped (err
// non-nil), so that a stopped search returns without another forward pass,
// and nil otherwise.
func stopLogits(s *rowSearch, err error) []float32 {
	if err != nil {
		return s.bestLogits
	}
	return nil
}

// finish fills the logits (from a forward pass on the points unless logits
// is given), confidences, distances, objectives and the choice
// of e from its Points, choosing by the highest objective (ties: the first
// candidate) unless choose is set.
func (e *Embedding) finish(exec engine.Executor, x []float32, d int, norm Norm, batch int,
	objective func(i, c int) float64, choose func(i int) int, logits []float32) error {
	n, k, nc := e.N, e.Classes, e.Candidates
	rows := n * nc
	e.Logits = logits
	if logits == nil {
		e.Logits = make([]float32, rows*k)
		if err := forward(exec, e.Logits, e.Points, rows, d, k, batch); err != nil {
			return wrapf("embedding", "logits", err)
		}
	}
	e.Conf = make([]float64, rows)
	e.Pred = make([]int, rows)
	Confidences(e.Conf, e.Pred, e.Logits, rows, k)
	e.Distance = make([]float64, rows)
	e.Objective = make([]float64, rows)
	for r := 0; r < rows; r++ {
		i := r / nc
		e.Distance[r] = norm.dist(e.Points[r*d:(r+1)*d], x[i*d:(i+1)*d])
	}
	for r := 0; r < rows; r++ {
		e.Objective[r] = objective(r/nc, r%nc)
	}
	e.Chosen = make([]int, n)
	e.X = make([]float32, n*d)
	e.Prediction = make([]int, n)
	for i := 0; i < n; i++ {
		best := 0
		if choose != nil {
			best = choose(i)
		} else {
			for c := 1; c < nc; c++ {
				if e.Objective[i*nc+c] > e.Objective[i*nc+best] {
					best = c
				}
			}
		}
		e.Chosen[i] = best
		copy(e.X[i*d:(i+1)*d], e.Points[(i*nc+best)*d:(i*nc+best+1)*d])
		e.Prediction[i] = e.Pred[i*nc+best]
	}
	return nil
}

// Ranked returns the candidate indices of input i sorted by decreasing
// confidence ||F(z)||∞ (ties: the lower index first), the order in which
// Table 4 ranks MCN_ξ's points.
func (e *Embedding) Ranked(i int) []int {
	nc := e.Candidates
	idx := make([]int, nc)
	for c := range idx {
		idx[c] = c
	}
	conf := e.Conf[i*nc : (i+1)*nc]
	slices.SortStableFunc(idx, func(a, b int) int {
		switch {
		case conf[a] > conf[b]:
			return -1
		case conf[a] < conf[b]:
			return 1
		}
		return 0
	})
	return idx
}
