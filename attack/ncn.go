package attack

import (
	"context"
	"math"

	"confrobust/engine"
)

// NCN solves the p-Nearest Confident Neighbor objective (Definition 5)
//
//	NCN_p(x) = argmin_{z ∈ N(x, ξ)} |z − x|  subject to  ||F(z)||∞ ≥ p
//
// per label, in the manner of Algorithm 1, by bisection on the search
// radius. Round 0 runs, for every label ℓ, the MCN search of radius ξ
// (sign-gradient ascent of log F(z)_ℓ from x, keeping the most confident
// iterate); the labels whose point reaches F(z)_ℓ ≥ P (plain forward pass)
// are feasible. Each of the Rounds further rounds halves the interval
// [lo, hi] (initially [0, ξ]) of every feasible label: a search of radius
// mid = (lo+hi)/2 that reaches P sets hi = mid and becomes the label's point,
// otherwise lo = mid. The answer is the feasible label whose point has the
// smallest |z − x| (ties: the higher F(z)_ℓ); when no label is feasible, the
// most confident point of round 0 (MCN_ξ's answer).
//
// The bisection assumes that the search of a radius reaching P implies the
// searches of larger radii do too, which holds for an exact maximiser since
// the balls are nested. With |·| = ℓ∞ the smallest radius is the distance
// sought (within ξ/2^Rounds); with |·| = ℓ2 the point is the ℓ∞-nearest
// confident one found and its ℓ2 distance is reported, an approximation.
type NCN struct {
	// Xi is the largest search radius ξ on the [0,1] scale (≥ 0).
	Xi float64
	// P is the confidence required, in (0, 1).
	P float64
	// Norm is the second norm |·| used to choose among labels.
	Norm Norm
	// Iterations is the number of steps per search (> 0).
	Iterations int
	// Step is the step size for radius ξ; 0 means 2.5·ξ/Iterations. A search
	// of radius r uses Step·r/ξ.
	Step float64
	// Rounds is the number of bisection rounds after the first; 0 means 8.
	Rounds int
	// Batch is the number of rows per executor call; 0 means all at once.
	Batch int
	// Progress, when set, is called after every step; its total assumes
	// every label stays feasible.
	Progress Progress
}

// Run embeds the n inputs x (n·d).
func (a *NCN) Run(ctx context.Context, exec engine.Executor, x []float32) (*Embedding, error) {
	const method = "NCN"
	c := *a
	if err := checkRadius(method, "Xi", c.Xi); err != nil {
		return nil, err
	}
	if err := checkP(method, "P", c.P); err != nil {
		return nil, err
	}
	if err := checkNorm(method, c.Norm); err != nil {
		return nil, err
	}
	if err := checkIterations(method, c.Iterations); err != nil {
		return nil, err
	}
	if err := checkStep(method, c.Step); err != nil {
		return nil, err
	}
	switch {
	case c.Rounds < 0:
		return nil, bad(method, "Rounds", c.Rounds, "≥ 0 (0 for 8)")
	case c.Batch < 0:
		return nil, bad(method, "Batch", c.Batch, "≥ 0 (0 for all rows at once)")
	}
	if c.Rounds == 0 {
		c.Rounds = 8
	}
	if c.Step == 0 {
		c.Step = 2.5 * c.Xi / float64(c.Iterations)
	}
	n, d, k, err := shape(method, exec, x, nil, false)
	if err != nil {
		return nil, err
	}
	rows := n * k
	if c.Batch == 0 {
		c.Batch = max(rows, 1)
	}
	e := &Embedding{N: n, Classes: k, Candidates: k, Points: make([]float32, rows*d),
		Label: make([]int, rows), Feasible: make([]bool, rows)}
	lo, hi := make([]float64, rows), make([]float64, rows)
	for r := range e.Label {
		e.Label[r] = r % k
		hi[r] = c.Xi
	}
	m := &meter{fn: c.Progress, total: rows * c.Iterations * (1 + c.Rounds)}
	// active lists the rows searched this round, radius their radii.
	active := make([]int, rows)
	for r := range active {
		active[r] = r
	}
	radius := make([]float64, rows)
	copy(radius, hi)
	p := make([]float64, k)
	for round := 0; round <= c.Rounds && len(active) > 0; round++ {
		act := active
		s := &rowSearch{
			method: method, exec: exec, n: len(act), d: d, k: k,
			origin: func(j int) []float32 { i := act[j] / k; return x[i*d : (i+1)*d] },
			eps:    func(j int) float64 { return radius[j] },
			step: func(j int) float64 {
				if c.Xi == 0 {
					return 0
				}
				return c.Step * radius[j] / c.Xi
			},
			iters: c.Iterations, starts: 1, batch: c.Batch, meter: m,
			loss: func(a, b int) engine.Loss {
				t := make([]int, b-a)
				for j := range t {
					t[j] = act[a+j] % k
				}
				return engine.TargetLogProb{Targets: t}
			},
			score: func(j int, _, _, logits []float32) float64 {
				softmax64(p, logits)
				return p[act[j]%k]
			},
			device: func(rows []int) (engine.Loss, engine.Keep) {
				t := make([]int, len(rows))
				for j, r := range rows {
					t[j] = act[r] % k
				}
				return engine.TargetLogProb{Targets: t}, engine.Keep{Criterion: engine.Prob{Labels: t}}
			},
		}
		status, err := s.run(ctx)
		e.Steps += s.steps
		if status != IterationLimit {
			e.Status = status
			e.Points = nil
			return e, err
		}
		lg := make([]float32, len(act)*k)
		if err := forward(exec, lg, s.best, len(act), d, k, c.Batch); err != nil {
			e.Status = Failure
			return e, wrapf(method, "logits", err)
		}
		var next []int
		var nextRadius []float64
		for j, r := range act {
			ok := Prob(lg[j*k:(j+1)*k], r%k) >= c.P
			if round == 0 || ok {
				copy(e.Points[r*d:(r+1)*d], s.best[j*d:(j+1)*d])
			}
			switch {
			case round == 0:
				e.Feasible[r] = ok
			case ok:
				hi[r] = radius[j]
			default:
				lo[r] = radius[j]
			}
			if e.Feasible[r] && round < c.Rounds {
				next = append(next, r)
				nextRadius = append(nextRadius, (lo[r]+hi[r])/2)
			}
		}
		active, radius = next, nextRadius
	}
	e.Done, e.Status = n, IterationLimit
	// Objective: −|z − x| for feasible candidates, −Inf otherwise; choice:
	// the nearest feasible, else the most confident for its label.
	objective := func(i, cand int) float64 {
		r := i*k + cand
		if !e.Feasible[r] {
			return math.Inf(-1)
		}
		return -e.Distance[r]
	}
	choose := func(i int) int {
		best := -1
		for cand := 0; cand < k; cand++ {
			r := i*k + cand
			if !e.Feasible[r] {
				continue
			}
			if best < 0 || e.Distance[r] < e.Distance[i*k+best] ||
				e.Distance[r] == e.Distance[i*k+best] && Prob(e.Logits[r*k:(r+1)*k], cand) > Prob(e.Logits[(i*k+best)*k:(i*k+best+1)*k], best) {
				best = cand
			}
		}
		if best >= 0 {
			return best
		}
		best = 0
		for cand := 1; cand < k; cand++ {
			if Prob(e.Logits[(i*k+cand)*k:(i*k+cand+1)*k], cand) > Prob(e.Logits[(i*k+best)*k:(i*k+best+1)*k], best) {
				best = cand
			}
		}
		return best
	}
	if err := e.finish(exec, x, d, c.Norm, c.Batch, objective, choose, nil); err != nil {
		e.Status = Failure
		return e, err
	}
	return e, nil
}

// EntropyKind selects the entropy surrogate of ||F(z)||∞.
type EntropyKind int

const (
	// Shannon is H(F(z)) = −Σ_ℓ F(z)_ℓ log F(z)_ℓ.
	Shannon EntropyKind = iota
	// Renyi is H_α(F(z)) = α/(1−α)·log ||F(z)||_α, for α > 0, α ≠ 1.
	Renyi
	numKinds
)

// String returns "shannon" or "renyi".
func (k EntropyKind) String() string {
	switch k {
	case Shannon:
		return "shannon"
	case Renyi:
		return "renyi"
	}
	return "entropy(" + itoa(int(k)) + ")"
}

// Entropy is the paper's entropy surrogate of MCN_ξ (Section 4): instead of
// one search per label, one projected sign-gradient search per input
// minimising the Shannon or α-Rényi entropy of F(z) over N(x, ξ) ∩ [0,1],
// keeping the iterate of lowest entropy. The gradient with respect to the
// logits is computed in Go inside the loss: ∂H/∂z_j = −F_j(log F_j + H) and
// ∂H_α/∂z_j = α/(1−α)·(softmax(αz)_j − F_j). The result has the Embedding
// shape with one candidate per input (Label −1, Objective −H).
type Entropy struct {
	// Xi is the search radius ξ on the [0,1] scale (≥ 0).
	Xi float64
	// Kind is Shannon (the zero value) or Renyi.
	Kind EntropyKind
	// Alpha is Rényi's α (> 0, ≠ 1); unused for Shannon.
	Alpha float64
	// Iterations is the number of steps (> 0).
	Iterations int
	// Step is the step size; 0 means 2.5·Xi/Iterations.
	Step float64
	// RandomStart starts uniformly in the ball (seeded by Seed; FirstInput as
	// in PGD) instead of x.
	RandomStart bool
	Seed        uint64
	FirstInput  int
	// Batch is the number of inputs per executor call; 0 means all at once.
	Batch int
	// Progress, when set, is called after every step.
	Progress Progress
}

// Run embeds the n inputs x (n·d).
func (a *Entropy) Run(ctx context.Context, exec engine.Executor, x []float32) (*Embedding, error) {
	const method = "Entropy"
	c := *a
	if err := checkRadius(method, "Xi", c.Xi); err != nil {
		return nil, err
	}
	alpha := 1.0
	switch c.Kind {
	case Shannon:
	case Renyi:
		if !(c.Alpha > 0) || c.Alpha == 1 || math.IsInf(c.Alpha, 0) {
			return nil, bad(method, "Alpha", c.Alpha, "a finite α > 0, α ≠ 1 (α = 1 is Shannon)")
		}
		alpha = c.Alpha
	default:
		return nil, bad(method, "Kind", int(c.Kind), "Shannon or Renyi")
	}
	var err error
	if c.Step, err = checkSearch(method, c.Xi, c.Iterations, c.Step, c.Batch, c.FirstInput); err != nil {
		return nil, err
	}
	n, d, k, err := shape(method, exec, x, nil, false)
	if err != nil {
		return nil, err
	}
	if c.Batch == 0 {
		c.Batch = max(n, 1)
	}
	p, q := make([]float64, k), make([]float64, k)
	loss := engine.NegEntropy{Alpha: alpha}
	s := &rowSearch{
		method: method, exec: exec, n: n, d: d, k: k,
		origin: func(r int) []float32 { return x[r*d : (r+1)*d] },
		eps:    func(int) float64 { return c.Xi },
		step:   func(int) float64 { return c.Step },
		iters:  c.Iterations, starts: 1, random: c.RandomStart, seed: c.Seed, batch: c.Batch,
		id:    func(r int) int { return c.FirstInput + r },
		meter: &meter{fn: c.Progress, total: n * c.Iterations},
		loss:  func(int, int) engine.Loss { return loss },
		score: func(_ int, _, _, logits []float32) float64 { return -entropy(p, q, logits, alpha) },
		device: func([]int) (engine.Loss, engine.Keep) {
			return loss, engine.Keep{Criterion: loss}
		},
	}
	status, err := s.run(ctx)
	e := &Embedding{N: n, Classes: k, Candidates: 1, Points: s.best, Label: make([]int, n), Done: s.rowsDone, Steps: s.steps, Status: status}
	for i := range e.Label {
		e.Label[i] = -1
	}
	if status == Failure {
		return e, err
	}
	objective := func(i, _ int) float64 { return -entropy(p, q, e.Logits[i*k:(i+1)*k], alpha) }
	if ferr := e.finish(exec, x, d, LInf, c.Batch, objective, nil, stopLogits(s, err)); ferr != nil {
		e.Status = Failure
		return e, ferr
	}
	return e, err
}
