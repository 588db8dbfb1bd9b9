package plots

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"gonum.org/v1/plot/plotter"

	"confrobust/stats"
)

func TestROCXYs(t *testing.T) {
	t.Parallel()
	// natural 0.9, 0.8, 0.8, 0.5 against adversarial 0.8, 0.6, 0.3 (stats' hand-worked case).
	roc, err := stats.ROC([]float64{0.9, 0.8, 0.8, 0.5}, []float64{0.8, 0.6, 0.3})
	if err != nil {
		t.Fatal(err)
	}
	s := CurveROC("toy", 0.75, roc)
	// Shuffled points come back in decreasing order of τ.
	s.Points[0], s.Points[3] = s.Points[3], s.Points[0]
	checkXYs(t, "roc", rocXYs(s), plotter.XYs{{X: 0, Y: 0}, {X: 0, Y: 25}, {X: 100.0 / 3, Y: 75}, {X: 200.0 / 3, Y: 75}, {X: 200.0 / 3, Y: 100}, {X: 100, Y: 100}})
	// τ = 0.85 is in effect as 0.9, 0.8 as itself, 0.1 as the smallest; 0.9000000000000001 is
	// the first threshold (nothing accepted); 0.95 and 2 are above every threshold.
	checkXYs(t, "marks", rocMarkXYs(s, []float64{0.85, 0.8, 0.1, math.Nextafter(0.9, 1), 0.95, 2}), plotter.XYs{{X: 0, Y: 25}, {X: 100.0 / 3, Y: 75}, {X: 100, Y: 100}, {X: 0, Y: 0}})
}

func TestRenderROC(t *testing.T) {
	t.Parallel()
	dir := keepDir(t)
	r := rand.New(rand.NewPCG(3, 1))
	var series []ROCSeries
	var marks []float64
	for i, spread := range []float64{0.5, 0.2} {
		nat := make([]float64, 300)
		adv := make([]float64, 200)
		for j := range nat {
			nat[j] = 1 - 0.3*math.Pow(r.Float64(), 3)
		}
		for j := range adv {
			adv[j] = 1 - spread*math.Sqrt(r.Float64())
		}
		roc, err := stats.ROC(nat, adv)
		if err != nil {
			t.Fatal(err)
		}
		auc, err := stats.AUC(nat, adv)
		if err != nil {
			t.Fatal(err)
		}
		label := []string{"weak attack", "strong attack"}[i]
		series = append(series, CurveROC(label, auc, roc))
		if i == 0 {
			tau, err := stats.Threshold(nat, 0.99)
			if err != nil {
				t.Fatal(err)
			}
			marks = append(marks, tau)
		}
	}
	series[1].AUC = math.NaN()
	for _, ext := range []string{".png", ".svg"} {
		path := filepath.Join(dir, "roc"+ext)
		if err := ROC(path, ROCFigure{Title: "Confidence as a detector (synthetic)", Series: series, Marks: marks}); err != nil {
			t.Fatal(err)
		}
		checkImage(t, path)
	}
	for _, c := range []struct {
		name string
		err  error
	}{
		{"no data", ROC(filepath.Join(dir, "x.png"), ROCFigure{})},
		{"bad extension", ROC(filepath.Join(dir, "x.jpg"), ROCFigure{Series: series})},
		{"NaN point", ROC(filepath.Join(dir, "x.png"), ROCFigure{Series: []ROCSeries{{Label: "bad", Points: []ROCPoint{{FPR: math.NaN()}}}}})},
	} {
		if c.err == nil {
			t.Errorf("%s: no error", c.name)
		} else if !strings.HasPrefix(c.err.Error(), "plots: ") {
			t.Errorf("%s: error %q does not start with the package name", c.name, c.err)
		}
	}
}
