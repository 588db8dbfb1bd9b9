package attack

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"confrobust/engine"
)

// Adaptive attacks on the defended classifier Γ(x) = C_F(HCNN_ξ(x)).
//
// The paper evaluates Γ with attacks on the base model F (targeted PGD raising a wrong label's
// confidence, then Γ applied to the result). A defense that runs an optimisation at inference
// must be attacked through that optimisation (Athalye et al. 2018; Tramèr et al. 2020): the
// attacks below run the defense's own search at every step, judge every iterate by Γ, and
// differentiate through the search.
//
// # The derivative of the inner search
//
// For a label ℓ, Algorithm 1's search from x is the projected sign ascent
//
//	z_0 = x (or clamp(x + u) for a random start u),
//	z_{s+1} = Π_x(z_s + h·sign(g(z_s))),   Π_x(w)_j = min(max(w_j, lo_j(x)), hi_j(x)),
//
// with lo_j(x) = max(x_j − ξ, 0) and hi_j(x) = min(x_j + ξ, 1), and it returns the iterate of
// best objective, z^(ℓ)(x) = z_{s*}. Its exact derivative with respect to x is a 0/1 diagonal
// matrix diag(m), by induction on s:
//
//   - sign has derivative zero wherever g_j ≠ 0 (almost everywhere), so the step
//     w = z_s + h·sign(g(z_s)) has ∂w/∂x = ∂z_s/∂x;
//   - the projection keeps an interior coordinate (∂z_{s+1,j}/∂x = ∂z_{s,j}/∂x), sets a
//     coordinate clamped to the ball, x_j ± ξ, to follow x (row j of the identity), and sets a
//     coordinate clamped to the box, 0 or 1, to a constant (row zero);
//   - z_0 = x has derivative I; a random start clamp(x + u) has derivative 1 except where the
//     box clamped it;
//   - the choice of s* (and of the label in Γ) is piecewise constant, with derivative zero.
//
// So m_j = 1 when coordinate j of the kept iterate was last clamped to the ball or never
// clamped since a start that followed x, and m_j = 0 when it was last clamped to the box. The
// unrolled derivative costs nothing beyond the forward search, whatever its length, because
// nothing but these masks need be stored: the "few steps" that memory forces on unrolling a
// general optimiser is no limit here. Backward Unrolled applies it, Identity (BPDA) takes
// m = 1. At a converged inner maximum, m⊙∇F(z^(ℓ))_ℓ is also Danskin's gradient of
// max_{z ∈ N(x,ξ)} F(z)_ℓ, the box face fixed. With λ > 0 the objective F(z)_ℓ − λ|z − x| has
// derivative m⊙∇F_ℓ + λ(1 − m)⊙∇|u| at u = z − x (the distance is constant along Identity).

// Objective is the loss an Adaptive attack ascends for a target label t, through the points
// z^(ℓ) = z^(ℓ)(x') the defense's per-label searches reach from the attack's iterate x'.
type Objective int

const (
	// Margin is the defended margin o_t − o_y: log F(z^(t))_t − log F(z^(y))_y (λ = 0; with
	// λ > 0 the defense's objectives o_ℓ = F(z^(ℓ))_ℓ − λ|z^(ℓ) − x'|), which is positive when
	// Algorithm 1 prefers t to the true label y. With a rejection threshold P it adds the hinge
	// min(0, log F(z^(t))_t − log P) (raw: F − P), so that t is pushed above P too. On the base
	// model (ξ = 0) it is the margin Z_t − Z_y of the logits Z. It is the zero value.
	Margin Objective = iota
	// TargetConfidence is the Table 2 objective moved through the defense: log F(z^(t))_t (raw
	// o_t with λ > 0), the confidence the defense's own label-t search reaches. On the base
	// model (ξ = 0) it is exactly the Table 2 search's log F(x')_t.
	TargetConfidence
	// Neighbourhood makes the whole ξ-neighbourhood label t: it ascends the minimum of
	// log F(z)_t over the points the defense's searches reach, {z^(ℓ) : ℓ}, and, when
	// Adaptive.Inner > 0, the worst point of t in N(x', ξ) found by an inner search descending
	// log F_t. Once min_ℓ F(z^(ℓ))_t > 1/2 every label ℓ ≠ t has F(z^(ℓ))_ℓ < 1/2 < F(z^(t))_t,
	// so Algorithm 1 (λ = 0) picks t: the defense's own search lands on t.
	Neighbourhood
	numObjectives
)

var objectiveNames = [...]string{"margin", "target confidence", "neighbourhood"}

// String returns the objective's name.
func (o Objective) String() string {
	if o >= 0 && o < numObjectives {
		return objectiveNames[o]
	}
	return "objective(" + itoa(int(o)) + ")"
}

// Backward says how an Adaptive attack differentiates through the defense's search.
type Backward int

const (
	// Identity is BPDA with the identity: the search is treated as z^(ℓ)(x') = x' + const on the
	// backward pass, so the gradient of the loss at z^(ℓ) is applied to x'. It is the zero value.
	Identity Backward = iota
	// Unrolled is the exact derivative of the unrolled projected sign search: the 0/1 diagonal
	// mask derived above, tracked along the search.
	Unrolled
	numBackwards
)

// String returns "identity" or "unrolled".
func (b Backward) String() string {
	switch b {
	case Identity:
		return "identity"
	case Unrolled:
		return "unrolled"
	}
	return "backward(" + itoa(int(b)) + ")"
}

// Adaptive is an adaptive attack on the defended classifier Γ(x') = C_F(HCNN_ξ(x')) (MCN_ξ
// with λ = 0), optionally with the rejection rule (Γ's output is rejected when the defended
// confidence ||F(HCNN_ξ(x'))||∞ < P), or on NCN_P's prediction.
//
// For every input and target label t (all wrong labels, or the Targets most likely ones) it
// runs a projected sign-gradient ascent in N(x, Eps) ∩ [0,1]. Every iterate x' is embedded by
// the defense's own search (the per-label searches of Algorithm 1, exactly as HCNN.Run runs
// them: the same points bit for bit when the defense is deterministic), judged by Γ (success:
// Γ(x') ≠ y and, with P > 0, a defended confidence ≥ P), and the step follows the gradient of
// the Objective through the search by Backward. The kept iterate per input is the best by
// this criterion: more samples judged successful first, then the higher defended confidence;
// among unsuccessful ones, the higher loss. The returned points are finally checked by running
// the defense as deployed (HCNN.Run or NCN.Run on them).
//
// EOT: when the defense draws random starts (Defense.RandomStart), each step embeds x' with
// Samples independent draws (streams seeded by Seed, not by the deployed Defense.Seed, and
// drawn afresh at every step), averages the gradients and judges by the share of draws that
// succeed. A defense without randomness (no random start, NCN, ξ = 0) makes one sample exact:
// Samples is then taken as 1 and AdaptiveResult.Samples says so.
//
// Defense.Xi = 0 makes Γ the base model C_F itself (no search; Iterations ignored): with P > 0
// this is the rejection rule on F, and TargetConfidence is then the Table 2 objective with
// success meaning a wrong label accepted at P. (Any increasing function of F(x')_t, the
// Table 2 log-probability or the CW hinge on its log-odds, takes the same sign steps, so on the
// base model a rejection-aware loss cannot beat Table 2's; Margin, the logit margin, differs.)
//
// Cost per input and target, per start: (Iterations+1)·S embeddings of classes·
// Defense.Iterations row-steps each, plus Iterations·S·(2 for Margin, else 1) gradient rows and,
// for Neighbourhood, Iterations·S·Inner worst-point steps; then the deployed defense once per
// input (see RowSteps).
type Adaptive struct {
	// Defense is Γ's embedding as deployed: Xi (≥ 0; 0 for the base model), Lambda, Norm,
	// Iterations, Step, RandomStart, Seed and FirstInput as in HCNN; its Batch and Progress
	// are ignored (the attack's are used).
	Defense HCNN
	// NCN, when non-nil, makes Γ NCN_P's prediction instead (Defense is then ignored): the
	// searches differentiated are NCN's first round (MCN_ξ with NCN's Xi, Iterations and
	// Step), each iterate is judged by the sufficient condition that the true label is not
	// feasible there (F(z^(y))_y < NCN.P) and the feasible labels' points (or, with none,
	// MCN's choice) are wrong and accepted, and the final check runs NCN.Run.
	NCN *NCN
	// Eps is the attack radius η on the [0,1] pixel scale (≥ 0).
	Eps float64
	// Iterations is the number of attack steps per start (> 0).
	Iterations int
	// Step is the attack step size; 0 means 2.5·Eps/Iterations.
	Step float64
	// Restarts is the number of starts; 0 means 1. More than one start needs RandomStart.
	Restarts int
	// RandomStart starts from a point drawn uniformly in N(x, Eps) (then clamped to the box)
	// instead of x (RunFrom's initial points add a start before these).
	RandomStart bool
	// Objective is the loss ascended; the zero value is Margin.
	Objective Objective
	// Backward is how the gradient passes the search; the zero value is Identity.
	Backward Backward
	// P is the rejection threshold in [0, 1): 0 means no rejection.
	P float64
	// Samples is the number of EOT draws of the defense's random starts per step; 0 means 1.
	Samples int
	// Targets is the number of target labels per input: 0 means every wrong label; m > 0 the
	// m wrong labels most likely under F at x (ties: the lower label).
	Targets int
	// Inner is the number of steps of the search for the worst point of the target in
	// N(x', ξ) that Neighbourhood adds to the defense's points (step 2.5·ξ/Inner); 0 adds none.
	// It must be 0 for the other objectives.
	Inner int
	// Seed seeds the random starts and the EOT draws; FirstInput is the data-set index of the
	// first input (see PGD.FirstInput).
	Seed       uint64
	FirstInput int
	// Batch is the number of rows (points of one label) per executor call; 0 means all at once.
	Batch int
	// Progress, when set, is called after every gradient call.
	Progress Progress
}

// AdaptiveResult is the outcome of an Adaptive attack on n inputs.
type AdaptiveResult struct {
	// X holds per input the kept point (n·d), inside N(x, Eps) ∩ [0,1]: the best iterate of
	// all its targets and starts (x itself for inputs not reached before a stop).
	X []float32
	// Success reports that the deployed defense, run on X, gives Γ(X_i) ≠ y_i with, for P > 0,
	// defended confidence ≥ P. Prediction is Γ(X_i) and Conf the defended confidence.
	Success    []bool
	Prediction []int
	Conf       []float64
	// Target is the target label whose search kept X_i (−1 for inputs not reached).
	Target []int
	// Score is the kept criterion: in (j, j+1] for j successful draws (j + confidence), in
	// (0, 1) for none (the logistic of the mean loss).
	Score []float64
	// Samples is the number of EOT draws used per step (1 without randomness in the defense).
	Samples int
	// Done is the number of inputs (from the first) whose search finished; Steps counts
	// InputGrad calls.
	Done   int
	Steps  int
	Status Status
}

// adaptiveRun is an Adaptive with defaults applied and the searches it differentiates.
type adaptiveRun struct {
	Adaptive
	def       HCNN // the per-label searches (Defense, or NCN's first round)
	samples   int
	worstStep float64
	d, k      int
}

const adaptiveMethod = "Adaptive"

func (a *Adaptive) defaults() (*adaptiveRun, error) {
	const method = adaptiveMethod
	c := &adaptiveRun{Adaptive: *a}
	if err := checkRadius(method, "Eps", c.Eps); err != nil {
		return nil, err
	}
	var err error
	if c.Step, err = checkSearch(method, c.Eps, c.Iterations, c.Step, c.Batch, c.FirstInput); err != nil {
		return nil, err
	}
	switch {
	case c.Restarts < 0:
		return nil, bad(method, "Restarts", c.Restarts, "≥ 0")
	case c.Restarts > 1 && !c.RandomStart:
		return nil, bad(method, "Restarts", c.Restarts, "1 unless RandomStart is set (restarts from x repeat the same run)")
	case c.Objective < 0 || c.Objective >= numObjectives:
		return nil, bad(method, "Objective", int(c.Objective), "Margin, TargetConfidence or Neighbourhood")
	case c.Backward < 0 || c.Backward >= numBackwards:
		return nil, bad(method, "Backward", int(c.Backward), "Identity or Unrolled")
	case !(c.P >= 0 && c.P < 1):
		return nil, bad(method, "P", c.P, "a rejection threshold in [0, 1) (0 for none)")
	case c.Samples < 0:
		return nil, bad(method, "Samples", c.Samples, "≥ 0 (0 for 1)")
	case c.Targets < 0:
		return nil, bad(method, "Targets", c.Targets, "≥ 0 (0 for every wrong label)")
	case c.Inner < 0:
		return nil, bad(method, "Inner", c.Inner, "≥ 0")
	case c.Inner > 0 && c.Objective != Neighbourhood:
		return nil, bad(method, "Inner", c.Inner, "0 unless Objective is Neighbourhood")
	}
	c.Restarts = max(c.Restarts, 1)
	c.samples = max(c.Samples, 1)
	if c.NCN != nil {
		n := *c.NCN
		if err := checkRadius(method, "NCN.Xi", n.Xi); err != nil {
			return nil, err
		}
		if err := checkP(method, "NCN.P", n.P); err != nil {
			return nil, err
		}
		if err := checkNorm(method, n.Norm); err != nil {
			return nil, err
		}
		if err := checkIterations(method, n.Iterations); err != nil {
			return nil, err
		}
		if err := checkStep(method, n.Step); err != nil {
			return nil, err
		}
		if n.Rounds < 0 || n.Batch < 0 {
			return nil, bad(method, "NCN.Rounds/Batch", fmt.Sprint(n.Rounds, "/", n.Batch), "≥ 0")
		}
		c.def = HCNN{Xi: n.Xi, Iterations: n.Iterations, Step: n.Step}
		if c.def.Step == 0 {
			c.def.Step = 2.5 * n.Xi / float64(n.Iterations)
		}
		c.samples = 1
	} else {
		c.def = c.Defense
		h := &c.def
		if err := checkRadius(method, "Defense.Xi", h.Xi); err != nil {
			return nil, err
		}
		if !(h.Lambda >= 0) || math.IsInf(h.Lambda, 0) {
			return nil, bad(method, "Defense.Lambda", h.Lambda, "a finite λ ≥ 0")
		}
		if err := checkNorm(method, h.Norm); err != nil {
			return nil, err
		}
		if h.FirstInput < 0 {
			return nil, bad(method, "Defense.FirstInput", h.FirstInput, "≥ 0")
		}
		if h.Xi > 0 {
			if h.Iterations <= 0 {
				return nil, bad(method, "Defense.Iterations", h.Iterations, "> 0 (when Defense.Xi > 0)")
			}
			if err := checkStep(method, h.Step); err != nil {
				return nil, err
			}
			if h.Step == 0 {
				h.Step = 2.5 * h.Xi / float64(h.Iterations)
			}
		}
		if !h.RandomStart || h.Xi == 0 {
			c.samples = 1
		}
	}
	if c.def.Xi == 0 {
		c.Inner = 0
	}
	if c.Inner > 0 {
		c.worstStep = 2.5 * c.def.Xi / float64(c.Inner)
	}
	return c, nil
}

// targets returns the number of target rows per input for k classes.
func (c *adaptiveRun) targets(k int) int {
	if c.Targets == 0 || c.Targets > k-1 {
		return k - 1
	}
	return c.Targets
}

// innerIters returns the row-steps of one label's defense search.
func (c *adaptiveRun) innerIters() int {
	if c.def.Xi == 0 {
		return 0
	}
	return c.def.Iterations
}

// finalSteps returns the row-steps of the deployed defense on n inputs.
func (c *adaptiveRun) finalSteps(n, k int) (int, error) {
	if c.NCN != nil {
		return c.NCN.RowSteps(n, k)
	}
	return n * k * c.innerIters(), nil
}

// RowSteps returns the planned row-steps of Run: per input, targets·Restarts·((Iterations+1)·
// S·classes·Defense.Iterations + Iterations·S·(B + Inner)) with S the EOT draws and B 2 for
// Margin, else 1; plus the deployed defense's RowSteps on the n kept points.
func (a *Adaptive) RowSteps(n, classes int) (int, error) {
	c, err := a.defaults()
	if err != nil {
		return 0, err
	}
	return c.rowSteps(n, classes, false)
}

// RowStepsFrom returns the planned row-steps of RunFrom with initial points: RowSteps with
// Restarts+1 starts.
func (a *Adaptive) RowStepsFrom(n, classes int) (int, error) {
	c, err := a.defaults()
	if err != nil {
		return 0, err
	}
	return c.rowSteps(n, classes, true)
}

func (c *adaptiveRun) rowSteps(n, k int, warm bool) (int, error) {
	starts := c.Restarts
	if warm {
		starts++
	}
	b := 1
	if c.Objective == Margin {
		b = 2
	}
	rows := n * c.targets(k)
	per := (c.Iterations+1)*c.samples*k*c.innerIters() + c.Iterations*c.samples*(b+c.Inner)
	f, err := c.finalSteps(n, k)
	if err != nil {
		return 0, err
	}
	return rows*starts*per + f, nil
}

// Run attacks the n inputs x (n·d on [0,1]) of true labels labels. On cancellation or a
// progress error it returns the partial result (inputs before Done are finished; the final
// check has not run, so Success is false throughout) with the wrapped error.
func (a *Adaptive) Run(ctx context.Context, exec engine.Executor, x []float32, labels []int) (*AdaptiveResult, error) {
	return a.RunFrom(ctx, exec, x, labels, nil)
}

// RunFrom is Run with initial points: when init is non-nil it holds, in MaxConfidence's CandX
// layout (n·classes·d, the point for target t of input i at (i·classes + t)·d), the point from
// which an extra start of each target begins (clamped into N(x, Eps) ∩ [0,1]), run before
// Run's starts, which are unchanged (see RowStepsFrom). Starting from the paper attack's
// candidates makes the attack judge them by Γ first, so that for a deterministic defense it
// finds every success the paper's attack finds and every success of Run.
func (a *Adaptive) RunFrom(ctx context.Context, exec engine.Executor, x []float32, labels []int, init []float32) (*AdaptiveResult, error) {
	c, err := a.defaults()
	if err != nil {
		return nil, err
	}
	n, d, k, err := shape(adaptiveMethod, exec, x, labels, true)
	if err != nil {
		return nil, err
	}
	c.d, c.k = d, k
	if init != nil {
		if len(init) != n*k*d {
			return nil, bad(adaptiveMethod, "init", fmt.Sprintf("%d values", len(init)), fmt.Sprintf("n·classes·d = %d (MaxConfidence's CandX layout)", n*k*d))
		}
		for i, v := range init {
			if !(v >= 0 && v <= 1) {
				return nil, bad(adaptiveMethod, fmt.Sprintf("init[%d]", i), v, "a pixel in [0, 1]")
			}
		}
	}
	total, err := c.rowSteps(n, k, init != nil)
	if err != nil {
		return nil, err
	}
	m := &meter{fn: c.Progress, total: total}
	// Rows are (input, target) pairs, input-major.
	tg, err := c.chooseTargets(exec, x, labels, n, d, k)
	if err != nil {
		return nil, wrapf(adaptiveMethod, "logits", err)
	}
	per := len(tg) / n
	res := &AdaptiveResult{X: make([]float32, n*d), Success: make([]bool, n), Prediction: make([]int, n),
		Conf: make([]float64, n), Target: make([]int, n), Score: make([]float64, n), Samples: c.samples}
	copy(res.X, x)
	for i := range res.Target {
		res.Target[i], res.Score[i] = -1, math.NaN()
	}
	w := &adaptiveWork{c: c, exec: exec, meter: m}
	// Inputs are attacked in chunks of about Batch/(targets·classes) inputs, so that one
	// embedding call holds about Batch rows.
	chunk := n
	if c.Batch > 0 {
		chunk = max(1, c.Batch/(per*k))
	}
	for first := 0; first < n; first += chunk {
		b := min(first+chunk, n)
		var rows []adaptiveRow
		for i := first; i < b; i++ {
			for _, t := range tg[i*per : (i+1)*per] {
				rows = append(rows, adaptiveRow{i: i, y: labels[i], t: t})
			}
		}
		status, err := w.attack(ctx, rows, x, init)
		res.Steps = w.steps
		if err != nil {
			res.Status = status
			return res, err
		}
		for _, r := range rows {
			if math.IsNaN(res.Score[r.i]) || r.score > res.Score[r.i] {
				res.Score[r.i], res.Target[r.i] = r.score, r.t
				copy(res.X[r.i*d:(r.i+1)*d], r.best)
			}
		}
		res.Done = b
	}
	// The final check: the deployed defense on the kept points.
	if err := w.check(ctx, res, labels, n); err != nil {
		res.Steps = w.steps
		res.Status, err = stopOrFail(adaptiveMethod, err)
		return res, err
	}
	res.Steps, res.Status = w.steps, IterationLimit
	return res, nil
}

// chooseTargets returns per input its target labels (len n·targets, input-major): every wrong
// label in increasing order, or the Targets wrong labels most likely under F at x.
func (c *adaptiveRun) chooseTargets(exec engine.Executor, x []float32, labels []int, n, d, k int) ([]int, error) {
	per := c.targets(k)
	out := make([]int, 0, n*per)
	if per == k-1 {
		for i := 0; i < n; i++ {
			for t := 0; t < k; t++ {
				if t != labels[i] {
					out = append(out, t)
				}
			}
		}
		return out, nil
	}
	lg := make([]float32, n*k)
	if err := forward(exec, lg, x, n, d, k, c.batch(n)); err != nil {
		return nil, err
	}
	for i := 0; i < n; i++ {
		z := lg[i*k : (i+1)*k]
		used := make([]bool, k)
		used[labels[i]] = true
		for range per {
			best := -1
			for t := 0; t < k; t++ {
				if !used[t] && (best < 0 || z[t] > z[best]) {
					best = t
				}
			}
			used[best] = true
			out = append(out, best)
		}
	}
	return out, nil
}

// adaptiveRow is one (input, target) search and its kept iterate.
type adaptiveRow struct {
	i, y, t int
	best    []float32
	score   float64
}

// adaptiveWork holds the state of one Adaptive run.
type adaptiveWork struct {
	c     *adaptiveRun
	exec  engine.Executor
	meter *meter
	steps int
}

// embedding is the defense's per-label searches from m points: per row j and label ℓ (index
// j·k + ℓ) the kept point, its logits (plain forward pass), objective, confidence,
// prediction and, when tracked, derivative mask.
type embedding struct {
	points []float32
	logits []float32
	obj    []float64
	conf   []float64
	pred   []int
	mask   []uint8
}

// batch returns the rows per executor call for a search of rows rows.
func (c *adaptiveRun) batch(rows int) int {
	if c.Batch > 0 {
		return c.Batch
	}
	return max(rows, 1)
}

// embed runs the defense's per-label searches (as HCNN.Run does) from the m points xs, the
// random starts (if any) seeded by seed with the streams of data-set indices ids, tracking
// the derivative masks when masks is set.
func (w *adaptiveWork) embed(ctx context.Context, xs []float32, m int, ids []int, seed uint64, masks bool) (*embedding, Status, error) {
	c, d, k := w.c, w.c.d, w.c.k
	rows := m * k
	e := &embedding{obj: make([]float64, rows), conf: make([]float64, rows), pred: make([]int, rows)}
	h := c.def
	if h.Xi == 0 {
		// The base model: every label's point is x' itself.
		e.points = make([]float32, rows*d)
		e.logits = make([]float32, rows*k)
		lg := make([]float32, m*k)
		if err := forward(w.exec, lg, xs, m, d, k, c.batch(m)); err != nil {
			return nil, Failure, wrapf(adaptiveMethod, "logits", err)
		}
		for r := 0; r < rows; r++ {
			j := r / k
			copy(e.points[r*d:(r+1)*d], xs[j*d:(j+1)*d])
			copy(e.logits[r*k:(r+1)*k], lg[j*k:(j+1)*k])
		}
		if masks {
			e.mask = make([]uint8, rows*d)
			for i := range e.mask {
				e.mask[i] = 1
			}
		}
	} else {
		random := h.RandomStart && c.NCN == nil
		s := &rowSearch{
			method: adaptiveMethod, exec: w.exec, n: rows, d: d, k: k,
			origin: func(r int) []float32 { j := r / k; return xs[j*d : (j+1)*d] },
			eps:    func(int) float64 { return h.Xi },
			step:   func(int) float64 { return h.Step },
			iters:  h.Iterations, starts: 1, random: random, seed: seed, batch: c.batch(rows),
			id:    func(r int) int { return ids[r/k]*k + r%k },
			meter: w.meter,
		}
		// The objective, loss and gradient of HCNN.Run.
		p := make([]float64, k)
		s.score = func(r int, z, x, logits []float32) float64 {
			softmax64(p, logits)
			v := p[r%k]
			if h.Lambda > 0 {
				v -= h.Lambda * h.Norm.dist(z, x)
			}
			return v
		}
		lab := make([]int, rows)
		for r := range lab {
			lab[r] = r % k
		}
		if h.Lambda == 0 {
			s.loss = func(a, b int) engine.Loss { return engine.TargetLogProb{Targets: lab[a:b]} }
		} else {
			s.loss = func(a, b int) engine.Loss { return engine.Prob{Labels: lab[a:b]} }
			s.grad = func(g, z, x []float32, _ int) { h.Norm.subtractGrad(g, z, x, h.Lambda) }
		}
		if masks {
			e.mask = trackMasks(s, random)
		}
		status, err := s.run(ctx)
		w.steps += s.steps
		if err != nil {
			return nil, status, err
		}
		e.points = s.best
		e.logits = make([]float32, rows*k)
		if err := forward(w.exec, e.logits, e.points, rows, d, k, c.batch(rows)); err != nil {
			return nil, Failure, wrapf(adaptiveMethod, "logits", err)
		}
	}
	Confidences(e.conf, e.pred, e.logits, rows, k)
	for r := 0; r < rows; r++ {
		j := r / k
		e.obj[r] = Prob(e.logits[r*k:(r+1)*k], r%k)
		if h.Lambda > 0 {
			e.obj[r] -= h.Lambda * h.Norm.dist(e.points[r*d:(r+1)*d], xs[j*d:(j+1)*d])
		}
	}
	return e, IterationLimit, nil
}

// trackMasks makes the search s record, per row, the derivative mask of its kept iterate
// with respect to its origin (see the derivation at the top of this file): it wraps the
// criterion, which rowSearch evaluates on every iterate z_0, …, z_T of a row in order, and
// mirrors rowSearch.keep's choice of the kept iterate. s must have one start. The returned
// slice (n·d) is filled as the search runs.
func trackMasks(s *rowSearch, random bool) []uint8 {
	n, d := s.n, s.d
	cur := make([]uint8, n*d)
	kept := make([]uint8, n*d)
	seen := make([]bool, n)
	lo, hi := make([]float32, d), make([]float32, d)
	score := s.score
	s.score = func(r int, z, x, logits []float32) float64 {
		v := score(r, z, x, logits)
		m := cur[r*d : (r+1)*d]
		bounds(lo, hi, x, s.eps(r))
		first := !seen[r]
		seen[r] = true
		for j, zj := range z {
			switch {
			case first && !random:
				m[j] = 1 // z_0 = x
			case zj == hi[j]:
				m[j] = b2u(hi[j] < 1) // the ball's x + ξ follows x; the box's 1 does not
			case zj == lo[j]:
				m[j] = b2u(lo[j] > 0)
			case first:
				m[j] = 1 // a random start x + u inside the box
			}
		}
		if !math.IsNaN(v) && (v > s.bestScore[r] || math.IsNaN(s.bestScore[r])) {
			copy(kept[r*d:(r+1)*d], m)
		}
		return v
	}
	return kept
}

func b2u(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// worst runs, for each of the m points xs and its target, the search for the worst point of
// the target in N(x', ξ) (ascending −log F_t, keeping the lowest F_t), returning the points,
// log F_t at them and the masks when asked.
func (w *adaptiveWork) worst(ctx context.Context, xs []float32, m int, targets []int, masks bool) ([]float32, []float64, []uint8, Status, error) {
	c, d, k := w.c, w.c.d, w.c.k
	s := &rowSearch{
		method: adaptiveMethod, exec: w.exec, n: m, d: d, k: k,
		origin: func(j int) []float32 { return xs[j*d : (j+1)*d] },
		eps:    func(int) float64 { return c.def.Xi },
		step:   func(int) float64 { return c.worstStep },
		iters:  c.Inner, starts: 1, batch: c.batch(m), meter: w.meter,
		loss:  func(a, b int) engine.Loss { return engine.CrossEntropy{Labels: targets[a:b]} },
		score: func(j int, _, _, logits []float32) float64 { return -Prob(logits, targets[j]) },
	}
	var mask []uint8
	if masks {
		mask = trackMasks(s, false)
	}
	status, err := s.run(ctx)
	w.steps += s.steps
	if err != nil {
		return nil, nil, nil, status, err
	}
	lp := make([]float64, m)
	for j := range lp {
		lp[j] = logProb(s.bestLogits[j*k:(j+1)*k], targets[j])
	}
	return s.best, lp, mask, IterationLimit, nil
}

// gradAt writes into g (len(targets)·d) the input gradients at the points pts of log F_t
// (raw false) or F_t (raw true), t = targets[r].
func (w *adaptiveWork) gradAt(ctx context.Context, g, pts []float32, targets []int, raw bool) (Status, error) {
	c, d, k := w.c, w.c.d, w.c.k
	n := len(targets)
	bs := c.batch(n)
	logits := make([]float32, bs*k)
	losses := make([]float32, bs)
	for a := 0; a < n; a += bs {
		b := min(a+bs, n)
		if err := ctx.Err(); err != nil {
			return stopped(adaptiveMethod, err)
		}
		var loss engine.Loss = engine.TargetLogProb{Targets: targets[a:b]}
		if raw {
			loss = engine.Prob{Labels: targets[a:b]}
		}
		if err := w.exec.InputGrad(g[a*d:b*d], logits[:(b-a)*k], losses[:b-a], pts[a*d:b*d], b-a, loss); err != nil {
			return Failure, fmt.Errorf("attack: %s: input gradient: %w", adaptiveMethod, err)
		}
		w.steps++
		if !finite(losses[:b-a]) || !finite(g[a*d:b*d]) {
			return Failure, fmt.Errorf("attack: %s: objective is NaN or Inf", adaptiveMethod)
		}
		if err := w.meter.add(b - a); err != nil {
			return stopped(adaptiveMethod, err)
		}
	}
	return IterationLimit, nil
}

// seedFor returns the seed of EOT draw e at step s of start st: a SplitMix64 mix of the
// attack's seed and the three indices.
func seedFor(seed uint64, st, s, e int) uint64 {
	v := seed ^ 0x6a09e667f3bcc909
	for _, x := range []int{st, s, e} {
		v += uint64(x)*0x9e3779b97f4a7c15 + 0x3c6ef372fe94f82b
		v = (v ^ (v >> 30)) * 0xbf58476d1ce4e5b9
		v = (v ^ (v >> 27)) * 0x94d049bb133111eb
		v ^= v >> 31
	}
	return v
}

// judge returns whether Γ, as row j's embedding e gives it, makes an accepted mistake, the
// defended confidence and prediction.
func (w *adaptiveWork) judge(e *embedding, j, y int) (bool, float64, int) {
	c, k := w.c, w.c.k
	base := j * k
	// Algorithm 1's choice: the highest objective, the first on ties.
	best := 0
	for l := 1; l < k; l++ {
		if e.obj[base+l] > e.obj[base+best] {
			best = l
		}
	}
	conf, pred := e.conf[base+best], e.pred[base+best]
	if c.NCN == nil {
		return pred != y && conf >= c.P, conf, pred
	}
	// NCN: the true label must be infeasible; then NCN chooses a feasible label's point, or
	// MCN's choice when none is feasible.
	if Prob(e.logits[(base+y)*k:(base+y+1)*k], y) >= c.NCN.P {
		return false, conf, pred
	}
	ok, any := true, false
	for l := 0; l < k; l++ {
		if Prob(e.logits[(base+l)*k:(base+l+1)*k], l) >= c.NCN.P {
			any = true
			if e.pred[base+l] == y || e.conf[base+l] < c.P {
				ok = false
			}
		}
	}
	if !any {
		return pred != y && conf >= c.P, conf, pred
	}
	return ok, conf, pred
}

// attack runs the rows' searches, leaving each row's kept iterate in best and score.
func (w *adaptiveWork) attack(ctx context.Context, rows []adaptiveRow, x, init []float32) (Status, error) {
	c, d, k := w.c, w.c.d, w.c.k
	m := len(rows)
	x0 := make([]float32, m*d)
	xa := make([]float32, m*d)
	lo, hi := make([]float32, m*d), make([]float32, m*d)
	ids := make([]int, m)
	ys, ts := make([]int, m), make([]int, m)
	for j := range rows {
		r := &rows[j]
		copy(x0[j*d:(j+1)*d], x[r.i*d:(r.i+1)*d])
		bounds(lo[j*d:(j+1)*d], hi[j*d:(j+1)*d], x0[j*d:(j+1)*d], c.Eps)
		ids[j] = c.FirstInput + r.i
		ys[j], ts[j] = r.y, r.t
		r.best = make([]float32, d)
		copy(r.best, x0[j*d:(j+1)*d])
		r.score = math.NaN()
	}
	unrolled := c.Backward == Unrolled
	g := make([]float32, m*d)
	var pcg rand.PCG
	rng := rand.New(&pcg)
	wrong := make([]int, m)
	confSum, lossSum := make([]float64, m), make([]float64, m)
	first := 0
	if init != nil {
		first = -1 // the extra start from init
	}
	for st := first; st < c.Restarts; st++ {
		copy(xa, x0)
		switch {
		case st < 0:
			for j, r := range rows {
				copy(xa[j*d:(j+1)*d], init[(r.i*k+r.t)*d:(r.i*k+r.t+1)*d])
			}
		case c.RandomStart:
			for j, r := range rows {
				pcg.Seed(c.Seed, seq((c.FirstInput+r.i)*k+r.t, st))
				for q := j * d; q < (j+1)*d; q++ {
					xa[q] += float32(c.Eps * (2*rng.Float64() - 1))
				}
			}
		}
		clamp(xa, lo, hi)
		for s := 0; ; s++ {
			if err := ctx.Err(); err != nil {
				return stopped(adaptiveMethod, err)
			}
			last := s == c.Iterations
			clear(g)
			clear(wrong)
			clear(confSum)
			clear(lossSum)
			for e := 0; e < c.samples; e++ {
				emb, status, err := w.embed(ctx, xa, m, ids, seedFor(c.Seed, st, s, e), unrolled && !last)
				if err != nil {
					return status, err
				}
				for j := range rows {
					ok, conf, _ := w.judge(emb, j, ys[j])
					if ok {
						wrong[j]++
						confSum[j] += conf
					}
					lossSum[j] += w.lossValue(emb, j, ys[j], ts[j])
				}
				if last {
					continue
				}
				if status, err := w.gradient(ctx, g, emb, xa, ys, ts, unrolled); err != nil {
					return status, err
				}
			}
			for j := range rows {
				r := &rows[j]
				v := 1 / (1 + math.Exp(-lossSum[j]/float64(c.samples)))
				if wrong[j] > 0 {
					v = float64(wrong[j]) + confSum[j]/float64(wrong[j])
				}
				if math.IsNaN(r.score) || v > r.score {
					r.score = v
					copy(r.best, xa[j*d:(j+1)*d])
				}
			}
			if last {
				break
			}
			for j := range rows {
				h := float32(c.Step)
				for q := j * d; q < (j+1)*d; q++ {
					switch {
					case g[q] > 0:
						xa[q] += h
					case g[q] < 0:
						xa[q] -= h
					}
				}
			}
			clamp(xa, lo, hi)
		}
	}
	return IterationLimit, nil
}

// logObj returns the defense's objective of label l in row j on the scale the losses use:
// log F(z^(l))_l with λ = 0, the raw F(z^(l))_l − λ|z^(l) − x'| otherwise.
func (w *adaptiveWork) logObj(e *embedding, j, l int) float64 {
	k := w.c.k
	r := j*k + l
	if w.c.def.Lambda > 0 {
		return e.obj[r]
	}
	return logProb(e.logits[r*k:(r+1)*k], l)
}

// lossValue returns the objective of row j (target t, label y) at the embedding e, without the
// inner worst point.
func (w *adaptiveWork) lossValue(e *embedding, j, y, t int) float64 {
	c, k := w.c, w.c.k
	switch c.Objective {
	case TargetConfidence:
		return w.logObj(e, j, t)
	case Neighbourhood:
		v := math.Inf(1)
		for l := 0; l < k; l++ {
			r := j*k + l
			v = min(v, logProb(e.logits[r*k:(r+1)*k], t))
		}
		return v
	}
	v := w.logObj(e, j, t) - w.logObj(e, j, y)
	if c.P > 0 {
		v += min(0, w.hingeGap(e, j, t))
	}
	return v
}

// hingeGap returns log F(z^(t))_t − log P (λ = 0) or F(z^(t))_t − P.
func (w *adaptiveWork) hingeGap(e *embedding, j, t int) float64 {
	k := w.c.k
	r := j*k + t
	if w.c.def.Lambda > 0 {
		return Prob(e.logits[r*k:(r+1)*k], t) - w.c.P
	}
	return logProb(e.logits[r*k:(r+1)*k], t) - math.Log(w.c.P)
}

// gradient adds to g the gradient with respect to the iterates xa of every row's objective
// at the embedding e, through the searches by Identity or by their masks.
func (w *adaptiveWork) gradient(ctx context.Context, g []float32, e *embedding, xa []float32, ys, ts []int, unrolled bool) (Status, error) {
	c, d, k := w.c, w.c.d, w.c.k
	m := len(ts)
	raw := c.def.Lambda > 0
	// Each term is a point (row j's label-l point, or its worst point), the label whose
	// (log-)confidence is differentiated there, and a weight.
	type term struct {
		j, l   int
		point  []float32
		mask   []uint8
		weight float32
		dist   bool // the term is a defense objective with a distance penalty
	}
	var terms []term
	at := func(j, l int) ([]float32, []uint8) {
		r := j*k + l
		var mk []uint8
		if unrolled {
			mk = e.mask[r*d : (r+1)*d]
		}
		return e.points[r*d : (r+1)*d], mk
	}
	switch c.Objective {
	case Margin, TargetConfidence:
		for j := 0; j < m; j++ {
			wt := float32(1)
			if c.Objective == Margin && c.P > 0 && w.hingeGap(e, j, ts[j]) < 0 {
				wt = 2
			}
			p, mk := at(j, ts[j])
			terms = append(terms, term{j: j, l: ts[j], point: p, mask: mk, weight: wt, dist: raw})
			if c.Objective == Margin {
				p, mk := at(j, ys[j])
				terms = append(terms, term{j: j, l: ys[j], point: p, mask: mk, weight: -1, dist: raw})
			}
		}
	case Neighbourhood:
		raw = false
		var wp []float32
		var wlp []float64
		var wm []uint8
		if c.Inner > 0 {
			var status Status
			var err error
			if wp, wlp, wm, status, err = w.worst(ctx, xa, m, ts, unrolled); err != nil {
				return status, err
			}
		}
		for j := 0; j < m; j++ {
			t, q, v := ts[j], 0, math.Inf(1)
			for l := 0; l < k; l++ {
				r := j*k + l
				if lp := logProb(e.logits[r*k:(r+1)*k], t); lp < v {
					q, v = l, lp
				}
			}
			p, mk := at(j, q)
			if c.Inner > 0 && wlp[j] < v {
				p = wp[j*d : (j+1)*d]
				mk = nil
				if unrolled {
					mk = wm[j*d : (j+1)*d]
				}
			}
			terms = append(terms, term{j: j, l: t, point: p, mask: mk, weight: 1})
		}
	}
	pts := make([]float32, len(terms)*d)
	labs := make([]int, len(terms))
	for i, tm := range terms {
		copy(pts[i*d:(i+1)*d], tm.point)
		labs[i] = tm.l
	}
	gr := make([]float32, len(terms)*d)
	if status, err := w.gradAt(ctx, gr, pts, labs, raw); err != nil {
		return status, err
	}
	var norm []float32
	for i, tm := range terms {
		gi := gr[i*d : (i+1)*d]
		gj := g[tm.j*d : (tm.j+1)*d]
		for q, v := range gi {
			if tm.mask != nil && tm.mask[q] == 0 {
				continue
			}
			gj[q] += tm.weight * v
		}
		// d/dx' of −λ|z − x'| through the mask: λ(1 − m)⊙∇|u| (zero along Identity).
		if tm.dist && tm.mask != nil {
			if norm == nil {
				norm = make([]float32, d)
			}
			clear(norm)
			xj := xa[tm.j*d : (tm.j+1)*d]
			c.def.Norm.subtractGrad(norm, tm.point, xj, -1) // norm = ∇_z |z − x'|
			lam := float32(c.def.Lambda)
			for q, v := range norm {
				if tm.mask[q] == 0 {
					gj[q] += tm.weight * lam * v
				}
			}
		}
	}
	return IterationLimit, nil
}

// check runs the deployed defense on the kept points and sets Success, Prediction and Conf.
func (w *adaptiveWork) check(ctx context.Context, res *AdaptiveResult, labels []int, n int) error {
	pred, conf, err := w.defend(ctx, res.X, n)
	if err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		res.Prediction[i], res.Conf[i] = pred[i], conf[i]
		res.Success[i] = pred[i] != labels[i] && conf[i] >= w.c.P
	}
	return nil
}

// defend runs the deployed defense (NCN.Run, HCNN.Run, or F itself for ξ = 0) on the n
// points pts and returns Γ and the defended confidence of each, counting its row-steps on
// the meter. A context or progress error comes back as a *stopError.
func (w *adaptiveWork) defend(ctx context.Context, pts []float32, n int) ([]int, []float64, error) {
	c, k := w.c, w.c.k
	pred, conf := make([]int, n), make([]float64, n)
	done0 := w.meter.done
	prog := func(done, total int) error {
		w.meter.done = done0
		return w.meter.add(done)
	}
	var e *Embedding
	var err error
	switch {
	case c.NCN != nil:
		nc := *c.NCN
		if nc.Batch == 0 {
			nc.Batch = c.Batch
		}
		nc.Progress = prog
		e, err = nc.Run(ctx, w.exec, pts)
	case c.def.Xi == 0:
		lg := make([]float32, n*k)
		if ferr := forward(w.exec, lg, pts, n, c.d, k, c.batch(n)); ferr != nil {
			return nil, nil, wrapf(adaptiveMethod, "logits", ferr)
		}
		for i := 0; i < n; i++ {
			conf[i], pred[i] = Confidence(lg[i*k : (i+1)*k])
		}
		return pred, conf, nil
	default:
		h := c.def
		h.Batch, h.Progress = c.Batch, prog
		e, err = h.Run(ctx, w.exec, pts)
	}
	if e != nil {
		w.steps += e.Steps
	}
	if err != nil {
		if e != nil && (e.Status == Canceled || e.Status == Stopped) {
			return nil, nil, &stopError{err}
		}
		return nil, nil, err
	}
	for i := 0; i < n; i++ {
		pred[i], conf[i] = e.Prediction[i], e.Conf[i*e.Candidates+e.Chosen[i]]
	}
	return pred, conf, nil
}
