package xla

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"testing"

	"confrobust/engine"
)

// searchCase builds a search of n rows of inputs x (d values each) with
// true labels y and targets t.
type searchCase struct {
	name  string
	build func(s *engine.Search, y, t []int)
}

// searchCases cover every loss, criterion, rule, penalty and update the
// compiled search recognises, in the combinations package attack uses.
var searchCases = []searchCase{
	{"max-confidence: log-prob, most confident wrong", func(s *engine.Search, y, t []int) {
		s.Loss = engine.TargetLogProb{Targets: t}
		s.Keep = engine.Keep{Criterion: engine.ConfidentWrong{Labels: y}}
	}},
	{"PGD: cross-entropy, highest loss", func(s *engine.Search, y, t []int) {
		s.Loss = engine.CrossEntropy{Labels: y}
		s.Keep = engine.Keep{Criterion: engine.CrossEntropy{Labels: y}}
	}},
	{"PGD: CW margin, last", func(s *engine.Search, y, t []int) {
		s.Loss = engine.CWMargin{Labels: t, Kappa: float32(math.Inf(1)), Targeted: true}
		s.Keep = engine.Keep{Rule: engine.KeepLast, Criterion: engine.CWMargin{Labels: t, Kappa: float32(math.Inf(1)), Targeted: true}}
	}},
	{"MCN: log-prob, probability", func(s *engine.Search, y, t []int) {
		s.Loss = engine.TargetLogProb{Targets: t}
		s.Keep = engine.Keep{Criterion: engine.Prob{Labels: t}}
	}},
	{"HCNN ℓ∞", func(s *engine.Search, y, t []int) {
		s.Loss = engine.Prob{Labels: t}
		s.Penalty = engine.Penalty{Lambda: 0.3, Norm: engine.NormInf}
		s.Keep = engine.Keep{Criterion: engine.Prob{Labels: t}, Penalty: true}
	}},
	{"HCNN ℓ2", func(s *engine.Search, y, t []int) {
		s.Loss = engine.Prob{Labels: t}
		s.Penalty = engine.Penalty{Lambda: 0.05, Norm: engine.Norm2}
		s.Keep = engine.Keep{Criterion: engine.Prob{Labels: t}, Penalty: true}
	}},
	{"Shannon entropy", func(s *engine.Search, y, t []int) {
		s.Loss = engine.NegEntropy{Alpha: 1}
		s.Keep = engine.Keep{Criterion: engine.NegEntropy{Alpha: 1}}
	}},
	{"Rényi entropy α=2", func(s *engine.Search, y, t []int) {
		s.Loss = engine.NegEntropy{Alpha: 2}
		s.Keep = engine.Keep{Criterion: engine.NegEntropy{Alpha: 2}}
	}},
	{"CW: Adam on the hinge, first above", func(s *engine.Search, y, t []int) {
		s.Loss = engine.ConfidenceHinge{Targets: t, Threshold: math.Log(0.3 / 0.7)}
		s.Keep = engine.Keep{Rule: engine.KeepFirstAbove, Criterion: engine.WrongConfidence{Labels: y}, Threshold: 0.3}
		s.Adam = &engine.Adam{Beta1: 0.9, Beta2: 0.999, Epsilon: 1e-8, Distance: 0.1}
		s.Step = nil
		for i := range s.Start {
			s.Start[i] = 0 // w = 0: the centre of the box
		}
		s.Groups = make([]int, s.N)
		for i := range s.Groups {
			s.Groups[i] = i / 2
		}
		b1, b2 := 1.0, 1.0
		s.Adam.Rates = make([]float64, s.Steps)
		for j := range s.Adam.Rates {
			b1 *= 0.9
			b2 *= 0.999
			s.Adam.Rates[j] = 0.1 * math.Sqrt(1-b2) / (1 - b1)
		}
	}},
}

// newSearch returns the base search of n rows around x: radius eps,
// random starts, per-row steps.
func newSearch(x []float32, n, d, steps int, eps float64) *engine.Search {
	s := &engine.Search{N: n, Steps: steps, Lo: make([]float32, n*d), Hi: make([]float32, n*d),
		Origin: x[:n*d], Start: make([]float32, n*d), Step: make([]float32, n)}
	r := rand.New(rand.NewPCG(9, 9))
	for q := range s.Lo {
		s.Lo[q] = float32(max(float64(x[q])-eps, 0))
		s.Hi[q] = float32(min(float64(x[q])+eps, 1))
		s.Start[q] = min(max(x[q]+float32(eps*(2*r.Float64()-1)), s.Lo[q]), s.Hi[q])
	}
	for i := range s.Step {
		s.Step[i] = float32(eps / 2 * float64(1+i%3) / 3)
	}
	return s
}

// TestSearchMatchesRunSearch runs every kind of search compiled and through
// engine.RunSearch (InputGrad and Logits of the same executor): the same
// kept step, points and logits, scores to float32 rounding.
func TestSearchMatchesRunSearch(t *testing.T) {
	for _, tn := range testNets[:2] {
		m := newModel(t, tn.graph, 30)
		e := newTestExecutor(t, m, WithUnroll(2))
		const n, steps = 4, 5
		d, k := tn.graph.Input.Size(), tn.graph.Classes
		x := randomInputs(tn.graph, n, 31)
		z := make([]float32, n*k)
		if err := e.Logits(z, x, n); err != nil {
			t.Fatal(err)
		}
		y, tg := make([]int, n), make([]int, n)
		for i := range y {
			for j := range k {
				if z[i*k+j] > z[i*k+y[i]] {
					y[i] = j
				}
			}
			tg[i] = (y[i] + 1 + i) % k
		}
		for _, tc := range searchCases {
			t.Run(tn.name+"/"+tc.name, func(t *testing.T) {
				s := newSearch(x, n, d, steps, 0.2)
				tc.build(s, y, tg)
				var got, want engine.SearchResult
				before := e.Compiles()
				calls := 0
				s.Progress = func(k int) error { calls += k; return nil }
				if err := e.Search(context.Background(), &got, s); err != nil {
					t.Fatal(err)
				}
				if calls != got.Steps {
					t.Errorf("progress counted %d steps, search ran %d", calls, got.Steps)
				}
				if err := engine.RunSearch(context.Background(), e, &want, s); err != nil {
					t.Fatal(err)
				}
				if got.Steps != want.Steps && s.Groups == nil {
					t.Errorf("ran %d steps, RunSearch %d", got.Steps, want.Steps)
				}
				for i := 0; i < n; i++ {
					if got.Time[i] != want.Time[i] {
						t.Errorf("row %d: kept step %d (score %.7g), RunSearch step %d (score %.7g)", i, got.Time[i], got.Score[i], want.Time[i], want.Score[i])
						continue
					}
					if d := math.Abs(got.Score[i] - want.Score[i]); d > 1e-5*max(1, math.Abs(want.Score[i])) {
						t.Errorf("row %d: score %.8g, RunSearch %.8g", i, got.Score[i], want.Score[i])
					}
					for q := i * d; q < (i+1)*d; q++ {
						if math.Abs(float64(got.X[q]-want.X[q])) > 1e-5 {
							t.Fatalf("row %d value %d: %v, RunSearch %v", i, q, got.X[q], want.X[q])
						}
						if got.X[q] < s.Lo[q] || got.X[q] > s.Hi[q] {
							t.Fatalf("row %d value %d: %v outside [%v, %v]", i, q, got.X[q], s.Lo[q], s.Hi[q])
						}
					}
					for j := i * k; j < (i+1)*k; j++ {
						if math.Abs(float64(got.Logits[j]-want.Logits[j])) > 1e-4*max(1, math.Abs(float64(want.Logits[j]))) {
							t.Errorf("row %d logit %d: %v, RunSearch %v", i, j-i*k, got.Logits[j], want.Logits[j])
						}
					}
				}
				t.Logf("kept steps %v, scores %.4g, %d programs compiled", got.Time, got.Score, e.Compiles()-before)
			})
		}
	}
}

// TestSearchErrors checks refusal, cancellation, progress errors, NaN and
// bucketing.
func TestSearchErrors(t *testing.T) {
	tn := testNets[0]
	m := newModel(t, tn.graph, 32)
	e := newTestExecutor(t, m, WithUnroll(2))
	const n = 3
	d := tn.graph.Input.Size()
	x := randomInputs(tn.graph, n, 33)
	labels := []int{1, 2, 3}
	base := func() *engine.Search {
		s := newSearch(x, n, d, 3, 0.1)
		s.Loss = engine.CrossEntropy{Labels: labels}
		s.Keep = engine.Keep{Criterion: engine.ConfidentWrong{Labels: labels}}
		return s
	}
	var res engine.SearchResult
	s := base()
	s.Loss = hostLoss{s.Loss}
	if err := e.Search(context.Background(), &res, s); !errors.Is(err, engine.ErrUnsupported) {
		t.Errorf("host loss: error %v, want ErrUnsupported", err)
	}
	s = base()
	s.Keep.Criterion = hostCriterion{}
	if err := e.Search(context.Background(), &res, s); !errors.Is(err, engine.ErrUnsupported) {
		t.Errorf("unknown criterion: error %v, want ErrUnsupported", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := e.Search(ctx, &res, base()); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: error %v", err)
	}
	stop := errors.New("stop")
	s = base()
	s.Progress = func(int) error { return stop }
	if err := e.Search(context.Background(), &res, s); !errors.Is(err, stop) {
		t.Errorf("progress error: %v", err)
	}
	s = base()
	s.Step = s.Step[:1]
	if err := e.Search(context.Background(), &res, s); err == nil {
		t.Error("short Step accepted")
	}
	s = base()
	s.Loss = engine.ConfidenceHinge{Targets: labels, Threshold: math.Inf(1)}
	if err := e.Search(context.Background(), &res, s); !errors.Is(err, engine.ErrNotFinite) {
		t.Errorf("NaN loss: error %v, want ErrNotFinite", err)
	}
	// Bucketed: 3 rows run as 4, the same results.
	padded := newTestExecutor(t, m, WithUnroll(2), WithBatchBuckets(true))
	var a, b engine.SearchResult
	if err := e.Search(context.Background(), &a, base()); err != nil {
		t.Fatal(err)
	}
	if err := padded.Search(context.Background(), &b, base()); err != nil {
		t.Fatal(err)
	}
	if len(b.X) != n*d || len(b.Time) != n {
		t.Fatalf("bucketed search returned %d values, %d rows", len(b.X), len(b.Time))
	}
	for i := range a.Time {
		if a.Time[i] != b.Time[i] || a.Score[i] != b.Score[i] {
			t.Errorf("row %d: exact batch step %d score %v, bucketed %d %v", i, a.Time[i], a.Score[i], b.Time[i], b.Score[i])
		}
	}
}

// hostCriterion is a criterion no executor recognises.
type hostCriterion struct{}

func (hostCriterion) Criterion(int, []float32) float64 { return 0 }

// TestBF16 checks the bf16 precision of the attack's passes: Logits stay
// float32 (bit for bit), input gradients and a compiled search follow the
// float32 ones to bfloat16's precision.
func TestBF16(t *testing.T) {
	for _, tn := range testNets[:2] {
		t.Run(tn.name, func(t *testing.T) {
			m := newModel(t, tn.graph, 40)
			f32 := newTestExecutor(t, m, WithUnroll(2))
			b16 := newTestExecutor(t, m, WithUnroll(2), WithPrecision(BF16))
			if p := b16.Precision(); p != "bf16 attack passes, fp32 logits" {
				t.Errorf("precision %q", p)
			}
			const n = 4
			d, k := tn.graph.Input.Size(), tn.graph.Classes
			x := randomInputs(tn.graph, n, 41)
			z1, z2 := make([]float32, n*k), make([]float32, n*k)
			if err := f32.Logits(z1, x, n); err != nil {
				t.Fatal(err)
			}
			if err := b16.Logits(z2, x, n); err != nil {
				t.Fatal(err)
			}
			for j := range z1 {
				if z1[j] != z2[j] {
					t.Fatalf("logit %d: float32 %v, bf16 executor %v", j, z1[j], z2[j])
				}
			}
			labels := []int{1, 2, 3, 4}
			loss := engine.TargetLogProb{Targets: labels}
			g1, g2 := make([]float32, n*d), make([]float32, n*d)
			if err := f32.InputGrad(g1, nil, nil, x, n, loss); err != nil {
				t.Fatal(err)
			}
			if err := b16.InputGrad(g2, nil, nil, x, n, loss); err != nil {
				t.Fatal(err)
			}
			dot, n1, n2 := 0.0, 0.0, 0.0
			for q := range g1 {
				dot += float64(g1[q]) * float64(g2[q])
				n1 += float64(g1[q]) * float64(g1[q])
				n2 += float64(g2[q]) * float64(g2[q])
			}
			if cos := dot / math.Sqrt(n1*n2); cos < 0.95 {
				t.Errorf("cosine of the float32 and bf16 input gradients %.4f, want ≥ 0.95", cos)
			}
			s := newSearch(x, n, d, 4, 0.1)
			s.Loss = loss
			s.Keep = engine.Keep{Criterion: engine.ConfidentWrong{Labels: labels}}
			var r1, r2 engine.SearchResult
			if err := f32.Search(context.Background(), &r1, s); err != nil {
				t.Fatal(err)
			}
			if err := b16.Search(context.Background(), &r2, s); err != nil {
				t.Fatal(err)
			}
			for i := range r1.Score {
				if math.Abs(r1.Score[i]-r2.Score[i]) > 0.05 {
					t.Errorf("row %d: float32 score %v, bf16 %v", i, r1.Score[i], r2.Score[i])
				}
			}
		})
	}
}

// TestSearchOnPlugin runs the compiled searches on a PJRT plugin (a GPU)
// against RunSearch on the same executor. TF32 makes the device's
// gradients differ from float32 ones, so it reports differences instead of
// requiring equal steps.
func TestSearchOnPlugin(t *testing.T) {
	plugin := os.Getenv(PluginEnv)
	if plugin == "" || !Linked() {
		t.Skip("set $" + PluginEnv + " to a PJRT plugin (e.g. jax's xla_cuda_plugin.so) in a cgo build to run on a GPU")
	}
	tn := testNets[1]
	m := newModel(t, tn.graph, 50)
	e, err := New(m, WithBackend("xla:"+plugin), WithUnroll(2))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	const n = 8
	d := tn.graph.Input.Size()
	x := randomInputs(tn.graph, n, 51)
	labels, targets := make([]int, n), make([]int, n)
	for i := range labels {
		labels[i], targets[i] = i%10, (i+1)%10
	}
	for _, tc := range searchCases {
		s := newSearch(x, n, d, 6, 0.1)
		tc.build(s, labels, targets)
		var got, want engine.SearchResult
		if err := e.Search(context.Background(), &got, s); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if err := engine.RunSearch(context.Background(), e, &want, s); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		same := 0
		for i := range got.Time {
			if got.Time[i] == want.Time[i] {
				same++
			}
		}
		t.Logf("%s on %s: %d of %d rows keep the same step as RunSearch", tc.name, e.Backend(), same, n)
	}
}
