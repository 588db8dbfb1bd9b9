package attack

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"confrobust/engine"
	"confrobust/model"
)

// curve is a one-pixel, two-class model with logits [0, m(z)] for a piecewise-linear margin m
// given by its breakpoints: on [at[i], at[i+1]) it is value[i] + slope[i]·(z − at[i]), and the
// derivative at a breakpoint is the right piece's. The answer of every search on it can be
// worked out by hand.
type curve struct {
	model        *model.Model
	at           []float64
	value, slope []float64
	g            []float32
}

func newCurve(at, value, slope []float64) *curve {
	g := &model.Graph{Name: "curve", Input: model.Shape{1, 1, 1}, Classes: 2}
	return &curve{model: &model.Model{Graph: g}, at: at, value: value, slope: slope}
}

func (c *curve) piece(z float64) int {
	i := 0
	for i+1 < len(c.at) && z >= c.at[i+1] {
		i++
	}
	return i
}

func (c *curve) margin(z float64) float64 {
	i := c.piece(z)
	return c.value[i] + c.slope[i]*(z-c.at[i])
}

func (c *curve) Model() *model.Model { return c.model }

func (c *curve) Logits(dst, x []float32, n int) error {
	for i := 0; i < n; i++ {
		dst[2*i], dst[2*i+1] = 0, float32(c.margin(float64(x[i])))
	}
	return nil
}

func (c *curve) InputGrad(dx, logits, losses, x []float32, n int, loss engine.Loss) error {
	if logits == nil {
		logits = make([]float32, 2*n)
	}
	if losses == nil {
		losses = make([]float32, n)
	}
	c.Logits(logits, x, n)
	if len(c.g) < 2*n {
		c.g = make([]float32, 2*n)
	}
	loss.Eval(losses, c.g[:2*n], logits, n, 2)
	for i := 0; i < n; i++ {
		dx[i] = c.g[2*i+1] * float32(c.slope[c.piece(float64(x[i]))])
	}
	return nil
}

func (c *curve) ParamGrad(map[string][]float32, []float32, []float32, []float32, int, engine.Loss) error {
	panic("curve: ParamGrad not implemented")
}
func (c *curve) Sync() error  { return nil }
func (c *curve) Close() error { return nil }

// hiddenSpike is the constructed case where the defense's search hides a wrong label. The
// margin climbs slowly (slope 20) then steeply (200) to a spike of 6 (label 1, F ≈ 0.9975) at
// z = 0.6895 and falls off a cliff (−800) into a well of −10 (label 0, F ≈ 0.99995) at 0.7095.
// From x = 0.5 (label 0, m = −1.39), PGD steps of 0.01 raising label 1's confidence reach
// 0.69, on the cliff side of the spike (m = 5.6), and cycle between 0.68 (m = 4.1) and 0.69:
// the most confident wrong point is 0.69. There MCN's search for label 0 (ξ = 0.1, steps of
// 0.005) slides down the cliff into the well and finds F_0 ≈ 0.99995 > F_1 ≈ 0.9963, so
// Γ(0.69) = 0: the defense hides the wrong label the attack found. Yet for x' in about
// [0.57, 0.6895), left of the spike, the label-0 search goes left and finds no more than
// F_0 ≈ 0.88 while the label-1 search climbs to the spike, so Γ(x') = 1 there; the paper's
// attack passes through that interval but keeps the spike.
func hiddenSpike() *curve {
	const peak = 0.6895
	return newCurve(
		[]float64{0, peak - 0.02, peak, peak + 0.02},
		[]float64{2 - 20*(peak-0.02), 2, 6, -10},
		[]float64{20, 200, -800, 50},
	)
}

// paperOnDefense runs the paper's attack (the Table 2 search) and the defense h on every
// target's candidate, as Table 4 does, and reports per input whether Γ makes a mistake on
// some candidate.
func paperOnDefense(t *testing.T, exec engine.Executor, mc *MaxConfidence, h *HCNN, x []float32, labels []int) (*Search, []bool) {
	t.Helper()
	c := *mc
	c.KeepCandidates = true
	s, err := c.Run(context.Background(), exec, x, labels)
	if err != nil {
		t.Fatal(err)
	}
	k := exec.Model().Graph.Classes
	e, err := h.Run(context.Background(), exec, s.CandX)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]bool, len(labels))
	for i, y := range labels {
		for tt := 0; tt < k; tt++ {
			if tt != y && e.Prediction[i*k+tt] != y {
				out[i] = true
			}
		}
	}
	return s, out
}

// adaptiveVariants are the adaptive attacks the tests run: every objective with both
// backward passes.
func adaptiveVariants(base Adaptive) map[string]Adaptive {
	out := map[string]Adaptive{}
	for _, o := range []Objective{Margin, TargetConfidence, Neighbourhood} {
		for _, b := range []Backward{Identity, Unrolled} {
			a := base
			a.Objective, a.Backward = o, b
			out[o.String()+"/"+b.String()] = a
		}
	}
	return out
}

// TestAdaptiveHiddenWrongLabel: on hiddenSpike the paper's attack fails against MCN while
// every adaptive attack succeeds, at a point where Γ is wrong by the defense's own run.
func TestAdaptiveHiddenWrongLabel(t *testing.T) {
	t.Parallel()
	m := hiddenSpike()
	x, labels := []float32{0.5}, []int{0}
	const eta, xi = 0.2, 0.1
	def := HCNN{Xi: xi, Iterations: 50}
	// The closed-form story, checked point by point with the defense itself.
	grid := make([]float32, 0, 401)
	for i := 0; i <= 400; i++ {
		grid = append(grid, float32(0.3+0.4*float64(i)/400))
	}
	eg, err := def.Run(context.Background(), m, grid)
	if err != nil {
		t.Fatal(err)
	}
	for i, z := range grid {
		want := 0
		if z >= 0.575 && z < 0.6895 {
			want = 1
		}
		if (z < 0.565 || z >= 0.575) && eg.Prediction[i] != want {
			t.Fatalf("Γ(%v) = %d, want %d", z, eg.Prediction[i], want)
		}
	}
	mc := &MaxConfidence{PGD: PGD{Eps: eta, Iterations: 40, Step: 0.01}}
	s, paperWrong := paperOnDefense(t, m, mc, &def, x, labels)
	if !s.Wrong[0] || math.Abs(float64(s.X[0])-0.69) > 1e-5 || paperWrong[0] {
		t.Fatalf("paper's attack: found %v at %v (conf %v), Γ wrong %v; want the spike's cliff side 0.69, Γ right",
			s.Wrong[0], s.X[0], s.Conf[0], paperWrong[0])
	}
	for name, a := range adaptiveVariants(Adaptive{Defense: def, Eps: eta, Iterations: 40, Step: 0.01}) {
		if a.Objective == Neighbourhood {
			a.Inner = 10
		}
		res, err := a.Run(context.Background(), m, x, labels)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		checkBall(t, name, res.X, x, 1, eta)
		if !res.Success[0] || res.Prediction[0] != 1 {
			t.Errorf("%s: success %v, Γ = %d at %v; want a point of [0.575, 0.6895) with Γ = 1", name, res.Success[0], res.Prediction[0], res.X[0])
			continue
		}
		e, err := def.Run(context.Background(), m, res.X)
		if err != nil {
			t.Fatal(err)
		}
		if e.Prediction[0] != 1 || res.X[0] < 0.565 || res.X[0] >= 0.6895 {
			t.Errorf("%s: Γ(%v) = %d by the defense's own run", name, res.X[0], e.Prediction[0])
		}
	}
}

// linearGamma returns, for a two-class linear model whose label searches reach their corners,
// the closed form of MCN: Γ(x') = 1 exactly when u·c(x') + Δb > 0, where u = w_1 − w_0,
// Δb = b_1 − b_0 and c(x') is the centre of the clipped box N(x', ξ) ∩ [0,1]: F(z^(1))_1 >
// F(z^(0))_0 ⟺ u·z^(1) + Δb > −(u·z^(0) + Δb) with z^(1), z^(0) the opposite corners.
// It also returns the best the attacker can do, the margin at x'* = the corner of
// N(x, η) ∩ [0,1] in the direction ±u (c is non-decreasing in every coordinate).
func linearGamma(m *linear, x []float32, y int, eta, xi float64) (margin float64) {
	d := m.d
	u := make([]float32, d)
	for j := range u {
		u[j] = m.w[d+j] - m.w[j]
		if y == 1 {
			u[j] = -u[j]
		}
	}
	xs := corner(x, u, eta)
	lo, hi := make([]float32, d), make([]float32, d)
	bounds(lo, hi, xs, xi)
	s := float64(m.b[1] - m.b[0])
	for j := range u {
		s += float64(m.w[d+j]-m.w[j]) * (float64(lo[j]) + float64(hi[j])) / 2
	}
	return s
}

// TestAdaptiveLinearKnownAnswer: on two-class linear models MCN has the closed form of
// linearGamma, and the paper's attack reaches the optimum (the corner of the attack ball is
// both F's and Γ's best point), so whether Γ is robust is known. The paper's attack and every
// adaptive attack whose gradient sees every coordinate (Margin, or Identity) must agree with it
// exactly; the unrolled single-point objectives may only be weaker (their exact derivative is
// zero where the point they follow sits on the box, although moving there shifts the other
// label's point); warm-started from the paper's candidates every attack agrees.
func TestAdaptiveLinearKnownAnswer(t *testing.T) {
	t.Parallel()
	const d, n, eta, xi = 6, 12, 0.15, 0.2
	checked, robust := 0, 0
	for seed := uint64(0); seed < 6; seed++ {
		m := randomLinear(seed+20, d, 2, 3)
		x := randomInputs(seed+40, n, d)
		lg := make([]float32, n*2)
		m.Logits(lg, x, n)
		labels := make([]int, n)
		Confidences(nil, labels, lg, n, 2)
		def := HCNN{Xi: xi, Iterations: 20}
		want := make([]bool, n)
		for i := range want {
			g := linearGamma(m, x[i*d:(i+1)*d], labels[i], eta, xi)
			if math.Abs(g) < 1e-3 {
				continue // too close to call in float32
			}
			want[i] = (labels[i] == 0) == (g > 0)
		}
		// Γ on the clean points must be right for the closed form to be about attacks.
		ec, err := def.Run(context.Background(), m, x)
		if err != nil {
			t.Fatal(err)
		}
		mc := &MaxConfidence{PGD: PGD{Eps: eta, Iterations: 20}}
		s, paperWrong := paperOnDefense(t, m, mc, &def, x, labels)
		for name, a := range adaptiveVariants(Adaptive{Defense: def, Eps: eta, Iterations: 20}) {
			for _, warm := range []bool{false, true} {
				var init []float32
				if warm {
					init = s.CandX
				}
				res, err := a.RunFrom(context.Background(), m, x, labels, init)
				if err != nil {
					t.Fatal(err)
				}
				checkBall(t, name, res.X, x, d, eta)
				exact := warm || a.Objective == Margin || a.Backward == Identity
				for i := 0; i < n; i++ {
					g := linearGamma(m, x[i*d:(i+1)*d], labels[i], eta, xi)
					if math.Abs(g) < 1e-3 || ec.Prediction[i] != labels[i] {
						continue
					}
					if res.Success[i] && !want[i] {
						t.Fatalf("seed %d %s warm=%v input %d: success beyond the optimum (margin %v)", seed, name, warm, i, g)
					}
					if exact && res.Success[i] != want[i] {
						t.Errorf("seed %d %s warm=%v input %d: success %v, closed form %v", seed, name, warm, i, res.Success[i], want[i])
					}
				}
			}
		}
		for i := 0; i < n; i++ {
			g := linearGamma(m, x[i*d:(i+1)*d], labels[i], eta, xi)
			if math.Abs(g) < 1e-3 || ec.Prediction[i] != labels[i] {
				continue
			}
			checked++
			if !want[i] {
				robust++
			}
			if paperWrong[i] != want[i] {
				t.Errorf("seed %d input %d: paper's attack %v, closed form %v", seed, i, paperWrong[i], want[i])
			}
		}
	}
	t.Logf("%d inputs checked, %d robust by the closed form", checked, robust)
	if checked < 30 || robust == 0 || robust == checked {
		t.Errorf("%d checked, %d robust: the cases do not discriminate", checked, robust)
	}
}

// TestAdaptiveEmbedIsTheDefense: the attack's embedding of its iterates is HCNN.Run's bit for
// bit (points, objectives, Γ), with and without the distance penalty and random starts, so
// that judging an iterate is judging the deployed defense.
func TestAdaptiveEmbedIsTheDefense(t *testing.T) {
	t.Parallel()
	const d, n, k = 7, 5, 4
	m := newMLP(61, d, 10, k)
	x := randomInputs(62, n, d)
	for _, h := range []HCNN{
		{Xi: 0.1, Iterations: 12},
		{Xi: 0.2, Lambda: 0.3, Norm: L2, Iterations: 9, Step: 0.03},
		{Xi: 0.2, Lambda: 0.5, Norm: LInf, Iterations: 9},
		{Xi: 0.15, Iterations: 8, RandomStart: true, Seed: 5, FirstInput: 3},
	} {
		want, err := h.Run(context.Background(), m, x)
		if err != nil {
			t.Fatal(err)
		}
		c, err := (&Adaptive{Defense: h, Eps: 0.1, Iterations: 1}).defaults()
		if err != nil {
			t.Fatal(err)
		}
		c.d, c.k = d, k
		w := &adaptiveWork{c: c, exec: m, meter: &meter{}}
		ids := []int{3, 4, 5, 6, 7}
		e, _, err := w.embed(context.Background(), x, n, ids, h.Seed, true)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(e.points, want.Points) || !slices.Equal(e.obj, want.Objective) || !slices.Equal(e.logits, want.Logits) {
			t.Fatalf("%+v: the embedding differs from HCNN.Run", h)
		}
		for i := 0; i < n; i++ {
			ok, conf, pred := w.judge(e, i, -1)
			if !ok || pred != want.Prediction[i] || conf != want.Conf[i*k+want.Chosen[i]] {
				t.Fatalf("%+v input %d: judged Γ = %d (%v), HCNN.Run %d", h, i, pred, conf, want.Prediction[i])
			}
		}
	}
}

// TestUnrolledMaskIsTheDerivative: the tracked 0/1 masks are the derivative of the defense's
// points with respect to the input: moving x_j by δ moves coordinate j of each label's point by
// m_j·δ and no other coordinate, checked against finite differences of HCNN.Run on a tanh
// network, from x and from random starts, near the box's edges.
func TestUnrolledMaskIsTheDerivative(t *testing.T) {
	t.Parallel()
	const d, n, k, delta = 6, 8, 3, 1.0 / 4096
	m := newMLP(71, d, 8, k)
	x := randomInputs(72, n, d)
	for i := range x {
		// Keep every pixel δ away from the box so that x ± δ stays a valid input, and put
		// some within ξ of an edge so that the box clamps.
		x[i] = min(max(x[i], 2*delta), 1-2*delta)
	}
	for _, h := range []HCNN{{Xi: 0.25, Iterations: 15}, {Xi: 0.3, Iterations: 11, RandomStart: true, Seed: 2}} {
		c, err := (&Adaptive{Defense: h, Eps: 0.1, Iterations: 1, Backward: Unrolled}).defaults()
		if err != nil {
			t.Fatal(err)
		}
		c.d, c.k = d, k
		w := &adaptiveWork{c: c, exec: m, meter: &meter{}}
		ids := make([]int, n)
		for i := range ids {
			ids[i] = i
		}
		e, _, err := w.embed(context.Background(), x, n, ids, h.Seed, true)
		if err != nil {
			t.Fatal(err)
		}
		zeros, ones, agree, total := 0, 0, 0, 0
		for j := 0; j < d; j++ {
			xp := slices.Clone(x)
			for i := 0; i < n; i++ {
				xp[i*d+j] += delta
			}
			ep, err := h.Run(context.Background(), m, xp)
			if err != nil {
				t.Fatal(err)
			}
			for r := 0; r < n*k; r++ {
				total++
				ok := true
				for q := 0; q < d; q++ {
					diff := float64(ep.Points[r*d+q]) - float64(e.points[r*d+q])
					want := 0.0
					if q == j {
						want = delta * float64(e.mask[r*d+q])
					}
					if math.Abs(diff-want) > 1e-6 {
						ok = false
					}
				}
				if ok {
					agree++
				}
				if e.mask[r*d+j] == 0 {
					zeros++
				} else {
					ones++
				}
			}
		}
		t.Logf("%+v: %d of %d columns agree with finite differences; masks %d zeros, %d ones", h, agree, total, zeros, ones)
		// A finite step may flip a gradient sign somewhere along a trajectory; almost all
		// columns must agree, and both kinds of coordinate must occur.
		if agree < total*95/100 || zeros == 0 || ones == 0 {
			t.Errorf("%+v: %d of %d agree, %d zeros, %d ones", h, agree, total, zeros, ones)
		}
	}
}

// TestRejectionAwareBaseIsTable2: on the base model (ξ = 0) the rejection-aware
// TargetConfidence attack takes the Table 2 search's steps, so it accepts a wrong label at P
// exactly where MaxConfidence finds a point of confidence ≥ P.
func TestRejectionAwareBaseIsTable2(t *testing.T) {
	t.Parallel()
	const d, n, k, eps = 10, 20, 4, 0.12
	m := newMLP(81, d, 12, k)
	x := randomInputs(82, n, d)
	lg := make([]float32, n*k)
	m.Logits(lg, x, n)
	labels := make([]int, n)
	Confidences(nil, labels, lg, n, k)
	s, err := (&MaxConfidence{PGD: PGD{Eps: eps, Iterations: 15, Step: 0.02}}).Run(context.Background(), m, x, labels)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []float64{0.5, 0.8, 0.95} {
		a := &Adaptive{Eps: eps, Iterations: 15, Step: 0.02, Objective: TargetConfidence, P: p, Batch: 7}
		res, err := a.Run(context.Background(), m, x, labels)
		if err != nil {
			t.Fatal(err)
		}
		found := 0
		for i := 0; i < n; i++ {
			want := s.Wrong[i] && s.Conf[i] >= p
			if res.Success[i] != want {
				t.Errorf("P = %v input %d: rejection-aware %v, Table 2 %v (conf %v)", p, i, res.Success[i], want, s.Conf[i])
			}
			if want {
				found++
			}
		}
		t.Logf("P = %v: %d of %d accepted wrong", p, found, n)
	}
}

// TestAdaptiveNativeMNIST: on a small Madry MNIST CNN with random weights, every adaptive
// attack warm-started from the paper's candidates finds every success of the paper's attack
// on MCN (for a deterministic defense it judges those candidates first), none leaves the
// ball, and the cold-started ones are logged beside it.
func TestAdaptiveNativeMNIST(t *testing.T) {
	t.Parallel()
	const n, eta, xi = 3, 0.0075, 0.02
	ex := newNativeMNIST(t, model.MNISTConfig{Conv1: 4, Conv2: 8, Hidden: 32}, 3)
	d, k := 28*28, 10
	x := randomInputs(4, n, d)
	lg := make([]float32, n*k)
	if err := ex.Logits(lg, x, n); err != nil {
		t.Fatal(err)
	}
	labels := make([]int, n)
	Confidences(nil, labels, lg, n, k)
	def := HCNN{Xi: xi, Iterations: 2}
	mc := &MaxConfidence{PGD: PGD{Eps: eta, Iterations: 4}}
	s, paperWrong := paperOnDefense(t, ex, mc, &def, x, labels)
	paper := 0
	for _, w := range paperWrong {
		if w {
			paper++
		}
	}
	for name, a := range adaptiveVariants(Adaptive{Defense: def, Eps: eta, Iterations: 1, Batch: 90}) {
		for _, warm := range []bool{true, false} {
			if !warm && (testing.Short() || a.Objective != Margin) {
				continue // one cold start for the log; the warm ones are the test
			}
			var init []float32
			if warm {
				init = s.CandX
			}
			res, err := a.RunFrom(context.Background(), ex, x, labels, init)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			checkBall(t, name, res.X, x, d, eta)
			got := 0
			for i := 0; i < n; i++ {
				if warm && paperWrong[i] && !res.Success[i] {
					t.Errorf("%s warm: input %d: the paper's attack succeeded, the adaptive one did not", name, i)
				}
				if res.Success[i] {
					got++
				}
			}
			t.Logf("%s warm=%v: %d of %d inputs (paper's attack %d)", name, warm, got, n, paper)
		}
	}
}

// TestAdaptiveEOT: with random starts in the defense, Samples draws are used and change the
// result only through the draws; without randomness EOT reduces to one draw.
func TestAdaptiveEOT(t *testing.T) {
	t.Parallel()
	const d, n, k = 6, 4, 3
	m := newMLP(91, d, 8, k)
	x := randomInputs(92, n, d)
	labels := []int{0, 1, 2, 0}
	base := Adaptive{Defense: HCNN{Xi: 0.1, Iterations: 5, RandomStart: true, Seed: 9}, Eps: 0.1, Iterations: 4, Samples: 3, Seed: 1}
	var steps int
	base.Progress = func(done, total int) error { steps = done; return nil }
	res, err := base.Run(context.Background(), m, x, labels)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := base.RowSteps(n, k)
	if res.Samples != 3 || steps != want {
		t.Errorf("random defense: %d samples, %d row-steps (planned %d)", res.Samples, steps, want)
	}
	det := base
	det.Defense.RandomStart = false
	res2, err := det.Run(context.Background(), m, x, labels)
	if err != nil {
		t.Fatal(err)
	}
	// 8 rows (4 inputs × 2 targets): 5 embeddings of 3 labels × 5 steps and 4 steps of 2
	// gradient rows per draw, then the deployed defense on 4 inputs (4 × 3 × 5).
	want2, _ := det.RowSteps(n, k)
	if res2.Samples != 1 || want != 8*3*(5*3*5+4*2)+60 || want2 != 8*(5*3*5+4*2)+60 {
		t.Errorf("%d and %d samples, %d and %d row-steps planned", res.Samples, res2.Samples, want, want2)
	}
	one := det
	one.Samples = 1
	res3, err := one.Run(context.Background(), m, x, labels)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res2.X, res3.X) {
		t.Error("Samples 3 on a deterministic defense differs from Samples 1")
	}
	again, err := base.Run(context.Background(), m, x, labels)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.X, again.X) || !slices.Equal(res.Score, again.Score) {
		t.Error("EOT is not deterministic")
	}
}

// TestAdaptiveBatchAndSplit: the result depends neither on Batch nor on splitting the inputs
// with FirstInput.
func TestAdaptiveBatchAndSplit(t *testing.T) {
	t.Parallel()
	const d, n, k = 5, 6, 3
	m := newMLP(101, d, 8, k)
	x := randomInputs(102, n, d)
	labels := []int{0, 1, 2, 1, 0, 2}
	run := func(batch, first int, x []float32, labels []int) *AdaptiveResult {
		a := &Adaptive{Defense: HCNN{Xi: 0.1, Iterations: 4, RandomStart: true, Seed: 3, FirstInput: first}, Eps: 0.1, Iterations: 3,
			Restarts: 2, RandomStart: true, Samples: 2, Seed: 4, FirstInput: first, Batch: batch, Objective: Neighbourhood, Inner: 3, Backward: Unrolled}
		r, err := a.Run(context.Background(), m, x, labels)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	a, b := run(0, 0, x, labels), run(5, 0, x, labels)
	if !slices.Equal(a.X, b.X) || !slices.Equal(a.Score, b.Score) {
		t.Error("Batch changed the result")
	}
	p1, p2 := run(0, 0, x[:2*d], labels[:2]), run(0, 2, x[2*d:], labels[2:])
	if !slices.Equal(a.X, append(p1.X, p2.X...)) || !slices.Equal(a.Score, append(p1.Score, p2.Score...)) {
		t.Error("splitting the inputs changed the result")
	}
}

// TestAdaptiveProjection: every point the attacks query the defense with, and every point
// they return, lies in N(x, η) ∩ [0,1]; every defense point lies within ξ of its iterate.
func TestAdaptiveProjection(t *testing.T) {
	t.Parallel()
	const d, n, k = 8, 5, 3
	for seed := uint64(0); seed < 6; seed++ {
		m := newMLP(seed+110, d, 8, k)
		x := randomInputs(seed+120, n, d)
		labels := []int{0, 1, 2, 0, 1}
		eta := []float64{0, 0.01, 0.1, 0.3, 1.5, 0.05}[seed]
		xi := []float64{0.1, 0, 0.2, 0.05, 0.3, 1}[seed]
		for name, a := range adaptiveVariants(Adaptive{Defense: HCNN{Xi: xi, Iterations: 3, Lambda: 0.2 * float64(seed%2), Norm: Norm(seed % 2)},
			Eps: eta, Iterations: 3, Step: 0.3, Restarts: 2, RandomStart: true, P: 0.4}) {
			if a.Objective == Neighbourhood {
				a.Inner = 2
			}
			rec := &recorder{Executor: m, t: t, x: x, d: d, eps: eta + xi}
			res, err := a.Run(context.Background(), rec, x, labels)
			if err != nil {
				t.Fatal(err)
			}
			checkBall(t, name, res.X, x, d, eta)
		}
	}
}

func TestAdaptiveBadParameters(t *testing.T) {
	t.Parallel()
	m := randomLinear(1, 4, 3, 1)
	x := randomInputs(2, 2, 4)
	labels := []int{0, 1}
	def := HCNN{Xi: 0.1, Iterations: 2}
	ncn := &NCN{Xi: 0.1, P: 0.9, Iterations: 2}
	ctx := context.Background()
	for _, c := range []struct {
		name, param string
		a           Adaptive
	}{
		{"eps", "Eps", Adaptive{Defense: def, Eps: -1, Iterations: 1}},
		{"iterations", "Iterations", Adaptive{Defense: def, Eps: 0.1}},
		{"step", "Step", Adaptive{Defense: def, Eps: 0.1, Iterations: 1, Step: math.NaN()}},
		{"restarts", "Restarts", Adaptive{Defense: def, Eps: 0.1, Iterations: 1, Restarts: 2}},
		{"objective", "Objective", Adaptive{Defense: def, Eps: 0.1, Iterations: 1, Objective: 7}},
		{"backward", "Backward", Adaptive{Defense: def, Eps: 0.1, Iterations: 1, Backward: -1}},
		{"P", "P", Adaptive{Defense: def, Eps: 0.1, Iterations: 1, P: 1}},
		{"samples", "Samples", Adaptive{Defense: def, Eps: 0.1, Iterations: 1, Samples: -1}},
		{"targets", "Targets", Adaptive{Defense: def, Eps: 0.1, Iterations: 1, Targets: -1}},
		{"inner", "Inner", Adaptive{Defense: def, Eps: 0.1, Iterations: 1, Inner: 2}},
		{"defense xi", "Defense.Xi", Adaptive{Defense: HCNN{Xi: -1, Iterations: 1}, Eps: 0.1, Iterations: 1}},
		{"defense iterations", "Defense.Iterations", Adaptive{Defense: HCNN{Xi: 0.1}, Eps: 0.1, Iterations: 1}},
		{"defense lambda", "Defense.Lambda", Adaptive{Defense: HCNN{Xi: 0.1, Iterations: 1, Lambda: -1}, Eps: 0.1, Iterations: 1}},
		{"ncn p", "NCN.P", Adaptive{NCN: &NCN{Xi: 0.1, Iterations: 1}, Eps: 0.1, Iterations: 1}},
		{"batch", "Batch", Adaptive{NCN: ncn, Eps: 0.1, Iterations: 1, Batch: -1}},
	} {
		_, err := c.a.Run(ctx, m, x, labels)
		var pe *ParamError
		if !errors.As(err, &pe) || pe.Param != c.param {
			t.Errorf("%s: error %v, want a *ParamError for %s", c.name, err, c.param)
		}
		if _, err := c.a.RowSteps(2, 3); err == nil {
			t.Errorf("%s: RowSteps accepted it", c.name)
		}
	}
	a := Adaptive{Defense: def, Eps: 0.1, Iterations: 1}
	if _, err := a.RunFrom(ctx, m, x, labels, make([]float32, 5)); !strings.Contains(fmtErr(err), "init") {
		t.Errorf("short init: %v", err)
	}
	if _, err := a.Run(ctx, m, x, labels[:1]); !strings.Contains(fmtErr(err), "labels") {
		t.Errorf("missing labels: %v", err)
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestAdaptiveCancelAndProgress: cancellation and progress errors stop the attack with the
// documented statuses, and the progress total is RowSteps, reached exactly, for HCNN and NCN.
func TestAdaptiveCancelAndProgress(t *testing.T) {
	t.Parallel()
	const d, n, k = 6, 3, 3
	x := randomInputs(5, n, d)
	labels := []int{0, 1, 2}
	for _, a := range []Adaptive{
		{Defense: HCNN{Xi: 0.1, Iterations: 4}, Eps: 0.1, Iterations: 3, Objective: Margin, Batch: 4},
		{Defense: HCNN{Xi: 0.1, Iterations: 4, Lambda: 0.1}, Eps: 0.1, Iterations: 3, Objective: Neighbourhood, Inner: 2, Backward: Unrolled},
		{Defense: HCNN{Xi: 0}, Eps: 0.1, Iterations: 3, Objective: TargetConfidence, P: 0.5},
		{NCN: &NCN{Xi: 0.1, P: 0.4, Iterations: 3, Rounds: 2}, Eps: 0.1, Iterations: 2, Targets: 1},
	} {
		m := randomLinear(5, d, k, 1)
		want, err := a.RowSteps(n, k)
		if err != nil {
			t.Fatal(err)
		}
		var last, total int
		a.Progress = func(done, tot int) error { last, total = done, tot; return nil }
		res, err := a.Run(context.Background(), m, x, labels)
		if err != nil {
			t.Fatal(err)
		}
		if total != want || (a.NCN == nil && last != want) || last > want || res.Done != n || res.Status != IterationLimit {
			t.Errorf("%v/%v: progress %d/%d, RowSteps %d, done %d, status %v", a.Objective, a.Backward, last, total, want, res.Done, res.Status)
		}
		if a.Defense.Xi == 0 {
			continue // no inner search to cancel from
		}
		ctx, cancel := context.WithCancel(context.Background())
		m = randomLinear(5, d, k, 1)
		m.beforeGrad = func() {
			if m.grads == 3 {
				cancel()
			}
		}
		a.Progress = nil
		res, err = a.Run(ctx, m, x, labels)
		if res.Status != Canceled || !errors.Is(err, context.Canceled) || m.grads != 4 {
			t.Errorf("cancel: status %v, error %v, %d gradient calls", res.Status, err, m.grads)
		}
		cancel()
		stop := errors.New("enough")
		calls := 0
		a.Progress = func(done, total int) error {
			if calls++; calls == 4 {
				return stop
			}
			return nil
		}
		res, err = a.Run(context.Background(), randomLinear(5, d, k, 1), x, labels)
		if res.Status != Stopped || !errors.Is(err, stop) {
			t.Errorf("progress error: status %v, error %v", res.Status, err)
		}
	}
}
