package engine

import (
	"context"
	"fmt"
	"math"
)

// RunSearch runs s on any executor through InputGrad and Logits, one
// executor call per step, and writes its outcome into res: the definition
// of a Search's semantics, which every Searcher follows up to float
// rounding (the criteria here are computed in float64, the steps in
// float32). It returns the errors Searcher.Search documents.
func RunSearch(ctx context.Context, exec Executor, res *SearchResult, s *Search) error {
	g := exec.Model().Graph
	d, k := g.Input.Size(), g.Classes
	if err := CheckSearch(s, d, k); err != nil {
		return err
	}
	n, nd := s.N, s.N*d
	res.alloc(n, d, k)
	u := append([]float32(nil), s.Start[:nd]...) // z (sign steps) or w (Adam)
	z, grad := make([]float32, nd), make([]float32, nd)
	logits, losses := make([]float32, n*k), make([]float32, n)
	var ctr, rad, th, m, v []float32
	if s.Adam != nil {
		ctr, rad, th = make([]float32, nd), make([]float32, nd), make([]float32, nd)
		m, v = make([]float32, nd), make([]float32, nd)
		for q := range ctr {
			ctr[q] = (s.Lo[q] + s.Hi[q]) / 2
			rad[q] = (s.Hi[q] - s.Lo[q]) / 2
		}
	}
	frozen := make([]bool, n)
	for t := 0; ; t++ {
		if s.Adam == nil {
			copy(z, u)
		} else {
			for q := range z {
				th[q] = float32(math.Tanh(float64(u[q])))
				z[q] = min(max(ctr[q]+rad[q]*th[q], s.Lo[q]), s.Hi[q])
			}
		}
		if t < s.Steps {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("engine: search: after %d of %d steps: %w", t, s.Steps, err)
			}
			if err := exec.InputGrad(grad, logits, losses, z, n, s.Loss); err != nil {
				return fmt.Errorf("engine: search: step %d: %w", t, err)
			}
			for _, l := range losses {
				if math.IsNaN(float64(l)) || math.IsInf(float64(l), 0) {
					return fmt.Errorf("%w at step %d", ErrNotFinite, t)
				}
			}
			res.Steps = t + 1
		} else if err := exec.Logits(logits, z, n); err != nil {
			return fmt.Errorf("engine: search: last point: %w", err)
		}
		for i := 0; i < n; i++ {
			res.keep(s, i, t, z[i*d:(i+1)*d], logits[i*k:(i+1)*k], frozen, d)
		}
		if t == s.Steps || groupsDone(s.Groups, frozen, n) {
			return nil
		}
		if s.Adam == nil {
			for i := 0; i < n; i++ {
				zi, gi := u[i*d:(i+1)*d], grad[i*d:(i+1)*d]
				if s.Penalty.Lambda > 0 {
					s.Penalty.SubtractGrad(gi, zi, s.Origin[i*d:(i+1)*d])
				}
				h := s.Step[i]
				for j, g := range gi {
					switch {
					case g > 0:
						zi[j] += h
					case g < 0:
						zi[j] -= h
					}
				}
			}
			for q := range u {
				u[q] = min(max(u[q], s.Lo[q]), s.Hi[q])
			}
		} else {
			s.Adam.update(u, m, v, grad, z, s.Origin, rad, th, t)
		}
		if s.Progress != nil {
			if err := s.Progress(1); err != nil {
				return fmt.Errorf("engine: search: progress: %w", err)
			}
		}
	}
}

// update applies Adam's step t to w (see Adam).
func (a *Adam) update(w, m, v, grad, z, origin, rad, th []float32, t int) {
	lr := a.Rates[t]
	for q := range w {
		gq := float64(grad[q])
		if a.Distance > 0 {
			gq += 2 * a.Distance * float64(z[q]-origin[q])
		}
		gq *= float64(rad[q]) * (1 - float64(th[q])*float64(th[q]))
		mq := a.Beta1*float64(m[q]) + (1-a.Beta1)*gq
		vq := a.Beta2*float64(v[q]) + (1-a.Beta2)*gq*gq
		m[q], v[q] = float32(mq), float32(vq)
		w[q] -= float32(lr * mq / (math.Sqrt(vq) + a.Epsilon))
	}
}

// Dist returns |z − x| in the penalty's norm, in float64.
func (p Penalty) Dist(z, x []float32) float64 {
	s := 0.0
	for j, v := range z {
		e := float64(v) - float64(x[j])
		if p.Norm == Norm2 {
			s += e * e
		} else {
			s = max(s, math.Abs(e))
		}
	}
	if p.Norm == Norm2 {
		return math.Sqrt(s)
	}
	return s
}

// SubtractGrad subtracts λ·∂|z − x|/∂z from g (see Norm), in float64
// rounded to float32.
func (p Penalty) SubtractGrad(g, z, x []float32) {
	if p.Norm == Norm2 {
		dist := p.Dist(z, x)
		if dist == 0 {
			return
		}
		for j, v := range z {
			g[j] -= float32(p.Lambda * (float64(v) - float64(x[j])) / dist)
		}
		return
	}
	arg, m := -1, 0.0
	for j, v := range z {
		if e := math.Abs(float64(v) - float64(x[j])); e > m {
			arg, m = j, e
		}
	}
	if arg >= 0 {
		if z[arg] > x[arg] {
			g[arg] -= float32(p.Lambda)
		} else {
			g[arg] += float32(p.Lambda)
		}
	}
}

// alloc sizes res for n rows and resets its scores and times.
func (res *SearchResult) alloc(n, d, k int) {
	res.X = growF(res.X, n*d)
	res.Logits = growF(res.Logits, n*k)
	if cap(res.Score) < n {
		res.Score = make([]float64, n)
	}
	res.Score = res.Score[:n]
	if cap(res.Time) < n {
		res.Time = make([]int, n)
	}
	res.Time = res.Time[:n]
	for i := range res.Score {
		res.Score[i], res.Time[i] = math.NaN(), -1
	}
	res.Steps = 0
}

// keep applies s.Keep to row i's point z (logits zl) at step t.
func (res *SearchResult) keep(s *Search, i, t int, z, zl []float32, frozen []bool, d int) {
	k := len(zl)
	take := func(score float64) {
		res.Score[i], res.Time[i] = score, t
		copy(res.X[i*d:(i+1)*d], z)
		copy(res.Logits[i*k:(i+1)*k], zl)
	}
	if s.Keep.Rule == KeepLast {
		score := math.NaN()
		if s.Keep.Criterion != nil {
			score = s.Keep.score(s, i, z, zl)
		}
		take(score)
		return
	}
	if frozen[i] {
		return
	}
	v := s.Keep.score(s, i, z, zl)
	if math.IsNaN(v) {
		return
	}
	if math.IsNaN(res.Score[i]) || v > res.Score[i] {
		take(v)
	}
	if s.Keep.Rule == KeepFirstAbove && res.Score[i] >= s.Keep.Threshold {
		frozen[i] = true
	}
}

// score returns the criterion of row i at z with logits zl.
func (k Keep) score(s *Search, i int, z, zl []float32) float64 {
	v := k.Criterion.Criterion(i, zl)
	if k.Penalty && s.Penalty.Lambda > 0 {
		v -= s.Penalty.Lambda * s.Penalty.Dist(z, s.Origin[i*len(z):(i+1)*len(z)])
	}
	return v
}

// groupsDone reports whether every group has a frozen row (false without
// groups).
func groupsDone(groups []int, frozen []bool, n int) bool {
	if groups == nil {
		return false
	}
	done := map[int]bool{}
	for i := 0; i < n; i++ {
		if frozen[i] {
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

func growF(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}
