package plots

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"confrobust/stats"
)

// ROCPoint is one operating point of confidence as a detector at threshold Tau (accept when
// ||F(x)||∞ ≥ Tau): FPR, the share of adversarial examples accepted, and TPR, the share of
// natural points kept, as fractions.
type ROCPoint struct {
	Tau float64
	FPR float64
	TPR float64
}

// ROCSeries is one ROC curve, such as one model under one attack. AUC, when not NaN, is
// appended to the legend entry as "(AUC 0.873)".
type ROCSeries struct {
	Label  string
	AUC    float64
	Points []ROCPoint
}

// ROCFigure is the data of the ROC figure: curves drawn as lines through their points (the
// trapezoids whose area is the AUC), the chance diagonal dashed, and a filled marker on every
// curve where Tau equals each of Marks (such as the τ that keeps 99% of held-out natural
// points).
type ROCFigure struct {
	Title  string
	Series []ROCSeries
	Marks  []float64
}

// CurveROC returns the series of a curve computed by stats.ROC, with its AUC (math.NaN() to
// leave it out of the legend).
func CurveROC(label string, auc float64, roc []stats.ROCPoint) ROCSeries {
	s := ROCSeries{Label: label, AUC: auc, Points: make([]ROCPoint, len(roc))}
	for i, p := range roc {
		s.Points[i] = ROCPoint{Tau: p.Tau, FPR: p.FPR, TPR: p.TPR}
	}
	return s
}

// rocXYs returns the (100·FPR, 100·TPR) points of s in decreasing order of Tau, the order in
// which the rates grow.
func rocXYs(s ROCSeries) plotter.XYs {
	pts := slices.SortedStableFunc(slices.Values(s.Points), func(a, b ROCPoint) int { return cmp.Compare(b.Tau, a.Tau) })
	xys := make(plotter.XYs, len(pts))
	for i, p := range pts {
		xys[i] = plotter.XY{X: 100 * p.FPR, Y: 100 * p.TPR}
	}
	return xys
}

// rocMarkXYs returns, for each mark, the point of s in effect at threshold mark: the one with
// the smallest Tau ≥ mark (the rates change only at the curve's thresholds). Marks above every
// Tau are skipped.
func rocMarkXYs(s ROCSeries, marks []float64) plotter.XYs {
	pts := slices.SortedStableFunc(slices.Values(s.Points), func(a, b ROCPoint) int { return cmp.Compare(a.Tau, b.Tau) })
	var xys plotter.XYs
	for _, m := range marks {
		i, _ := slices.BinarySearchFunc(pts, m, func(p ROCPoint, m float64) int { return cmp.Compare(p.Tau, m) })
		if i < len(pts) {
			xys = append(xys, plotter.XY{X: 100 * pts[i].FPR, Y: 100 * pts[i].TPR})
		}
	}
	return xys
}

// ROC draws the ROC curves of confidence as an adversarial detector, natural points kept
// against adversarial examples accepted, and writes the figure to path (.png or .svg).
func ROC(path string, fig ROCFigure) error {
	if len(fig.Series) == 0 {
		return fmt.Errorf("plots: ROC figure %s: no data", path)
	}
	p := newPlot(fig.Title, "adversarial examples accepted (%)", "natural points kept (%)")
	p.Add(plotter.NewGrid())
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 100, 0, 100
	chance, err := plotter.NewLine(plotter.XYs{{X: 0, Y: 0}, {X: 100, Y: 100}})
	if err != nil {
		return fmt.Errorf("plots: ROC chance line: %w", err)
	}
	chance.LineStyle = lineStyle(grey, true)
	p.Add(chance)
	for i, s := range fig.Series {
		for _, pt := range s.Points {
			if math.IsNaN(pt.FPR) || math.IsNaN(pt.TPR) || math.IsNaN(pt.Tau) {
				return fmt.Errorf("plots: ROC %q: NaN point %+v", s.Label, pt)
			}
		}
		c := colorAt(i)
		l, err := plotter.NewLine(rocXYs(s))
		if err != nil {
			return fmt.Errorf("plots: ROC %q: %w", s.Label, err)
		}
		l.LineStyle = lineStyle(c, false)
		p.Add(l)
		label := s.Label
		if !math.IsNaN(s.AUC) {
			label += fmt.Sprintf(" (AUC %.3f)", s.AUC)
		}
		p.Legend.Add(label, lineThumb(l.LineStyle))
		if len(fig.Marks) > 0 {
			m, err := plotter.NewScatter(rocMarkXYs(s, fig.Marks))
			if err != nil {
				return fmt.Errorf("plots: ROC %q marks: %w", s.Label, err)
			}
			m.GlyphStyle = draw.GlyphStyle{Color: c, Radius: vg.Points(3), Shape: draw.CircleGlyph{}}
			p.Add(m)
		}
	}
	p.Legend.Add("chance", lineThumb(lineStyle(grey, true)))
	if len(fig.Marks) > 0 {
		p.Legend.Add("at τ = "+joinMarks(fig.Marks), glyphThumb(draw.GlyphStyle{Color: grey, Radius: vg.Points(3), Shape: draw.CircleGlyph{}}))
	}
	return save(p, path)
}
