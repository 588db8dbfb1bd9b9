package plots

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gonum.org/v1/plot/plotter"

	"confrobust/results/paper"
	"confrobust/stats"
)

func TestAWPRXYs(t *testing.T) {
	t.Parallel()
	before, after := awprXYs(AWPRSeries{Eta: 0.02, Points: []AWPRPoint{
		{P: 0.99, Before: 0.217, After: 0.038},
		{P: 0.90, Before: 0.217, After: 0.147},
		{P: 0.95, Before: 0.217, After: 0.09},
	}})
	wantBefore := plotter.XYs{{X: 0.90, Y: 21.7}, {X: 0.95, Y: 21.7}, {X: 0.99, Y: 21.7}}
	wantAfter := plotter.XYs{{X: 0.90, Y: 14.7}, {X: 0.95, Y: 9}, {X: 0.99, Y: 3.8}}
	checkXYs(t, "before", before, wantBefore)
	checkXYs(t, "after", after, wantAfter)
}

func TestPaperAWPR(t *testing.T) {
	t.Parallel()
	n, err := paper.Load()
	if err != nil {
		t.Fatal(err)
	}
	series := PaperAWPR(n.Table2)
	if len(series) != 4 {
		t.Fatalf("%d series, want 4", len(series))
	}
	s := series[2]
	if s.Eta != 0.020 {
		t.Fatalf("series[2].Eta = %v, want 0.020", s.Eta)
	}
	before, after := awprXYs(s)
	checkXYs(t, "η=0.020 before", before, plotter.XYs{{X: 0.90, Y: 21.7}, {X: 0.95, Y: 21.7}, {X: 0.99, Y: 21.7}})
	checkXYs(t, "η=0.020 after", after, plotter.XYs{{X: 0.90, Y: 14.7}, {X: 0.95, Y: 9.0}, {X: 0.99, Y: 3.8}})

	rs := PaperRecall(n.Table3, EtaLabel)
	if len(rs) != 1 || rs[0].Label != "η = 0.010" {
		t.Fatalf("PaperRecall(Table3) = %+v", rs)
	}
	checkXYs(t, "table3 recall", recallXYs(rs[0]), plotter.XYs{{X: 99.1, Y: 97.2}, {X: 99.1, Y: 96.2}, {X: 98.9, Y: 92.6}})
}

func TestRecallXYs(t *testing.T) {
	t.Parallel()
	outcomes := []stats.Outcome{
		{Confidence: 0.99, Found: true, AdvConfidence: 0.95},
		{Confidence: 0.95, Found: true, AdvConfidence: 0.80},
		{Confidence: 0.90},
		{Confidence: 0.80, Found: true, AdvConfidence: 0.95},
		{Confidence: 0.95},
	}
	c, err := stats.Curve(outcomes)
	if err != nil {
		t.Fatal(err)
	}
	s := CurveSeries("toy", c)
	before, after := awprXYs(CurveAWPR(0.01, c))
	checkXYs(t, "CurveAWPR before", before, plotter.XYs{{X: 0.80, Y: 60}, {X: 0.90, Y: 60}, {X: 0.95, Y: 60}, {X: 0.99, Y: 60}, {X: math.Nextafter(0.99, 2), Y: 60}})
	checkXYs(t, "CurveAWPR after", after, plotter.XYs{{X: 0.80, Y: 60}, {X: 0.90, Y: 40}, {X: 0.95, Y: 40}, {X: 0.99, Y: 0}, {X: math.Nextafter(0.99, 2), Y: 0}})
	nat, adv := OutcomeConfidences(outcomes)
	if fmt.Sprint(nat, adv) != "[0.99 0.95 0.9 0.8 0.95] [0.95 0.8 0.95]" {
		t.Errorf("OutcomeConfidences = %v, %v", nat, adv)
	}
	// Thresholds 0.80, 0.90, 0.95, 0.99 and just above 0.99.
	checkXYs(t, "curve", recallXYs(s), plotter.XYs{{X: 60, Y: 100}, {X: 40, Y: 80}, {X: 40, Y: 60}, {X: 0, Y: 20}, {X: 0, Y: 0}})
	// p = 0.5 is in effect as 0.80, 0.93 as 0.95, 0.99 as itself; 2 is past every threshold.
	checkXYs(t, "marks", markXYs(s, []float64{0.5, 0.93, 0.99, 2}), plotter.XYs{{X: 60, Y: 100}, {X: 40, Y: 60}, {X: 0, Y: 20}})
}

func TestHistogramBins(t *testing.T) {
	t.Parallel()
	b, err := histogramBins([]float64{0, 0.1, 0.25, 0.5, 0.74, 0.75, 1, 1.2, -0.1}, 0, 1, 4)
	if err != nil {
		t.Fatal(err)
	}
	want := []plotter.HistogramBin{{Min: 0, Max: 0.25, Weight: 2}, {Min: 0.25, Max: 0.5, Weight: 1}, {Min: 0.5, Max: 0.75, Weight: 2}, {Min: 0.75, Max: 1, Weight: 2}}
	if len(b) != len(want) {
		t.Fatalf("%d bins, want %d", len(b), len(want))
	}
	for i := range want {
		if b[i] != want[i] {
			t.Errorf("bin %d = %+v, want %+v", i, b[i], want[i])
		}
	}
	if _, err := histogramBins([]float64{math.NaN()}, 0, 1, 4); err == nil {
		t.Error("NaN: no error")
	}
	if _, err := histogramBins(nil, 1, 0, 4); err == nil {
		t.Error("empty range: no error")
	}
	if _, err := histogramBins(nil, 0, 1, 0); err == nil {
		t.Error("0 bins: no error")
	}
}

func TestRankValues(t *testing.T) {
	t.Parallel()
	n, err := paper.Load()
	if err != nil {
		t.Fatal(err)
	}
	groups := PaperRanks(n.Table4)
	if len(groups) != 4 || groups[0].Label != "η = ξ = 0.010\nlabel change" || groups[3].Label != "η = ξ = 0.015\nconf. reduction" {
		t.Fatalf("PaperRanks = %+v", groups)
	}
	counts, err := rankValues(groups, false)
	if err != nil {
		t.Fatal(err)
	}
	want := [4]plotter.Values{
		{94, 8621, 114, 8511},
		{208, 27, 260, 20},
		{50, 0, 66, 0},
		{0, 0, 29, 0},
	}
	for i := range want {
		checkValues(t, rankNames[i], counts[i], want[i], 0)
	}
	pct, err := rankValues([]RankGroup{{Label: "a", First: 94, Second: 208, Other: 50}, {Label: "empty"}}, true)
	if err != nil {
		t.Fatal(err)
	}
	// 94/352, 208/352, 50/352 in percent.
	wantPct := [4]plotter.Values{{26.704545454545453, 0}, {59.090909090909093, 0}, {14.204545454545455, 0}, {0, 0}}
	for i := range wantPct {
		checkValues(t, rankNames[i]+" %", pct[i], wantPct[i], 1e-12)
	}
	if _, err := rankValues([]RankGroup{{Label: "bad", First: -1}}, false); err == nil {
		t.Error("negative count: no error")
	}
}

// keepDir returns where rendered figures go: $PLOTS_DIR when set, to look at them, else a
// temporary directory.
func keepDir(t *testing.T) string {
	if d := os.Getenv("PLOTS_DIR"); d != "" {
		return d
	}
	return t.TempDir()
}

// synthetic returns outcomes shaped like Table 2: natural confidences mostly near 1,
// adversarial examples for a share of points with lower confidences.
func synthetic(seed uint64, found float64) []stats.Outcome {
	r := rand.New(rand.NewPCG(seed, 1))
	out := make([]stats.Outcome, 1000)
	for i := range out {
		o := &out[i]
		o.Confidence = 1 - 0.9*math.Pow(r.Float64(), 6)
		if r.Float64() < found {
			o.Found = true
			o.AdvConfidence = 0.3 + 0.7*math.Pow(r.Float64(), 2)
		}
	}
	return out
}

func TestRender(t *testing.T) {
	t.Parallel()
	n, err := paper.Load()
	if err != nil {
		t.Fatal(err)
	}
	dir := keepDir(t)
	var measured []AWPRSeries
	var curves []RecallSeries
	for i, eta := range n.Table2.Etas() {
		outcomes := synthetic(uint64(i), 0.1+0.08*float64(i))
		c, err := stats.Curve(outcomes)
		if err != nil {
			t.Fatal(err)
		}
		curves = append(curves, CurveSeries(EtaLabel(eta), c))
		grid, err := stats.CurveAt(outcomes, []float64{0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99})
		if err != nil {
			t.Fatal(err)
		}
		measured = append(measured, CurveAWPR(eta, grid))
	}
	nat, adv := OutcomeConfidences(synthetic(7, 0.3))
	for _, ext := range Formats {
		for _, f := range []struct {
			name string
			draw func(path string) error
		}{
			{"awpr", func(path string) error {
				return AWPR(path, AWPRFigure{Title: "AWPR against the rejection threshold (synthetic)", Measured: measured, Paper: PaperAWPR(n.Table2)})
			}},
			{"recall", func(path string) error {
				return Recall(path, RecallFigure{Title: "Recall against AWPR (synthetic)", Measured: curves, Paper: PaperRecall(n.Table2, EtaLabel), Marks: []float64{0.9, 0.95, 0.99}})
			}},
			{"confidences", func(path string) error {
				return Confidences(path, HistogramFigure{Title: "Confidences (synthetic)", Natural: nat, Adversarial: adv, Thresholds: []float64{0.9, 0.95, 0.99}})
			}},
			{"ranks", func(path string) error {
				return Ranks(path, RankFigure{Title: "MCN rank of the true label (paper, Table 4)", Groups: PaperRanks(n.Table4), Percent: true})
			}},
			{"ranks-counts", func(path string) error {
				return Ranks(path, RankFigure{Title: "MCN rank of the true label (paper, Table 4)", Groups: PaperRanks(n.Table4)})
			}},
		} {
			path := filepath.Join(dir, f.name+ext)
			if err := f.draw(path); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			checkImage(t, path)
		}
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, ".*.tmp*"))
	if len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
}

func TestRenderErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	one := []AWPRSeries{{Eta: 0.01, Points: []AWPRPoint{{P: 0.9, Before: 0.1, After: 0.05}}}}
	for _, test := range []struct {
		name string
		err  error
	}{
		{"bad extension", AWPR(filepath.Join(dir, "a.jpg"), AWPRFigure{Measured: one})},
		{"no directory", AWPR(filepath.Join(dir, "missing", "a.png"), AWPRFigure{Measured: one})},
		{"no AWPR data", AWPR(filepath.Join(dir, "a.png"), AWPRFigure{})},
		{"NaN AWPR", AWPR(filepath.Join(dir, "a.png"), AWPRFigure{Measured: []AWPRSeries{{Eta: 0.01, Points: []AWPRPoint{{P: math.NaN()}}}}})},
		{"no recall data", Recall(filepath.Join(dir, "r.png"), RecallFigure{})},
		{"no histogram data", Confidences(filepath.Join(dir, "h.png"), HistogramFigure{})},
		{"NaN confidence", Confidences(filepath.Join(dir, "h.png"), HistogramFigure{Natural: []float64{math.NaN()}})},
		{"bad range", Confidences(filepath.Join(dir, "h.png"), HistogramFigure{Natural: []float64{0.5}, Min: 1, Max: 0.5})},
		{"no groups", Ranks(filepath.Join(dir, "k.png"), RankFigure{})},
	} {
		if test.err == nil {
			t.Errorf("%s: no error", test.name)
		} else if !strings.HasPrefix(test.err.Error(), "plots: ") {
			t.Errorf("%s: error %q does not start with the package name", test.name, test.err)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("failed renders left files: %v", entries)
	}
}

// checkImage fails unless path is a non-empty PNG, SVG or PDF file.
func checkImage(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	switch filepath.Ext(path) {
	case ".png":
		if !bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")) {
			t.Errorf("%s: no PNG signature: % x", path, data[:min(8, len(data))])
		}
	case ".pdf":
		if !bytes.HasPrefix(data, []byte("%PDF-")) {
			t.Errorf("%s: no PDF header: %q", path, data[:min(8, len(data))])
		}
	case ".svg":
		s := strings.TrimSpace(string(data[:min(200, len(data))]))
		if !strings.HasPrefix(s, "<?xml") && !strings.HasPrefix(s, "<svg") {
			t.Errorf("%s: does not start like an SVG: %q", path, s)
		}
	}
	if len(data) < 1000 {
		t.Errorf("%s: only %d bytes", path, len(data))
	}
}

func checkXYs(t *testing.T, what string, got, want plotter.XYs) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d points, want %d: %v", what, len(got), len(want), got)
	}
	for i := range want {
		if math.Abs(got[i].X-want[i].X) > 1e-9 || math.Abs(got[i].Y-want[i].Y) > 1e-9 {
			t.Errorf("%s[%d] = %+v, want %+v", what, i, got[i], want[i])
		}
	}
}

func checkValues(t *testing.T, what string, got, want plotter.Values, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range want {
		if math.Abs(got[i]-want[i]) > tol {
			t.Errorf("%s[%d] = %.17g, want %.17g", what, i, got[i], want[i])
		}
	}
}

// TestIntervalsDrawn: a measured AWPR series with intervals gets two bands
// (before and after rejection); a series without gets none; the marked
// recall points get error bars from their intervals.
func TestIntervalsDrawn(t *testing.T) {
	s := AWPRSeries{Eta: 0.01, Points: []AWPRPoint{
		{P: 0.5, Before: 0.2, After: 0.1, BeforeLo: 0.1, BeforeHi: 0.3, AfterLo: 0.05, AfterHi: 0.2},
		{P: 0.9, Before: 0.2, After: 0.05, BeforeLo: 0.1, BeforeHi: 0.3, AfterLo: 0.01, AfterHi: 0.1},
	}}
	polys, err := awprBands(s, colorAt(0))
	if err != nil || len(polys) != 2 {
		t.Fatalf("bands: %d, %v; want 2", len(polys), err)
	}
	// The after band runs along the lower bounds, then back along the upper.
	got := polys[1].XYs[0]
	want := plotter.XYs{{X: 0.5, Y: 5}, {X: 0.9, Y: 1}, {X: 0.9, Y: 10}, {X: 0.5, Y: 20}}
	checkXYs(t, "after band", got, want)
	for i := range s.Points {
		s.Points[i].BeforeHi, s.Points[i].AfterHi = 0, 0
	}
	if polys, _ := awprBands(s, colorAt(0)); polys != nil {
		t.Errorf("bands drawn for a series without intervals")
	}
	r := RecallSeries{Label: "x", Points: []RecallPoint{{P: 0.9, AWPR: 0.1, Recall: 0.8, AWPRLo: 0.05, AWPRHi: 0.2, RecallLo: 0.7, RecallHi: 0.85}}}
	xe, ye, err := markErrors(r, []float64{0.9})
	if err != nil || xe == nil {
		t.Fatalf("error bars: %v", err)
	}
	if lo, hi := xe.XErrors.XError(0); math.Abs(lo-5) > 1e-9 || math.Abs(hi-10) > 1e-9 {
		t.Errorf("x error (%v, %v), want (5, 10)", lo, hi)
	}
	if lo, hi := ye.YErrors.YError(0); math.Abs(lo-10) > 1e-9 || math.Abs(hi-5) > 1e-9 {
		t.Errorf("y error (%v, %v), want (10, 5)", lo, hi)
	}
}

// TestHistogramRange: by default the bins span from the smallest
// confidence, rounded down to 0.05, to 1.
func TestHistogramRange(t *testing.T) {
	for _, tc := range []struct {
		fig    HistogramFigure
		lo, hi float64
	}{
		{HistogramFigure{Natural: []float64{0.97, 0.99, 1}, Adversarial: []float64{0.62}}, 0.6, 1},
		{HistogramFigure{Natural: []float64{0.999, 1}}, 0.95, 1},
		{HistogramFigure{Natural: []float64{0.1, 0.5}}, 0.1, 1},
		{HistogramFigure{Natural: []float64{0.5}, Min: 0.2, Max: 0.9}, 0.2, 0.9},
	} {
		if lo, hi := tc.fig.binRange(); math.Abs(lo-tc.lo) > 1e-12 || hi != tc.hi {
			t.Errorf("range of %v: [%v, %v], want [%v, %v]", tc.fig.Natural, lo, hi, tc.lo, tc.hi)
		}
	}
}
