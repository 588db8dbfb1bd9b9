package attack

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"confrobust/engine"
)

// inBall reports the first coordinate of z outside N(x, eps) ∩ [0,1], or −1.
func inBall(z, x []float32, eps float64) int {
	for j, v := range z {
		if !(v >= 0 && v <= 1) || math.Abs(float64(v)-float64(x[j%len(x)])) > eps {
			return j
		}
	}
	return -1
}

func checkBall(t *testing.T, what string, z, x []float32, d int, eps float64) {
	t.Helper()
	n := len(z) / d
	per := n / (len(x) / d) // candidates per input
	for r := 0; r < n; r++ {
		i := r / per
		if j := inBall(z[r*d:(r+1)*d], x[i*d:(i+1)*d], eps); j >= 0 {
			t.Fatalf("%s: row %d coordinate %d = %v outside the ball of %v (x = %v) ∩ [0,1]", what, r, j, z[r*d+j], eps, x[i*d+j])
		}
	}
}

// corner is the maximiser over N(x, eps) ∩ [0,1] of the linear function
// u·z: x + eps·sign(u), clipped to the box.
func corner(x, u []float32, eps float64) []float32 {
	lo, hi := make([]float32, len(x)), make([]float32, len(x))
	bounds(lo, hi, x, eps)
	z := slices.Clone(x)
	for j, v := range u {
		switch {
		case v > 0:
			z[j] = hi[j]
		case v < 0:
			z[j] = lo[j]
		}
	}
	return z
}

func TestBoundsExact(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		x := []float32{float32(r.Float64())}
		eps := r.Float64() * 0.1
		lo, hi := make([]float32, 1), make([]float32, 1)
		bounds(lo, hi, x, eps)
		if inBall(lo, x, eps) >= 0 || inBall(hi, x, eps) >= 0 {
			t.Fatalf("bounds(%v, %v) = [%v, %v] leave the ball", x[0], eps, lo[0], hi[0])
		}
		if float64(x[0])+eps <= 1 && float64(hi[0]) < float64(x[0])+eps-1e-6 {
			t.Fatalf("hi = %v too far inside x + eps = %v", hi[0], float64(x[0])+eps)
		}
	}
}

// TestPGDLinearOptimum: on a two-class linear model every loss's gradient
// has the sign of ±(w_t − w_y), so PGD must end at the corner x +
// η·sign(w_t − w_y) of the ball ∩ box, the maximiser of the target's margin.
func TestPGDLinearOptimum(t *testing.T) {
	t.Parallel()
	const d, n, eps = 30, 8, 0.05
	m := randomLinear(4, d, 2, 1)
	x := randomInputs(5, n, d)
	labels := make([]int, n)
	targets := make([]int, n)
	for i := range labels {
		labels[i] = i % 2
		targets[i] = 1 - labels[i]
	}
	inf := float32(math.Inf(1))
	for _, loss := range []Loss{CrossEntropy, TargetLogProb, CWMargin} {
		for _, targeted := range []bool{false, true} {
			a := &PGD{Eps: eps, Iterations: 10, Loss: loss, Kappa: inf, Keep: KeepLast}
			var tg []int
			if targeted {
				tg = targets
			}
			res, err := a.Run(context.Background(), m, x, labels, tg)
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != IterationLimit || res.Steps != 10 {
				t.Errorf("%v targeted=%v: status %v, %d steps", loss, targeted, res.Status, res.Steps)
			}
			for i := 0; i < n; i++ {
				u := make([]float32, d)
				tt, y := targets[i], labels[i]
				for j := range u {
					u[j] = m.w[tt*d+j] - m.w[y*d+j]
				}
				want := corner(x[i*d:(i+1)*d], u, eps)
				if got := res.X[i*d : (i+1)*d]; !slices.Equal(got, want) {
					t.Fatalf("%v targeted=%v input %d: got %v, want the corner %v", loss, targeted, i, got, want)
				}
				// The iterate kept by the highest loss has the corner's
				// margin (earlier iterates within rounding of the corner tie).
				zc := make([]float32, 2)
				m.Logits(zc, want, 1)
				a.Keep = KeepHighestLoss
				hl, err := a.Run(context.Background(), m, x[i*d:(i+1)*d], labels[i:i+1], tg[min(i, len(tg)):min(i+1, len(tg))])
				if err != nil {
					t.Fatal(err)
				}
				mc, mk := float64(zc[tt]-zc[y]), float64(hl.Logits[tt]-hl.Logits[y])
				if math.Abs(mc-mk) > 1e-5*max(1, math.Abs(mc)) {
					t.Fatalf("%v targeted=%v input %d: kept margin %v, corner %v", loss, targeted, i, mk, mc)
				}
			}
		}
	}
}

// TestCWLinearOptimum: with P just below the best confidence attainable in the
// ball, the only p-confident points lie next to the corner x +
// η·sign(w_t − w_y); CW must find one.
func TestCWLinearOptimum(t *testing.T) {
	t.Parallel()
	const d, n, eps, slack = 20, 6, 0.1, 0.02
	m := randomLinear(6, d, 2, 1)
	x := randomInputs(7, n, d)
	for i := 0; i < n; i++ {
		labels := []int{i % 2}
		tt := 1 - labels[0]
		xi := x[i*d : (i+1)*d]
		u := make([]float32, d)
		for j := range u {
			u[j] = m.w[tt*d+j] - m.w[labels[0]*d+j]
		}
		margin := func(z []float32) float64 {
			s := float64(m.b[tt] - m.b[labels[0]])
			for j, v := range z {
				s += float64(u[j]) * float64(v)
			}
			return s
		}
		best := margin(corner(xi, u, eps))
		p := 1 / (1 + math.Exp(-(best - slack)))
		a := &CW{Eps: eps, P: p, Iterations: 300, LearningRate: 0.1}
		res, err := a.Run(context.Background(), m, xi, labels)
		if err != nil {
			t.Fatal(err)
		}
		if !res.Found[0] || res.Status != Success {
			t.Fatalf("input %d: no %v-confident point found (best %v, status %v)", i, p, res.Conf[0], res.Status)
		}
		checkBall(t, "CW", res.X, xi, d, eps)
		got := margin(res.X)
		if got < best-slack-1e-4 || got > best+1e-4 {
			t.Errorf("input %d: margin %v, want in [%v, %v]", i, got, best-slack, best)
		}
		if res.Label[0] != tt || res.Conf[0] < p {
			t.Errorf("input %d: label %d conf %v, want %d ≥ %v", i, res.Label[0], res.Conf[0], tt, p)
		}
	}
}

// recorder wraps an executor and checks every queried point against the
// ball of its row (rows are the inputs in order).
type recorder struct {
	engine.Executor
	t     *testing.T
	x     []float32
	d     int
	eps   float64
	calls int
}

func (r *recorder) InputGrad(dx, logits, losses, x []float32, n int, loss engine.Loss) error {
	r.calls++
	r.t.Helper()
	checkBall(r.t, "query", x, r.x, r.d, r.eps)
	return r.Executor.InputGrad(dx, logits, losses, x, n, loss)
}

// TestProjectionProperty runs every search on random inputs, models,
// radii and step sizes and checks that no point queried or returned leaves
// the ball or the box.
func TestProjectionProperty(t *testing.T) {
	t.Parallel()
	const d, n = 12, 10
	for seed := uint64(0); seed < 15; seed++ {
		r := rand.New(rand.NewPCG(seed, 11))
		m := newMLP(seed, d, 8, 4)
		x := randomInputs(seed+100, n, d)
		eps := []float64{0, 1e-3, 0.03, 0.3, 2}[seed%5]
		labels := make([]int, n)
		for i := range labels {
			labels[i] = r.IntN(4)
		}
		rec := &recorder{Executor: m, t: t, x: x, d: d, eps: eps}
		pgd := &PGD{Eps: eps, Iterations: 7, Step: r.Float64(), Restarts: 2, RandomStart: true, Loss: Loss(1 + seed%3), Keep: Keep(seed % 3), Seed: seed}
		res, err := pgd.Run(context.Background(), rec, x, labels, nil)
		if err != nil {
			t.Fatal(err)
		}
		checkBall(t, "PGD", res.X, x, d, eps)
		mc := &MaxConfidence{PGD: PGD{Eps: eps, Iterations: 5, Restarts: 2, RandomStart: true, Batch: 7, Seed: seed}}
		s, err := mc.Run(context.Background(), m, x, labels)
		if err != nil {
			t.Fatal(err)
		}
		checkBall(t, "MaxConfidence", s.X, x, d, eps)
		cw := &CW{Eps: eps, P: 0.999, Iterations: 6, Restarts: 2, LearningRate: 0.5, Batch: 5, Seed: seed}
		c, err := cw.Run(context.Background(), m, x, labels)
		if err != nil {
			t.Fatal(err)
		}
		checkBall(t, "CW", c.X, x, d, eps)
		h := &HCNN{Xi: eps, Lambda: r.Float64() * float64(seed%2), Norm: Norm(seed % 2), Iterations: 5, Step: r.Float64()}
		e, err := h.Run(context.Background(), m, x)
		if err != nil {
			t.Fatal(err)
		}
		checkBall(t, "HCNN points", e.Points, x, d, eps)
		checkBall(t, "HCNN", e.X, x, d, eps)
		en := &Entropy{Xi: eps, Kind: EntropyKind(seed % 2), Alpha: 2, Iterations: 5, RandomStart: true}
		e, err = en.Run(context.Background(), m, x)
		if err != nil {
			t.Fatal(err)
		}
		checkBall(t, "Entropy", e.X, x, d, eps)
		nc := &NCN{Xi: eps, P: 0.6, Iterations: 4, Rounds: 3}
		e, err = nc.Run(context.Background(), m, x)
		if err != nil {
			t.Fatal(err)
		}
		checkBall(t, "NCN", e.Points, x, d, eps)
	}
}

// TestTargetedMonotone: the kept best-so-far target confidence of a
// targeted PGD never decreases with the number of iterations (runs with
// more iterations extend the same trajectory, since Step is fixed).
func TestTargetedMonotone(t *testing.T) {
	t.Parallel()
	const d, n, k = 10, 12, 5
	m := newMLP(3, d, 16, k)
	x := randomInputs(4, n, d)
	labels, targets := make([]int, n), make([]int, n)
	for i := range targets {
		targets[i] = (labels[i] + 1 + i%(k-1)) % k
	}
	prev := make([]float64, n)
	rose := 0
	for iters := 1; iters <= 25; iters++ {
		a := &PGD{Eps: 0.2, Iterations: iters, Step: 0.02, Loss: TargetLogProb, Keep: KeepHighestLoss}
		res, err := a.Run(context.Background(), m, x, labels, targets)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < n; i++ {
			f := Prob(res.Logits[i*k:(i+1)*k], targets[i])
			if f < prev[i] {
				t.Fatalf("%d iterations, input %d: target confidence %v fell below %v", iters, i, f, prev[i])
			}
			if iters > 1 && f > prev[i] {
				rose++
			}
			prev[i] = f
		}
	}
	if rose == 0 {
		t.Error("the target confidence never rose")
	}
}

// TestMaxConfidence: the Table 2 search returns only misclassified points,
// the most confident of its misclassified candidates, and none when no
// candidate is misclassified.
func TestMaxConfidence(t *testing.T) {
	t.Parallel()
	const d, n, k = 10, 20, 4
	m := newMLP(8, d, 12, k)
	x := randomInputs(9, n, d)
	lg := make([]float32, n*k)
	m.Logits(lg, x, n)
	labels := make([]int, n)
	Confidences(nil, labels, lg, n, k) // the model is right on every input
	for _, eps := range []float64{0.005, 0.05, 0.2} {
		a := &MaxConfidence{PGD: PGD{Eps: eps, Iterations: 20, Restarts: 3, RandomStart: true, Batch: 13, Seed: 1}, KeepCandidates: true}
		s, err := a.Run(context.Background(), m, x, labels)
		if err != nil {
			t.Fatal(err)
		}
		if s.Done != n || s.Status != IterationLimit {
			t.Fatalf("done %d, status %v", s.Done, s.Status)
		}
		checkBall(t, "MaxConfidence", s.X, x, d, eps)
		plain := make([]float32, n*k)
		m.Logits(plain, s.X, n)
		found := 0
		for i := 0; i < n; i++ {
			conf, pred := Confidence(plain[i*k : (i+1)*k])
			best, any := 0.0, false
			for tt := 0; tt < k; tt++ {
				if s.CandWrong[i*k+tt] {
					if tt == labels[i] || s.CandPred[i*k+tt] == labels[i] {
						t.Fatalf("input %d: candidate %d marked wrong with prediction %d = label", i, tt, s.CandPred[i*k+tt])
					}
					any = true
					best = max(best, s.CandConf[i*k+tt])
				}
			}
			// The candidates' recorded confidences are those of their points.
			for tt := 0; tt < k; tt++ {
				if tt == labels[i] {
					continue
				}
				z := make([]float32, k)
				m.Logits(z, s.CandX[(i*k+tt)*d:(i*k+tt+1)*d], 1)
				if c, p := Confidence(z); c != s.CandConf[i*k+tt] || p != s.CandPred[i*k+tt] {
					t.Fatalf("input %d target %d: candidate conf %v pred %d, its point gives %v %d", i, tt, s.CandConf[i*k+tt], s.CandPred[i*k+tt], c, p)
				}
			}
			if s.Wrong[i] != any {
				t.Fatalf("input %d: wrong = %v, but candidates wrong = %v", i, s.Wrong[i], any)
			}
			if !s.Wrong[i] {
				if s.Target[i] != -1 || !slices.Equal(s.X[i*d:(i+1)*d], x[i*d:(i+1)*d]) {
					t.Fatalf("input %d: none found but target %d / point moved", i, s.Target[i])
				}
				continue
			}
			found++
			if pred == labels[i] {
				t.Fatalf("input %d: returned point is classified correctly", i)
			}
			if conf != s.Conf[i] || pred != s.Pred[i] || s.Conf[i] != best {
				t.Fatalf("input %d: conf %v pred %d (plain %v %d), most confident candidate %v", i, s.Conf[i], s.Pred[i], conf, pred, best)
			}
		}
		t.Logf("eps %v: %d/%d adversarial", eps, found, n)
		if eps == 0.2 && found == 0 {
			t.Error("no adversarial example at radius 0.2")
		}
	}
}

// TestHCNNKnownAnswer: on two-pixel linear models, log F_ℓ is concave, so
// each label's search reaches its maximum, and Algorithm 1 with λ = 0 must
// pick the label that a grid search over the ball finds most confident.
func TestHCNNKnownAnswer(t *testing.T) {
	t.Parallel()
	const d, k, xi = 2, 3, 0.15
	checked := 0
	for seed := uint64(0); seed < 20; seed++ {
		m := randomLinear(seed, d, k, 8)
		x := randomInputs(seed+50, 1, d)
		lo, hi := make([]float32, d), make([]float32, d)
		bounds(lo, hi, x, xi)
		best := make([]float64, k)
		z, lg := make([]float32, d), make([]float32, k)
		const g = 200
		for a := 0; a <= g; a++ {
			for b := 0; b <= g; b++ {
				z[0] = lo[0] + (hi[0]-lo[0])*float32(a)/g
				z[1] = lo[1] + (hi[1]-lo[1])*float32(b)/g
				m.Logits(lg, z, 1)
				for l := 0; l < k; l++ {
					best[l] = max(best[l], Prob(lg, l))
				}
			}
		}
		order := []int{0, 1, 2}
		slices.SortFunc(order, func(a, b int) int { return -cmpF(best[a], best[b]) })
		e, err := MCN(xi, 200).Run(context.Background(), m, x)
		if err != nil {
			t.Fatal(err)
		}
		for l := 0; l < k; l++ {
			if e.Objective[l] < best[l]-2e-3 {
				t.Errorf("seed %d label %d: objective %v, grid maximum %v", seed, l, e.Objective[l], best[l])
			}
		}
		if best[order[0]]-best[order[1]] < 1e-2 {
			continue
		}
		checked++
		if e.Chosen[0] != order[0] || e.Label[e.Chosen[0]] != order[0] {
			t.Errorf("seed %d: chose label %d, want %d (grid maxima %v)", seed, e.Chosen[0], order[0], best)
		}
		if e.Prediction[0] != e.Pred[e.Chosen[0]] || !slices.Equal(e.X, e.Points[e.Chosen[0]*d:(e.Chosen[0]+1)*d]) {
			t.Errorf("seed %d: Γ(x) = %d inconsistent with the chosen point", seed, e.Prediction[0])
		}
	}
	if checked < 10 {
		t.Errorf("only %d clear cases", checked)
	}
}

func cmpF(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// TestHCNNPenalty: with λ > 0 each label's objective F_ℓ − λ|z − x| is at
// least its value at x (the start is kept if nothing beats it), and a huge
// λ keeps every point at x.
func TestHCNNPenalty(t *testing.T) {
	t.Parallel()
	const d, n, k = 8, 6, 4
	m := newMLP(12, d, 10, k)
	x := randomInputs(13, n, d)
	lg := make([]float32, n*k)
	m.Logits(lg, x, n)
	for _, norm := range []Norm{LInf, L2} {
		for _, lambda := range []float64{0.5, 1e6} {
			e, err := (&HCNN{Xi: 0.1, Lambda: lambda, Norm: norm, Iterations: 30}).Run(context.Background(), m, x)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < n; i++ {
				for l := 0; l < k; l++ {
					r := i*k + l
					if at := Prob(lg[i*k:(i+1)*k], l); e.Objective[r] < at-1e-6 {
						t.Errorf("%v λ=%v input %d label %d: objective %v < %v at x", norm, lambda, i, l, e.Objective[r], at)
					}
					if lambda > 1e5 && e.Distance[r] != 0 {
						t.Errorf("%v λ=%v: moved %v", norm, lambda, e.Distance[r])
					}
				}
			}
		}
	}
}

// TestNCNLinear: with one pixel and two classes the nearest p-confident point
// of each label is known in closed form.
func TestNCNLinear(t *testing.T) {
	t.Parallel()
	m := newLinear(1, 2, []float32{-10, 10}, []float32{5, -5}) // margin z1 − z0 = 20x − 10
	const xi, p, rounds = 0.3, 0.9, 12
	lp := math.Log(p / (1 - p))
	for _, x0 := range []float32{0.3, 0.45, 0.52, 0.62, 0.9} {
		e, err := (&NCN{Xi: xi, P: p, Iterations: 40, Rounds: rounds}).Run(context.Background(), m, []float32{x0})
		if err != nil {
			t.Fatal(err)
		}
		// Label 1 needs 20z − 10 ≥ lp, label 0 needs 10 − 20z ≥ lp.
		need := []float64{max(0, float64(x0)-(10-lp)/20), max(0, (10+lp)/20-float64(x0))}
		want := -1
		for l, dist := range need {
			feasible := dist <= xi
			if e.Feasible[l] != feasible {
				t.Fatalf("x=%v label %d: feasible %v, want %v (needs %v)", x0, l, e.Feasible[l], feasible, dist)
			}
			if feasible {
				if got := e.Distance[l]; got < dist-1e-5 || got > dist+xi/(1<<rounds)*1.01+1e-5 {
					t.Errorf("x=%v label %d: distance %v, want %v", x0, l, got, dist)
				}
				if want < 0 || dist < need[want] {
					want = l
				}
			}
		}
		if want >= 0 && e.Chosen[0] != want {
			t.Errorf("x=%v: chose %d, want %d", x0, e.Chosen[0], want)
		}
		if want >= 0 && e.Conf[e.Chosen[0]] < p {
			t.Errorf("x=%v: chosen confidence %v < %v", x0, e.Conf[e.Chosen[0]], p)
		}
	}
}

// TestEntropyRaisesConfidence: the Shannon and Rényi surrogates never raise
// the entropy and raise the confidence on most inputs.
func TestEntropyRaisesConfidence(t *testing.T) {
	t.Parallel()
	const d, n, k = 10, 30, 5
	m := newMLP(21, d, 12, k)
	x := randomInputs(22, n, d)
	lg := make([]float32, n*k)
	m.Logits(lg, x, n)
	p, q := make([]float64, k), make([]float64, k)
	for _, c := range []Entropy{{Kind: Shannon}, {Kind: Renyi, Alpha: 2}, {Kind: Renyi, Alpha: 0.5}, {Kind: Renyi, Alpha: 20}} {
		c.Xi, c.Iterations = 0.05, 40
		alpha := 1.0
		if c.Kind == Renyi {
			alpha = c.Alpha
		}
		e, err := c.Run(context.Background(), m, x)
		if err != nil {
			t.Fatal(err)
		}
		up := 0
		for i := 0; i < n; i++ {
			h0 := entropy(p, q, lg[i*k:(i+1)*k], alpha)
			if -e.Objective[i] > h0+1e-9 {
				t.Errorf("%v α=%v input %d: entropy rose from %v to %v", c.Kind, alpha, i, h0, -e.Objective[i])
			}
			c0, _ := Confidence(lg[i*k : (i+1)*k])
			if e.Conf[i] > c0 {
				up++
			}
		}
		if up < n*8/10 {
			t.Errorf("%v α=%v: confidence rose on %d of %d inputs", c.Kind, alpha, up, n)
		}
	}
}

// TestLossGradients checks the Go-computed objectives against central
// differences.
func TestLossGradients(t *testing.T) {
	t.Parallel()
	const n, k = 4, 5
	r := rand.New(rand.NewPCG(31, 1))
	z := make([]float32, n*k)
	for i := range z {
		z[i] = float32(3 * r.NormFloat64())
	}
	labels := []int{0, 3, 4, 2}
	losses := []struct {
		name string
		l    engine.Loss
	}{
		{"prob", engine.Prob{Labels: labels}},
		{"shannon", engine.NegEntropy{Alpha: 1}},
		{"renyi0.5", engine.NegEntropy{Alpha: 0.5}},
		{"renyi3", engine.NegEntropy{Alpha: 3}},
		{"cw", engine.ConfidenceHinge{Targets: labels, Threshold: 4}},
		{"margin", engine.CWMargin{Labels: labels, Kappa: 100}},
	}
	for _, c := range losses {
		g := make([]float32, n*k)
		v := make([]float32, n)
		c.l.Eval(v, g, z, n, k)
		for j := range z {
			const h = 1e-2
			zp, zm := slices.Clone(z), slices.Clone(z)
			zp[j] += h
			zm[j] -= h
			vp, vm := make([]float32, n), make([]float32, n)
			c.l.Eval(vp, make([]float32, n*k), zp, n, k)
			c.l.Eval(vm, make([]float32, n*k), zm, n, k)
			num := (float64(vp[j/k]) - float64(vm[j/k])) / (2 * h)
			if math.Abs(num-float64(g[j])) > 2e-3*max(1, math.Abs(num)) {
				t.Errorf("%s: ∂/∂z[%d] = %v, central difference %v", c.name, j, g[j], num)
			}
		}
	}
}

func TestReject(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		conf, p float64
		want    bool
	}{{0.5, 0.9, true}, {0.9, 0.9, false}, {0.95, 0.9, false}, {0.989, 0.99, true}} {
		if got := Reject(c.conf, c.p); got != c.want {
			t.Errorf("Reject(%v, %v) = %v", c.conf, c.p, got)
		}
	}
	conf, pred := Confidence([]float32{1, 3, 2})
	if pred != 1 || math.Abs(conf-math.Exp(3)/(math.Exp(1)+math.Exp(3)+math.Exp(2))) > 1e-12 {
		t.Errorf("Confidence = %v, %d", conf, pred)
	}
}

func TestBadParameters(t *testing.T) {
	t.Parallel()
	m := randomLinear(1, 4, 3, 1)
	x := randomInputs(2, 2, 4)
	labels := []int{0, 1}
	ctx := context.Background()
	run := func(f func() error) error { return f() }
	tests := []struct {
		name  string
		param string
		err   error
	}{
		{"PGD eps", "Eps", run(func() error { _, err := (&PGD{Eps: -1, Iterations: 1}).Run(ctx, m, x, labels, nil); return err })},
		{"PGD NaN eps", "Eps", run(func() error { _, err := (&PGD{Eps: math.NaN(), Iterations: 1}).Run(ctx, m, x, labels, nil); return err })},
		{"PGD iterations", "Iterations", run(func() error { _, err := (&PGD{Eps: 0.1}).Run(ctx, m, x, labels, nil); return err })},
		{"PGD loss", "Loss", run(func() error {
			_, err := (&PGD{Eps: 0.1, Iterations: 1, Loss: 9}).Run(ctx, m, x, labels, nil)
			return err
		})},
		{"PGD keep", "Keep", run(func() error {
			_, err := (&PGD{Eps: 0.1, Iterations: 1, Keep: -1}).Run(ctx, m, x, labels, nil)
			return err
		})},
		{"PGD step", "Step", run(func() error {
			_, err := (&PGD{Eps: 0.1, Iterations: 1, Step: -1}).Run(ctx, m, x, labels, nil)
			return err
		})},
		{"PGD restarts", "Restarts", run(func() error {
			_, err := (&PGD{Eps: 0.1, Iterations: 1, Restarts: 3}).Run(ctx, m, x, labels, nil)
			return err
		})},
		{"PGD labels", "labels", run(func() error { _, err := (&PGD{Eps: 0.1, Iterations: 1}).Run(ctx, m, x, labels[:1], nil); return err })},
		{"PGD label range", "labels[1]", run(func() error { _, err := (&PGD{Eps: 0.1, Iterations: 1}).Run(ctx, m, x, []int{0, 3}, nil); return err })},
		{"PGD targets", "targets", run(func() error { _, err := (&PGD{Eps: 0.1, Iterations: 1}).Run(ctx, m, x, labels, []int{1}); return err })},
		{"PGD x", "x", run(func() error { _, err := (&PGD{Eps: 0.1, Iterations: 1}).Run(ctx, m, x[:5], labels, nil); return err })},
		{"PGD pixel", "x[0]", run(func() error {
			_, err := (&PGD{Eps: 0.1, Iterations: 1}).Run(ctx, m, []float32{2, 0, 0, 0}, labels[:1], nil)
			return err
		})},
		{"MaxConfidence eps", "Eps", run(func() error {
			_, err := (&MaxConfidence{PGD: PGD{Eps: -0.1, Iterations: 1}}).Run(ctx, m, x, labels)
			return err
		})},
		{"CW p low", "P", run(func() error { _, err := (&CW{Eps: 0.1, P: 0, Iterations: 1}).Run(ctx, m, x, labels); return err })},
		{"CW p high", "P", run(func() error { _, err := (&CW{Eps: 0.1, P: 1, Iterations: 1}).Run(ctx, m, x, labels); return err })},
		{"CW eps", "Eps", run(func() error { _, err := (&CW{Eps: -1, P: 0.9, Iterations: 1}).Run(ctx, m, x, labels); return err })},
		{"CW iterations", "Iterations", run(func() error { _, err := (&CW{Eps: 0.1, P: 0.9}).Run(ctx, m, x, labels); return err })},
		{"CW rate", "LearningRate", run(func() error {
			_, err := (&CW{Eps: 0.1, P: 0.9, Iterations: 1, LearningRate: -1}).Run(ctx, m, x, labels)
			return err
		})},
		{"HCNN lambda", "Lambda", run(func() error { _, err := (&HCNN{Xi: 0.1, Lambda: -1, Iterations: 1}).Run(ctx, m, x); return err })},
		{"HCNN norm", "Norm", run(func() error { _, err := (&HCNN{Xi: 0.1, Norm: 7, Iterations: 1}).Run(ctx, m, x); return err })},
		{"HCNN xi", "Xi", run(func() error { _, err := (&HCNN{Xi: -0.1, Iterations: 1}).Run(ctx, m, x); return err })},
		{"HCNN iterations", "Iterations", run(func() error { _, err := (&HCNN{Xi: 0.1}).Run(ctx, m, x); return err })},
		{"NCN p", "P", run(func() error { _, err := (&NCN{Xi: 0.1, P: 1.5, Iterations: 1}).Run(ctx, m, x); return err })},
		{"NCN norm", "Norm", run(func() error { _, err := (&NCN{Xi: 0.1, P: 0.5, Norm: -1, Iterations: 1}).Run(ctx, m, x); return err })},
		{"Renyi alpha 1", "Alpha", run(func() error {
			_, err := (&Entropy{Xi: 0.1, Kind: Renyi, Alpha: 1, Iterations: 1}).Run(ctx, m, x)
			return err
		})},
		{"Renyi alpha 0", "Alpha", run(func() error {
			_, err := (&Entropy{Xi: 0.1, Kind: Renyi, Alpha: 0, Iterations: 1}).Run(ctx, m, x)
			return err
		})},
		{"Renyi alpha <0", "Alpha", run(func() error {
			_, err := (&Entropy{Xi: 0.1, Kind: Renyi, Alpha: -2, Iterations: 1}).Run(ctx, m, x)
			return err
		})},
		{"Entropy kind", "Kind", run(func() error { _, err := (&Entropy{Xi: 0.1, Kind: 5, Iterations: 1}).Run(ctx, m, x); return err })},
	}
	for _, c := range tests {
		var pe *ParamError
		if !errors.As(c.err, &pe) {
			t.Errorf("%s: error %v, want a *ParamError", c.name, c.err)
			continue
		}
		if pe.Param != c.param || !strings.Contains(c.err.Error(), "bad "+c.param+" ") {
			t.Errorf("%s: %q does not name %s", c.name, c.err, c.param)
		}
	}
}

// TestCancel: a context canceled during the search stops it before the next
// step, with Status Canceled and an error wrapping context.Canceled; a
// progress error stops it with Status Stopped.
func TestCancel(t *testing.T) {
	t.Parallel()
	const d, n, k = 6, 4, 3
	x := randomInputs(3, n, d)
	labels := []int{0, 1, 2, 0}
	type runner func(ctx context.Context, e engine.Executor, p Progress) (Status, error)
	runners := map[string]runner{
		"PGD": func(ctx context.Context, e engine.Executor, p Progress) (Status, error) {
			r, err := (&PGD{Eps: 0.1, Iterations: 100, Batch: 2, Progress: p}).Run(ctx, e, x, labels, nil)
			return r.Status, err
		},
		"MaxConfidence": func(ctx context.Context, e engine.Executor, p Progress) (Status, error) {
			r, err := (&MaxConfidence{PGD: PGD{Eps: 0.1, Iterations: 100, Progress: p}}).Run(ctx, e, x, labels)
			return r.Status, err
		},
		"CW": func(ctx context.Context, e engine.Executor, p Progress) (Status, error) {
			r, err := (&CW{Eps: 0.1, P: 0.99999, Iterations: 100, Restarts: 5, Progress: p}).Run(ctx, e, x, labels)
			return r.Status, err
		},
		"HCNN": func(ctx context.Context, e engine.Executor, p Progress) (Status, error) {
			r, err := (&HCNN{Xi: 0.1, Lambda: 0.1, Iterations: 100, Progress: p}).Run(ctx, e, x)
			return r.Status, err
		},
		"NCN": func(ctx context.Context, e engine.Executor, p Progress) (Status, error) {
			r, err := (&NCN{Xi: 0.1, P: 0.5, Iterations: 100, Progress: p}).Run(ctx, e, x)
			return r.Status, err
		},
		"Entropy": func(ctx context.Context, e engine.Executor, p Progress) (Status, error) {
			r, err := (&Entropy{Xi: 0.1, Iterations: 100, Progress: p}).Run(ctx, e, x)
			return r.Status, err
		},
	}
	for name, run := range runners {
		m := randomLinear(5, d, k, 1)
		ctx, cancel := context.WithCancel(context.Background())
		m.beforeGrad = func() {
			if m.grads == 3 {
				cancel()
			}
		}
		status, err := run(ctx, m, nil)
		if status != Canceled || !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: status %v, error %v; want canceled", name, status, err)
		}
		if m.grads != 4 || m.forwards != 0 {
			t.Errorf("%s: %d gradient and %d forward calls after canceling at the 4th gradient, want 4 and 0", name, m.grads, m.forwards)
		}
		cancel()

		m = randomLinear(5, d, k, 1)
		stop := errors.New("enough")
		calls := 0
		status, err = run(context.Background(), m, func(done, total int) error {
			calls++
			if done > total || done <= 0 {
				t.Errorf("%s: progress %d/%d", name, done, total)
			}
			if calls == 5 {
				return stop
			}
			return nil
		})
		if status != Stopped || !errors.Is(err, stop) || m.grads != 5 {
			t.Errorf("%s: status %v, error %v, %d steps; want stopped after 5", name, status, err, m.grads)
		}
	}
}

// TestDeterminism: the same seed gives the same result bit for bit, whatever
// the batch size; another seed gives another.
func TestDeterminism(t *testing.T) {
	t.Parallel()
	const d, n, k = 8, 9, 4
	m := randomLinear(2, d, k, 2)
	x := randomInputs(3, n, d)
	labels := make([]int, n)
	for i := range labels {
		labels[i] = i % k
	}
	pgd := func(seed uint64, batch int) *Result {
		r, err := (&PGD{Eps: 0.1, Iterations: 5, Restarts: 3, RandomStart: true, Seed: seed, Batch: batch}).Run(context.Background(), m, x, labels, nil)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	a, b, c := pgd(7, 0), pgd(7, 4), pgd(8, 0)
	if !slices.Equal(a.X, b.X) || !slices.Equal(a.Logits, b.Logits) {
		t.Error("PGD: batch size changed the result")
	}
	if slices.Equal(a.X, c.X) {
		t.Error("PGD: the seed did not change the result")
	}
	cw := func(seed uint64, batch int) *CWResult {
		r, err := (&CW{Eps: 0.1, P: 0.999, Iterations: 5, Restarts: 3, Seed: seed, Batch: batch}).Run(context.Background(), m, x, labels)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	ca, cb, cc := cw(7, 0), cw(7, 0), cw(8, 0)
	if !slices.Equal(ca.X, cb.X) || !slices.Equal(ca.Conf, cb.Conf) {
		t.Error("CW: not deterministic")
	}
	if slices.Equal(ca.X, cc.X) {
		t.Error("CW: the seed did not change the result")
	}
	mc := func(batch int) *Search {
		r, err := (&MaxConfidence{PGD: PGD{Eps: 0.1, Iterations: 5, Restarts: 2, RandomStart: true, Seed: 3, Batch: batch}}).Run(context.Background(), m, x, labels)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if ma, mb := mc(0), mc(5); !slices.Equal(ma.X, mb.X) || !slices.Equal(ma.CandConf, mb.CandConf) {
		t.Error("MaxConfidence: batch size changed the result")
	}

	// Splitting the inputs into two calls with FirstInput changes nothing.
	const cut = 4
	split := func(run func(first int, x []float32, labels []int) []float32) {
		t.Helper()
		whole := run(0, x, labels)
		parts := append(run(0, x[:cut*d], labels[:cut]), run(cut, x[cut*d:], labels[cut:])...)
		if !slices.Equal(whole, parts) {
			t.Error("splitting the inputs changed the result")
		}
	}
	split(func(first int, x []float32, labels []int) []float32 {
		r, err := (&MaxConfidence{PGD: PGD{Eps: 0.1, Iterations: 5, Restarts: 2, RandomStart: true, Seed: 3, FirstInput: first}}).Run(context.Background(), m, x, labels)
		if err != nil {
			t.Fatal(err)
		}
		return r.X
	})
	split(func(first int, x []float32, labels []int) []float32 {
		r, err := (&CW{Eps: 0.1, P: 0.999, Iterations: 5, Restarts: 3, Seed: 3, FirstInput: first}).Run(context.Background(), m, x, labels)
		if err != nil {
			t.Fatal(err)
		}
		return r.X
	})
	split(func(first int, x []float32, labels []int) []float32 {
		r, err := (&Entropy{Xi: 0.1, Iterations: 5, RandomStart: true, Seed: 3, FirstInput: first}).Run(context.Background(), m, x)
		if err != nil {
			t.Fatal(err)
		}
		return r.X
	})
}

// TestStepCost: a PGD start of T iterations on m rows makes T gradient calls
// and one forward call, plus one forward for the final check.
func TestStepCost(t *testing.T) {
	t.Parallel()
	m := randomLinear(1, 5, 3, 1)
	x := randomInputs(2, 4, 5)
	res, err := (&PGD{Eps: 0.1, Iterations: 9, Restarts: 2, RandomStart: true}).Run(context.Background(), m, x, []int{0, 1, 2, 0}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if m.grads != 18 || res.Steps != 18 || m.forwards != 3 {
		t.Errorf("%d gradient and %d forward calls, want 18 and 3", m.grads, m.forwards)
	}
}

// TestRowSteps: the planned work equals the Progress total and, for the
// searches without early stops, the work done.
func TestRowSteps(t *testing.T) {
	t.Parallel()
	const d, n, k = 5, 3, 4
	m := randomLinear(1, d, k, 1)
	x := randomInputs(2, n, d)
	labels := []int{0, 1, 2}
	type plan interface {
		RowSteps(n, classes int) (int, error)
	}
	var last, total int
	prog := func(done, tot int) error { last, total = done, tot; return nil }
	pgd := &PGD{Eps: 0.1, Iterations: 4, Restarts: 2, RandomStart: true, Batch: 2, Progress: prog}
	mc := &MaxConfidence{PGD: PGD{Eps: 0.1, Iterations: 3, Batch: 4, Progress: prog}}
	h := &HCNN{Xi: 0.1, Iterations: 5, Progress: prog}
	e := &Entropy{Xi: 0.1, Iterations: 6, Progress: prog}
	cw := &CW{Eps: 0.1, P: 0.9999, Iterations: 3, Restarts: 2, Progress: prog}
	ctx := context.Background()
	cases := []struct {
		p   plan
		run func() error
	}{
		{pgd, func() error { _, err := pgd.Run(ctx, m, x, labels, nil); return err }},
		{mc, func() error { _, err := mc.Run(ctx, m, x, labels); return err }},
		{h, func() error { _, err := h.Run(ctx, m, x); return err }},
		{e, func() error { _, err := e.Run(ctx, m, x); return err }},
		{cw, func() error { _, err := cw.Run(ctx, m, x, labels); return err }},
	}
	for i, c := range cases {
		want, err := c.p.RowSteps(n, k)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.run(); err != nil {
			t.Fatal(err)
		}
		if total != want || last != want {
			t.Errorf("case %d: RowSteps %d, progress ended at %d/%d", i, want, last, total)
		}
	}
}

func TestRanked(t *testing.T) {
	t.Parallel()
	e := &Embedding{N: 2, Candidates: 4, Conf: []float64{0.3, 0.9, 0.3, 0.5, 1, 0, 0, 0.2}}
	if got := e.Ranked(0); !slices.Equal(got, []int{1, 3, 0, 2}) {
		t.Errorf("Ranked(0) = %v", got)
	}
	if got := e.Ranked(1); !slices.Equal(got, []int{0, 3, 1, 2}) {
		t.Errorf("Ranked(1) = %v", got)
	}
}

// TestCWNonlinear: on a tanh network every point CW reports p-confident is
// so by an independent forward pass, and CW finds such a point on most
// inputs where the (stronger, many-start) Table 2 search found one.
func TestCWNonlinear(t *testing.T) {
	t.Parallel()
	const d, n, k, eps, p = 10, 24, 4, 0.15, 0.8
	m := newMLP(41, d, 12, k)
	x := randomInputs(42, n, d)
	lg := make([]float32, n*k)
	m.Logits(lg, x, n)
	labels := make([]int, n)
	Confidences(nil, labels, lg, n, k)
	s, err := (&MaxConfidence{PGD: PGD{Eps: eps, Iterations: 50, Restarts: 4, RandomStart: true, Seed: 2}}).Run(context.Background(), m, x, labels)
	if err != nil {
		t.Fatal(err)
	}
	c, err := (&CW{Eps: eps, P: p, Iterations: 100, Restarts: 3, Seed: 2}).Run(context.Background(), m, x, labels)
	if err != nil {
		t.Fatal(err)
	}
	checkBall(t, "CW", c.X, x, d, eps)
	plain := make([]float32, n*k)
	m.Logits(plain, c.X, n)
	pgdFound, both := 0, 0
	for i := 0; i < n; i++ {
		conf, y := wrongConf(make([]float64, k), plain[i*k:(i+1)*k], labels[i])
		if c.Found[i] != (conf >= p) || conf != c.Conf[i] || y != c.Label[i] {
			t.Fatalf("input %d: found %v conf %v label %d, plain forward %v %d", i, c.Found[i], c.Conf[i], c.Label[i], conf, y)
		}
		if s.Wrong[i] && s.Conf[i] >= p {
			pgdFound++
			if c.Found[i] {
				both++
			}
		}
	}
	t.Logf("p-confident: PGD search %d, CW %d of them", pgdFound, both)
	if pgdFound == 0 || both < pgdFound*7/10 {
		t.Errorf("CW found %d of the %d inputs the PGD search found", both, pgdFound)
	}
	wantStatus := IterationLimit
	if !slices.Contains(c.Found, false) {
		wantStatus = Success
	}
	if c.Status != wantStatus {
		t.Errorf("status %v, want %v", c.Status, wantStatus)
	}
}

// TestRestartsKeepBest: more random restarts (the first ones identical)
// never give a worse kept criterion.
func TestRestartsKeepBest(t *testing.T) {
	t.Parallel()
	const d, n, k = 10, 16, 4
	m := newMLP(51, d, 12, k)
	x := randomInputs(52, n, d)
	labels := make([]int, n)
	for i := range labels {
		labels[i] = i % k
	}
	var prev []float64
	for _, r := range []int{1, 2, 5} {
		res, err := (&PGD{Eps: 0.1, Iterations: 10, Restarts: r, RandomStart: true, Seed: 9}).Run(context.Background(), m, x, labels, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := range prev {
			if res.Score[i] < prev[i] {
				t.Fatalf("%d restarts, input %d: score %v below %v", r, i, res.Score[i], prev[i])
			}
		}
		prev = res.Score
		for i := 0; i < n; i++ {
			c, y := Confidence(res.Logits[i*k : (i+1)*k])
			if want := confidentWrong(res.Logits[i*k:(i+1)*k], labels[i]); math.Abs(want-res.Score[i]) > 1e-6 || (y != labels[i]) != res.Wrong[i] || c != res.Conf[i] {
				t.Fatalf("input %d: score %v, wrong %v, conf %v inconsistent with its logits", i, res.Score[i], res.Wrong[i], res.Conf[i])
			}
		}
	}
}

// TestSaturatedModel: with logit gaps near 1000, where float64 softmax
// probabilities underflow, the kept criterion stays finite and the targeted
// attack still climbs towards its corner.
func TestSaturatedModel(t *testing.T) {
	t.Parallel()
	const d, eps = 4, 0.2
	m := newLinear(d, 2, []float32{0, 0, 0, 0, 500, 500, 500, 500}, []float32{2000, 0})
	x := []float32{0.5, 0.5, 0.5, 0.5}
	res, err := (&PGD{Eps: eps, Iterations: 5, Keep: KeepHighestLoss}).Run(context.Background(), m, x, []int{0}, []int{1})
	if err != nil {
		t.Fatal(err)
	}
	if math.IsInf(res.Score[0], 0) || math.IsNaN(res.Score[0]) {
		t.Fatalf("score %v", res.Score[0])
	}
	if want := corner(x, []float32{1, 1, 1, 1}, eps); !slices.Equal(res.X, want) {
		t.Errorf("X = %v, want %v", res.X, want)
	}
}
