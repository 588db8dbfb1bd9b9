package stats

import (
	"fmt"
	"math"
	"testing"
)

// cp95 holds 95% Clopper–Pearson intervals computed with 50-digit decimal arithmetic in Python
// (exact binomial sums and bisection), keyed by "k/n".
var cp95 = map[string]Interval{
	"0/5":      {0, 0.52182375010498151},
	"1/5":      {0.0050507633794680565, 0.71641793611808951},
	"2/5":      {0.052744950526316900, 0.85336720036532688},
	"3/5":      {0.14663279963467312, 0.94725504947368310},
	"4/5":      {0.28358206388191049, 0.99494923662053194},
	"5/5":      {0.47817624989501849, 1},
	"217/1000": {0.19181534485460988, 0.24386247525331837},
	"90/1000":  {0.072990466456622855, 0.10946657313833913},
	"857/1000": {0.83375284340327824, 0.87812135712410845},
}

func checkRate(t *testing.T, what string, r Rate, k, n int) {
	t.Helper()
	key := fmt.Sprintf("%d/%d", k, n)
	iv, ok := cp95[key]
	if !ok {
		t.Fatalf("no reference interval for %s", key)
	}
	if r.K != k || r.N != n || r.Value != float64(k)/float64(n) {
		t.Errorf("%s = %d/%d (%v), want %s", what, r.K, r.N, r.Value, key)
	}
	if !near(r.Lo, iv.Lo, 1e-10) || !near(r.Hi, iv.Hi, 1e-10) {
		t.Errorf("%s interval = [%.17g, %.17g], want [%.17g, %.17g]", what, r.Lo, r.Hi, iv.Lo, iv.Hi)
	}
}

// fiveOutcomes has ties at 0.95 among natural points, among adversarial examples and across
// the two, and an unfound attack whose AdvConfidence must be ignored.
var fiveOutcomes = []Outcome{
	{Confidence: 0.99, Found: true, AdvConfidence: 0.95},
	{Confidence: 0.95, Found: true, AdvConfidence: 0.80},
	{Confidence: 0.90, Found: false, AdvConfidence: 0.999},
	{Confidence: 0.80, Found: true, AdvConfidence: 0.95},
	{Confidence: 0.95, Found: false},
}

func TestReject(t *testing.T) {
	t.Parallel()
	for _, test := range []struct {
		p             float64
		after, recall int
	}{
		{0, 3, 5},
		{0.80, 3, 5},
		{0.90, 2, 4},
		{0.95, 2, 3}, // confidence equal to p is kept
		{0.96, 0, 1},
		{0.99, 0, 1},
		{1, 0, 0},
		{math.Inf(1), 0, 0},
	} {
		r, err := Reject(fiveOutcomes, test.p)
		if err != nil {
			t.Fatal(err)
		}
		what := fmt.Sprintf("p=%v", test.p)
		if r.P != test.p {
			t.Errorf("%s: P = %v", what, r.P)
		}
		checkRate(t, what+" AWPR", r.AWPR, 3, 5)
		checkRate(t, what+" AWPRRejection", r.AWPRRejection, test.after, 5)
		checkRate(t, what+" Recall", r.Recall, test.recall, 5)
	}
}

// TestRejectPaperRow builds outcomes with the counts of Table 2's row η = 0.020, p = 0.95
// (AWPR 21.7%, with rejection 9.0%, recall 85.7% of 1000) and checks the rates.
func TestRejectPaperRow(t *testing.T) {
	t.Parallel()
	outcomes := make([]Outcome, 1000)
	for i := range outcomes {
		o := &outcomes[i]
		// Natural confidences: 857 at or above 0.95, the first exactly at it.
		o.Confidence = 0.5
		if i%1000 < 857 {
			o.Confidence = 0.95 + 0.05*float64(i)/1000
		}
		// 217 adversarial examples, 90 of them at confidence 0.95 exactly.
		j := (i * 37) % 1000 // spread the found points over both kinds of natural point
		if j < 217 {
			o.Found = true
			o.AdvConfidence = 0.6
			if j < 90 {
				o.AdvConfidence = 0.95
			}
		}
	}
	r, err := Reject(outcomes, 0.95)
	if err != nil {
		t.Fatal(err)
	}
	checkRate(t, "AWPR", r.AWPR, 217, 1000)
	checkRate(t, "AWPRRejection", r.AWPRRejection, 90, 1000)
	checkRate(t, "Recall", r.Recall, 857, 1000)
	if got := fmt.Sprintf("%.1f %.1f %.1f", r.AWPR.Percent(), r.AWPRRejection.Percent(), r.Recall.Percent()); got != "21.7 9.0 85.7" {
		t.Errorf("percentages = %s, want 21.7 9.0 85.7", got)
	}
	if got, want := r.AWPR.String(), "217/1000 = 21.7% [19.2%, 24.4%]"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	a, err := AWPR(outcomes)
	if err != nil {
		t.Fatal(err)
	}
	checkRate(t, "AWPR()", a, 217, 1000)
}

func TestCurve(t *testing.T) {
	t.Parallel()
	c, err := Curve(fiveOutcomes)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		p             float64
		after, recall int
	}{
		{0.80, 3, 5},
		{0.90, 2, 4},
		{0.95, 2, 3},
		{0.99, 0, 1},
		{math.Nextafter(0.99, 2), 0, 0},
	}
	if len(c) != len(want) {
		t.Fatalf("len(Curve) = %d, want %d: %+v", len(c), len(want), c)
	}
	for i, w := range want {
		what := fmt.Sprintf("curve[%d]", i)
		if c[i].P != w.p {
			t.Errorf("%s.P = %v, want %v", what, c[i].P, w.p)
		}
		checkRate(t, what+" AWPR", c[i].AWPR, 3, 5)
		checkRate(t, what+" AWPRRejection", c[i].AWPRRejection, w.after, 5)
		checkRate(t, what+" Recall", c[i].Recall, w.recall, 5)
	}
	at, err := CurveAt(fiveOutcomes, []float64{0.99, 0.9})
	if err != nil {
		t.Fatal(err)
	}
	if at[0].P != 0.99 || at[0].Recall.K != 1 || at[1].P != 0.9 || at[1].Recall.K != 4 {
		t.Errorf("CurveAt keeps order: got %+v", at)
	}
}

func TestRejectErrors(t *testing.T) {
	t.Parallel()
	for _, test := range []struct {
		name     string
		outcomes []Outcome
		p        float64
	}{
		{"empty", nil, 0.9},
		{"NaN natural", []Outcome{{Confidence: math.NaN()}}, 0.9},
		{"natural above 1", []Outcome{{Confidence: 1.5}}, 0.9},
		{"negative adversarial", []Outcome{{Confidence: 0.5, Found: true, AdvConfidence: -0.1}}, 0.9},
		{"NaN threshold", []Outcome{{Confidence: 0.5}}, math.NaN()},
	} {
		if _, err := Reject(test.outcomes, test.p); err == nil {
			t.Errorf("%s: Reject: no error", test.name)
		}
	}
	if _, err := Curve(nil); err == nil {
		t.Error("Curve(nil): no error")
	}
	if _, err := AWPR(nil); err == nil {
		t.Error("AWPR(nil): no error")
	}
}

func BenchmarkCurve1000(b *testing.B) {
	outcomes := make([]Outcome, 1000)
	for i := range outcomes {
		outcomes[i] = Outcome{Confidence: float64(i) / 1000, Found: i%3 == 0, AdvConfidence: float64(999-i) / 1000}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Curve(outcomes); err != nil {
			b.Fatal(err)
		}
	}
}
