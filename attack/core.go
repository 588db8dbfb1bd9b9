package attack

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"confrobust/engine"
)

// rowSearch is the projected sign-gradient ascent that every PGD-style search
// of the package runs: n rows, each an origin x_r with its own radius, start
// policy, objective (the executor loss, maximised) and criterion for the
// iterate to keep.
//
// One start of one chunk of m rows costs Iterations InputGrad calls and one
// Logits call. The InputGrad at z_t yields the logits of z_t, on which the
// criterion of z_t is evaluated before the step; the final Logits call
// evaluates the last iterate z_T. So the points z_0, …, z_T are all judged,
// and a step costs one forward and backward pass plus O(m·(d+k)) work.
type rowSearch struct {
	method   string
	exec     engine.Executor
	n, d, k  int
	origin   func(r int) []float32 // x_r (d values)
	eps      func(r int) float64
	step     func(r int) float64
	iters    int
	starts   int
	random   bool
	seed     uint64
	id       func(r int) int // the identity of row r's random streams
	batch    int
	keepLast bool
	// loss returns the executor loss, maximised, of rows [a, b).
	loss func(a, b int) engine.Loss
	// grad, when set, adds O(d) terms to the input gradient g of row r at z
	// (for HCNN's distance penalty).
	grad func(g, z, x []float32, r int)
	// score is the criterion of row r at z with logits: higher is kept.
	score func(r int, z, x, logits []float32) float64
	meter *meter
	// device, when set, describes the search of the rows listed (a row may
	// repeat, once per start) to an executor that implements
	// engine.Searcher: the loss ascended (with penalty, which s.grad
	// computes on the host) and the criterion by which it keeps one point
	// per row. nil: the search always steps through InputGrad.
	device  func(rows []int) (engine.Loss, engine.Keep)
	penalty engine.Penalty

	// Results: the kept point of every row, its logits and score.
	best       []float32
	bestLogits []float32
	bestScore  []float64
	rowsDone   int // rows whose search finished
	steps      int // InputGrad calls
}

// run searches all rows. On a stop it returns the status and the wrapped
// error; the rows past rowsDone keep their origin as best point.
func (s *rowSearch) run(ctx context.Context) (Status, error) {
	n, d, k := s.n, s.d, s.k
	s.best = make([]float32, n*d)
	s.bestLogits = make([]float32, n*k)
	s.bestScore = make([]float64, n)
	for r := 0; r < n; r++ {
		copy(s.best[r*d:(r+1)*d], s.origin(r))
		s.bestScore[r] = math.NaN() // nothing kept yet
	}
	if dev, ok := s.exec.(engine.Searcher); ok && s.device != nil {
		if status, ran, err := s.runDevice(ctx, dev); ran {
			return status, err
		}
	}
	m := min(s.batch, n)
	x := make([]float32, m*d)
	z := make([]float32, m*d)
	g := make([]float32, m*d)
	lo := make([]float32, m*d)
	hi := make([]float32, m*d)
	logits := make([]float32, m*k)
	losses := make([]float32, m)
	steps := make([]float32, m)
	var pcg rand.PCG
	rng := rand.New(&pcg)
	for a := 0; a < n; a += s.batch {
		b := min(a+s.batch, n)
		m := b - a
		for i := 0; i < m; i++ {
			r := a + i
			xr := x[i*d : (i+1)*d]
			copy(xr, s.origin(r))
			bounds(lo[i*d:(i+1)*d], hi[i*d:(i+1)*d], xr, s.eps(r))
			steps[i] = float32(s.step(r))
		}
		loss := s.loss(a, b)
		for st := 0; st < s.starts; st++ {
			copy(z[:m*d], x[:m*d])
			if s.random {
				for i := 0; i < m; i++ {
					pcg.Seed(s.seed, seq(s.id(a+i), st))
					e := s.eps(a + i)
					for j := i * d; j < (i+1)*d; j++ {
						z[j] += float32(e * (2*rng.Float64() - 1))
					}
				}
				clamp(z[:m*d], lo[:m*d], hi[:m*d])
			}
			for t := 0; ; t++ {
				if t < s.iters {
					if err := ctx.Err(); err != nil {
						return stopped(s.method, err)
					}
					if err := s.exec.InputGrad(g[:m*d], logits[:m*k], losses[:m], z[:m*d], m, loss); err != nil {
						return Failure, fmt.Errorf("attack: %s: input gradient: %w", s.method, err)
					}
					s.steps++
					if !finite(losses[:m]) {
						return Failure, fmt.Errorf("attack: %s: objective is NaN or Inf at step %d", s.method, t)
					}
				} else if err := s.exec.Logits(logits[:m*k], z[:m*d], m); err != nil {
					return Failure, fmt.Errorf("attack: %s: logits: %w", s.method, err)
				}
				s.keep(a, m, z, x, logits)
				if t == s.iters {
					break
				}
				for i := 0; i < m; i++ {
					zi, gi := z[i*d:(i+1)*d], g[i*d:(i+1)*d]
					if s.grad != nil {
						s.grad(gi, zi, x[i*d:(i+1)*d], a+i)
					}
					h := steps[i]
					for j, v := range gi {
						switch {
						case v > 0:
							zi[j] += h
						case v < 0:
							zi[j] -= h
						}
					}
				}
				clamp(z[:m*d], lo[:m*d], hi[:m*d])
				if err := s.meter.add(m); err != nil {
					return stopped(s.method, err)
				}
			}
		}
		s.rowsDone = b
	}
	return IterationLimit, nil
}

// keep evaluates the criterion of the m rows z (with logits) starting at row a
// and keeps the improved ones.
func (s *rowSearch) keep(a, m int, z, x, logits []float32) {
	d, k := s.d, s.k
	for i := 0; i < m; i++ {
		r := a + i
		zi, li := z[i*d:(i+1)*d], logits[i*k:(i+1)*k]
		v := s.score(r, zi, x[i*d:(i+1)*d], li)
		if math.IsNaN(v) {
			continue
		}
		if s.keepLast || v > s.bestScore[r] || math.IsNaN(s.bestScore[r]) {
			s.bestScore[r] = v
			copy(s.best[r*d:(r+1)*d], zi)
			copy(s.bestLogits[r*k:(r+1)*k], li)
		}
	}
}

// runDevice runs the search through the executor's Searcher: the rows'
// starts become rows of their own ((row, start) pairs, row-major), Batch of
// them per Search, each with the random stream of its row and start, so the
// device sees batches across rows and restarts. Each pair's kept point is
// judged again on the host with s.score (float64, from the logits the
// device computed) and merged into its row in start order by the same rule
// as keep, so that the rows keep the same points as on the InputGrad path
// up to float rounding. ran is false, with nothing done, when the executor
// does not support the search (engine.ErrUnsupported): then run steps
// through InputGrad.
func (s *rowSearch) runDevice(ctx context.Context, dev engine.Searcher) (status Status, ran bool, err error) {
	n, d := s.n, s.d
	items := n * s.starts
	m := min(s.batch, items)
	req := &engine.Search{Steps: s.iters, Lo: make([]float32, m*d), Hi: make([]float32, m*d),
		Origin: make([]float32, m*d), Start: make([]float32, m*d), Step: make([]float32, m), Penalty: s.penalty}
	rows := make([]int, m)
	var res engine.SearchResult
	var pcg rand.PCG
	rng := rand.New(&pcg)
	var progErr error
	for a := 0; a < items; a += s.batch {
		b := min(a+s.batch, items)
		cm := b - a
		rows = rows[:cm]
		for j := 0; j < cm; j++ {
			q := a + j
			r, st := q/s.starts, q%s.starts
			rows[j] = r
			xr, zr := req.Origin[j*d:(j+1)*d], req.Start[j*d:(j+1)*d]
			lo, hi := req.Lo[j*d:(j+1)*d], req.Hi[j*d:(j+1)*d]
			copy(xr, s.origin(r))
			e := s.eps(r)
			bounds(lo, hi, xr, e)
			req.Step[j] = float32(s.step(r))
			copy(zr, xr)
			if s.random {
				pcg.Seed(s.seed, seq(s.id(r), st))
				for i := range zr {
					zr[i] += float32(e * (2*rng.Float64() - 1))
				}
				clamp(zr, lo, hi)
			}
		}
		req.N = cm
		req.Lo, req.Hi, req.Origin, req.Start, req.Step = req.Lo[:cm*d], req.Hi[:cm*d], req.Origin[:cm*d], req.Start[:cm*d], req.Step[:cm]
		req.Loss, req.Keep = s.device(rows)
		req.Progress = func(k int) error {
			if err := s.meter.add(cm * k); err != nil {
				progErr = err
				return err
			}
			return nil
		}
		if err := ctx.Err(); err != nil {
			st, err := stopped(s.method, err)
			return st, true, err
		}
		err := dev.Search(ctx, &res, req)
		switch {
		case err == nil:
		case a == 0 && errors.Is(err, engine.ErrUnsupported):
			return NotTerminated, false, nil
		case progErr != nil:
			st, err := stopped(s.method, progErr)
			return st, true, err
		case ctx.Err() != nil:
			st, err := stopped(s.method, ctx.Err())
			return st, true, err
		case errors.Is(err, engine.ErrNotFinite):
			return Failure, true, fmt.Errorf("attack: %s: objective is NaN or Inf: %w", s.method, err)
		default:
			return Failure, true, fmt.Errorf("attack: %s: search: %w", s.method, err)
		}
		s.steps += res.Steps
		s.merge(rows, req.Origin, &res)
		s.rowsDone = b / s.starts
	}
	return IterationLimit, true, nil
}

// merge keeps, for each (row, start) pair j of a device search, its kept
// point when it beats the row's point so far, by s.score recomputed on the
// host (as keep does for every iterate on the InputGrad path).
func (s *rowSearch) merge(rows []int, origin []float32, res *engine.SearchResult) {
	d, k := s.d, s.k
	for j, r := range rows {
		if res.Time[j] < 0 {
			continue // nothing kept (every criterion NaN)
		}
		zj, lj := res.X[j*d:(j+1)*d], res.Logits[j*k:(j+1)*k]
		v := s.score(r, zj, origin[j*d:(j+1)*d], lj)
		if math.IsNaN(v) {
			continue
		}
		if s.keepLast || v > s.bestScore[r] || math.IsNaN(s.bestScore[r]) {
			s.bestScore[r] = v
			copy(s.best[r*d:(r+1)*d], zj)
			copy(s.bestLogits[r*k:(r+1)*k], lj)
		}
	}
}

// pick returns v[rows[j]] for every j, or nil for nil v.
func pick(v, rows []int) []int {
	if v == nil {
		return nil
	}
	out := make([]int, len(rows))
	for j, r := range rows {
		out[j] = v[r]
	}
	return out
}
