package attack

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"confrobust/engine"
)

// CW is the modified Carlini–Wagner ℓ∞ attack of the paper's Table 1: it
// looks for a p-confident adversarial example, a point x' of the ball
// N(x, Eps) ∩ [0,1] with F(x')_{y'} ≥ P for some y' ≠ y.
//
// For each wrong target t it minimises with Adam, over w, the loss
//
//	max(0, log(P/(1−P)) + Kappa − (Z_t − logsumexp_{j≠t} Z_j)) + Distance·||x' − x||₂²
//
// of x' = c + r·tanh(w), where [c − r, c + r] = [max(0, x−Eps), min(1, x+Eps)]
// coordinatewise, so every iterate lies in the box and the ball (x' is
// clamped to the interval after tanh, guarding rounding). The first term is
// zero exactly when F(x')_t ≥ P. Starts: the first start is w = 0 (the
// interval's centre); later ones draw tanh(w) uniformly in (−0.99, 0.99).
// The search runs target by target, start by start (all targets of start s
// before start s+1), batched over inputs and targets, and drops an input as
// soon as one of its iterates is confirmed p-confident by the plain forward
// pass (Logits and softmax) — the returned point is checked that way. Which
// p-confident point is returned depends on Batch (the pairs run together);
// the result is deterministic for a given configuration.
type CW struct {
	// Eps is the ball's radius on the [0,1] pixel scale (≥ 0).
	Eps float64
	// P is the confidence sought, in (0, 1).
	P float64
	// Iterations is the number of Adam steps per target and start (> 0).
	Iterations int
	// Restarts is the number of starts per target; 0 means 1.
	Restarts int
	// LearningRate is Adam's step size in w; 0 means 0.1.
	LearningRate float64
	// Kappa (≥ 0) raises the loss's threshold on the logit margin, so that
	// the optimisation aims past P; 0 means none.
	Kappa float64
	// Distance (≥ 0) weighs the optional ||x' − x||₂² term; 0 (the default)
	// leaves it out, since the ball constraint is hard.
	Distance float64
	// Batch is the number of rows per executor call; 0 means all at once.
	Batch int
	// Seed seeds the random starts; FirstInput is the data-set index of the
	// first input of x (see PGD.FirstInput).
	Seed       uint64
	FirstInput int
	// Progress, when set, is called after every step.
	Progress Progress
}

// Adam's constants (Kingma and Ba's defaults, as in Carlini and Wagner).
const (
	adamBeta1 = 0.9
	adamBeta2 = 0.999
	adamEps   = 1e-8
)

// CWResult is the outcome of a CW attack on n inputs.
type CWResult struct {
	// X holds, per input, its p-confident point when Found, else the point of
	// highest wrong-label confidence seen (x' of start 0 at least).
	X []float32
	// Found reports max_{y'≠y} F(X_i)_{y'} ≥ P by the plain forward pass.
	Found []bool
	// Conf is max_{y'≠y} F(X_i)_{y'} and Label the y' attaining it, from the
	// plain forward pass.
	Conf  []float64
	Label []int
	// Steps is the number of InputGrad calls made.
	Steps  int
	Status Status
}

// Run attacks the n inputs x (n·d) of true labels labels.
func (a *CW) Run(ctx context.Context, exec engine.Executor, x []float32, labels []int) (*CWResult, error) {
	const method = "CW"
	c := *a
	if err := checkRadius(method, "Eps", c.Eps); err != nil {
		return nil, err
	}
	if err := checkP(method, "P", c.P); err != nil {
		return nil, err
	}
	if err := checkIterations(method, c.Iterations); err != nil {
		return nil, err
	}
	switch {
	case c.Restarts < 0:
		return nil, bad(method, "Restarts", c.Restarts, "≥ 0")
	case !(c.LearningRate >= 0) || math.IsInf(c.LearningRate, 0):
		return nil, bad(method, "LearningRate", c.LearningRate, "≥ 0 (0 for 0.1)")
	case !(c.Kappa >= 0) || math.IsInf(c.Kappa, 0):
		return nil, bad(method, "Kappa", c.Kappa, "a finite value ≥ 0")
	case !(c.Distance >= 0) || math.IsInf(c.Distance, 0):
		return nil, bad(method, "Distance", c.Distance, "a finite value ≥ 0")
	case c.Batch < 0:
		return nil, bad(method, "Batch", c.Batch, "≥ 0 (0 for all rows at once)")
	case c.FirstInput < 0:
		return nil, bad(method, "FirstInput", c.FirstInput, "≥ 0")
	}
	if c.Restarts == 0 {
		c.Restarts = 1
	}
	if c.LearningRate == 0 {
		c.LearningRate = 0.1
	}
	n, d, k, err := shape(method, exec, x, labels, true)
	if err != nil {
		return nil, err
	}
	rowsPer := k - 1
	if c.Batch == 0 {
		c.Batch = max(n*rowsPer, 1)
	}
	res := &CWResult{X: make([]float32, n*d), Found: make([]bool, n), Conf: make([]float64, n), Label: make([]int, n)}
	copy(res.X, x)
	best := make([]float64, n)
	for i := range best {
		best[i] = math.Inf(-1)
		res.Label[i] = -1
	}
	w := cwWork{c: &c, exec: exec, d: d, k: k, x: x, labels: labels, res: res, best: best,
		meter: &meter{fn: c.Progress, total: n * rowsPer * c.Restarts * c.Iterations}}
	w.alloc(min(c.Batch, n*rowsPer))
	if _, ok := exec.(engine.Searcher); ok {
		w.device, w.rates = true, c.adamRates()
	}
	w.threshold = math.Log(c.P/(1-c.P)) + c.Kappa
	for s := 0; s < c.Restarts; s++ {
		// Pairs (input, target) still open, input-major; chunks are drawn
		// lazily so that inputs found in one chunk leave the next ones.
		next := 0
		for {
			var chunk []int
			for ; next < n*rowsPer && len(chunk) < c.Batch; next++ {
				if !res.Found[next/rowsPer] {
					chunk = append(chunk, next)
				}
			}
			if len(chunk) == 0 {
				break
			}
			if err := w.chunk(ctx, chunk, s); err != nil {
				res.Steps = w.steps
				res.Status, err = stopOrFail(method, err)
				return res, err
			}
		}
	}
	res.Steps = w.steps
	res.Status = Success
	for _, f := range res.Found {
		if !f {
			res.Status = IterationLimit
		}
	}
	_ = w.meter.add(w.meter.total - w.meter.done)
	return res, nil
}

// stopOrFail classifies an error of a search loop.
func stopOrFail(method string, err error) (Status, error) {
	if se, ok := err.(*stopError); ok {
		return stopped(method, se.err)
	}
	return Failure, err
}

// stopError marks a context or progress error inside a loop.
type stopError struct{ err error }

func (e *stopError) Error() string { return e.err.Error() }

// cwWork holds the state and scratch space of one CW run.
type cwWork struct {
	c         *CW
	exec      engine.Executor
	d, k      int
	x         []float32
	labels    []int
	res       *CWResult
	best      []float64 // highest wrong-label confidence per input so far
	threshold float64
	meter     *meter
	steps     int

	xs, ctr, rad, wv, th, xp, g, m, v, lo, hi []float32
	logits, losses                            []float32
	targets                                   []int
	p                                         []float64
	rng                                       *rand.Rand
	pcg                                       rand.PCG
	// device says whether chunks go to the executor's engine.Searcher.
	device bool
	rates  []float64
	search engine.SearchResult
}

// adamRates returns the bias-corrected Adam steps of iterations updates,
// with the products of β1 and β2 accumulated as the host loop does.
func (c *CW) adamRates() []float64 {
	r := make([]float64, c.Iterations)
	b1, b2 := 1.0, 1.0
	for t := range r {
		b1 *= adamBeta1
		b2 *= adamBeta2
		r[t] = c.LearningRate * math.Sqrt(1-b2) / (1 - b1)
	}
	return r
}

// chunkDevice runs the Adam search of the m pairs prepared in w (rows,
// targets, bounds, starts) on the executor's Searcher, then merges each
// input's rows as the host loop decides: an input whose rows reached P
// keeps the point of the earliest step (the first row on ties), otherwise
// the point of highest wrong-label confidence (recomputed in float64) if
// it beats the input's best so far. ran is false, with nothing done, when
// the executor does not support the search.
func (w *cwWork) chunkDevice(ctx context.Context, rows []int) (ran bool, err error) {
	c, d, k := w.c, w.d, w.k
	m, md := len(rows), len(rows)*d
	groups, labels := make([]int, m), make([]int, m)
	for j, r := range rows {
		groups[j] = r / (k - 1)
		labels[j] = w.labels[groups[j]]
	}
	var progErr error
	req := &engine.Search{N: m, Lo: w.lo[:md], Hi: w.hi[:md], Origin: w.xs[:md], Start: w.wv[:md], Steps: c.Iterations,
		Loss:   engine.ConfidenceHinge{Targets: w.targets[:m], Threshold: w.threshold},
		Adam:   &engine.Adam{Rates: w.rates, Beta1: adamBeta1, Beta2: adamBeta2, Epsilon: adamEps, Distance: c.Distance},
		Keep:   engine.Keep{Rule: engine.KeepFirstAbove, Criterion: engine.WrongConfidence{Labels: labels}, Threshold: c.P},
		Groups: groups,
		Progress: func(steps int) error {
			if err := w.meter.add(m * steps); err != nil {
				progErr = err
				return err
			}
			return nil
		},
	}
	if err := ctx.Err(); err != nil {
		return true, &stopError{err}
	}
	res := &w.search
	switch err := w.exec.(engine.Searcher).Search(ctx, res, req); {
	case err == nil:
	case errors.Is(err, engine.ErrUnsupported):
		return false, nil
	case progErr != nil:
		return true, &stopError{progErr}
	case ctx.Err() != nil:
		return true, &stopError{ctx.Err()}
	case errors.Is(err, engine.ErrNotFinite):
		return true, fmt.Errorf("attack: CW: objective is NaN or Inf: %w", err)
	default:
		return true, fmt.Errorf("attack: CW: search: %w", err)
	}
	w.steps += res.Steps
	// Rows of one input are adjacent (pairs are input-major).
	for a := 0; a < m; {
		b := a
		for b < m && groups[b] == groups[a] {
			b++
		}
		i := groups[a]
		win, first := -1, -1
		var winConf float64
		for j := a; j < b; j++ {
			if res.Time[j] < 0 {
				continue
			}
			if res.Score[j] >= c.P && (first < 0 || res.Time[j] < res.Time[first]) {
				first = j
			}
			conf, _ := wrongConf(w.p, res.Logits[j*k:(j+1)*k], w.labels[i])
			if win < 0 || conf > winConf || conf == winConf && res.Time[j] < res.Time[win] {
				win, winConf = j, conf
			}
		}
		if first >= 0 {
			win = first
			winConf, _ = wrongConf(w.p, res.Logits[win*k:(win+1)*k], w.labels[i])
		}
		if win >= 0 && (first >= 0 || winConf > w.best[i]) {
			w.best[i] = winConf
			copy(w.res.X[i*d:(i+1)*d], res.X[win*d:(win+1)*d])
		}
		a = b
	}
	return true, nil
}

func (w *cwWork) alloc(m int) {
	md := m * w.d
	for _, p := range []*[]float32{&w.xs, &w.ctr, &w.rad, &w.wv, &w.th, &w.xp, &w.g, &w.m, &w.v, &w.lo, &w.hi} {
		*p = make([]float32, md)
	}
	w.logits = make([]float32, m*w.k)
	w.losses = make([]float32, m)
	w.targets = make([]int, m)
	w.p = make([]float64, w.k)
	w.rng = rand.New(&w.pcg)
}

// chunk runs start s of the pairs in rows (input i = r/(k−1), target the
// (r mod (k−1))-th wrong label).
func (w *cwWork) chunk(ctx context.Context, rows []int, s int) error {
	c, d, k := w.c, w.d, w.k
	m, md := len(rows), len(rows)*w.d
	for j, r := range rows {
		i := r / (k - 1)
		t := r % (k - 1)
		if t >= w.labels[i] {
			t++
		}
		w.targets[j] = t
		xi := w.x[i*d : (i+1)*d]
		copy(w.xs[j*d:(j+1)*d], xi)
		bounds(w.lo[j*d:(j+1)*d], w.hi[j*d:(j+1)*d], xi, c.Eps)
		if s > 0 {
			w.pcg.Seed(c.Seed, seq((c.FirstInput+i)*k+t, s))
		}
		for q := j * d; q < (j+1)*d; q++ {
			w.ctr[q] = (w.lo[q] + w.hi[q]) / 2
			w.rad[q] = (w.hi[q] - w.lo[q]) / 2
			w.wv[q] = 0
			if s > 0 {
				w.wv[q] = float32(math.Atanh(0.99 * (2*w.rng.Float64() - 1)))
			}
		}
	}
	if w.device {
		if ran, err := w.chunkDevice(ctx, rows); ran || err != nil {
			if err != nil {
				return err
			}
			return w.confirm(rows)
		}
		w.device = false // the executor cannot run this search
	}
	clear(w.m[:md])
	clear(w.v[:md])
	loss := engine.ConfidenceHinge{Targets: w.targets[:m], Threshold: w.threshold}
	b1, b2 := 1.0, 1.0
	for it := 0; ; it++ {
		// x' = c + r·tanh(w), clamped to [lo, hi].
		for q := 0; q < md; q++ {
			th := float32(math.Tanh(float64(w.wv[q])))
			w.th[q] = th
			w.xp[q] = min(max(w.ctr[q]+w.rad[q]*th, w.lo[q]), w.hi[q])
		}
		if it < c.Iterations {
			if err := ctx.Err(); err != nil {
				return &stopError{err}
			}
			if err := w.exec.InputGrad(w.g[:md], w.logits[:m*k], w.losses[:m], w.xp[:md], m, loss); err != nil {
				return fmt.Errorf("attack: CW: input gradient: %w", err)
			}
			w.steps++
			if !finite(w.losses[:m]) {
				return fmt.Errorf("attack: CW: objective is NaN or Inf at step %d", it)
			}
		} else if err := w.exec.Logits(w.logits[:m*k], w.xp[:md], m); err != nil {
			return fmt.Errorf("attack: CW: logits: %w", err)
		}
		// Keep the iterate of highest wrong-label confidence per input.
		done := true
		for j, r := range rows {
			i := r / (k - 1)
			if w.res.Found[i] || w.best[i] >= c.P {
				continue // the first p-confident point stands
			}
			conf, _ := wrongConf(w.p, w.logits[j*k:(j+1)*k], w.labels[i])
			if conf > w.best[i] {
				w.best[i] = conf
				copy(w.res.X[i*d:(i+1)*d], w.xp[j*d:(j+1)*d])
			}
			if w.best[i] < c.P {
				done = false
			}
		}
		if it == c.Iterations || done {
			break
		}
		// Adam on w with ∂L/∂w = ∂L/∂x'·r·(1 − tanh²w).
		b1 *= adamBeta1
		b2 *= adamBeta2
		lr := c.LearningRate * math.Sqrt(1-b2) / (1 - b1)
		for j := 0; j < m; j++ {
			xi := w.xs[j*d : (j+1)*d]
			for q := j * d; q < (j+1)*d; q++ {
				gq := float64(w.g[q])
				if c.Distance > 0 {
					gq += 2 * c.Distance * float64(w.xp[q]-xi[q-j*d])
				}
				gq *= float64(w.rad[q]) * (1 - float64(w.th[q])*float64(w.th[q]))
				mq := adamBeta1*float64(w.m[q]) + (1-adamBeta1)*gq
				vq := adamBeta2*float64(w.v[q]) + (1-adamBeta2)*gq*gq
				w.m[q], w.v[q] = float32(mq), float32(vq)
				w.wv[q] -= float32(lr * mq / (math.Sqrt(vq) + adamEps))
			}
		}
		if err := w.meter.add(m); err != nil {
			return &stopError{err}
		}
	}
	return w.confirm(rows)
}

// confirm recomputes, with the plain forward pass, the wrong-label
// confidence of the kept point of every input of rows, and sets Found.
func (w *cwWork) confirm(rows []int) error {
	d, k := w.d, w.k
	var ins []int
	seen := map[int]bool{}
	for _, r := range rows {
		i := r / (k - 1)
		if !seen[i] && !w.res.Found[i] {
			seen[i] = true
			ins = append(ins, i)
		}
	}
	xs := make([]float32, len(ins)*d)
	for j, i := range ins {
		copy(xs[j*d:(j+1)*d], w.res.X[i*d:(i+1)*d])
	}
	lg := make([]float32, len(ins)*k)
	if err := forward(w.exec, lg, xs, len(ins), d, k, w.c.Batch); err != nil {
		return fmt.Errorf("attack: CW: logits: %w", err)
	}
	for j, i := range ins {
		conf, y := wrongConf(w.p, lg[j*k:(j+1)*k], w.labels[i])
		w.res.Conf[i], w.res.Label[i] = conf, y
		w.best[i] = conf
		w.res.Found[i] = conf >= w.c.P
	}
	return nil
}

// wrongConf returns max_{j≠y} softmax(z)_j and its j.
func wrongConf(p []float64, z []float32, y int) (float64, int) {
	softmax64(p[:len(z)], z)
	best := -1
	for j := range z {
		if j != y && (best < 0 || p[j] > p[best]) {
			best = j
		}
	}
	return p[best], best
}
