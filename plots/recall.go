package plots

import (
	"cmp"
	"fmt"
	"slices"

	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"confrobust/stats"
)

// RecallPoint is the state of the rejection rule at threshold P: the AWPR with rejection and
// the recall of natural points, as fractions.
type RecallPoint struct {
	P      float64
	AWPR   float64
	Recall float64
}

// RecallSeries is one recall-against-AWPR curve, such as one model at one radius.
type RecallSeries struct {
	Label  string
	Points []RecallPoint
}

// RecallFigure is the data of the recall-against-AWPR figure: measured curves drawn as step
// lines, with a filled marker where p equals each of Marks, and the paper's values as hollow
// markers. Series with the same Label share a color.
type RecallFigure struct {
	Title    string
	Measured []RecallSeries
	Paper    []RecallSeries
	// Marks are thresholds to mark on the measured curves, such as the paper's 0.90, 0.95, 0.99.
	Marks []float64
}

// CurveSeries returns the recall-against-AWPR series of a curve computed by stats.Curve or
// stats.CurveAt.
func CurveSeries(label string, curve []stats.Rejection) RecallSeries {
	s := RecallSeries{Label: label, Points: make([]RecallPoint, len(curve))}
	for i, r := range curve {
		s.Points[i] = RecallPoint{P: r.P, AWPR: r.AWPRRejection.Value, Recall: r.Recall.Value}
	}
	return s
}

// recallXYs returns the (100·AWPR, 100·Recall) points of s in increasing order of P.
func recallXYs(s RecallSeries) plotter.XYs {
	pts := slices.SortedStableFunc(slices.Values(s.Points), func(a, b RecallPoint) int { return cmp.Compare(a.P, b.P) })
	xys := make(plotter.XYs, len(pts))
	for i, pt := range pts {
		xys[i] = plotter.XY{X: 100 * pt.AWPR, Y: 100 * pt.Recall}
	}
	return xys
}

// markXYs returns, for each mark, the point of s in effect at threshold mark: the one with the
// smallest P ≥ mark (the rule changes only at the curve's thresholds). Marks above every P are
// skipped.
func markXYs(s RecallSeries, marks []float64) plotter.XYs {
	pts := slices.SortedStableFunc(slices.Values(s.Points), func(a, b RecallPoint) int { return cmp.Compare(a.P, b.P) })
	var xys plotter.XYs
	for _, m := range marks {
		i, _ := slices.BinarySearchFunc(pts, m, func(pt RecallPoint, m float64) int { return cmp.Compare(pt.P, m) })
		if i < len(pts) {
			xys = append(xys, plotter.XY{X: 100 * pts[i].AWPR, Y: 100 * pts[i].Recall})
		}
	}
	return xys
}

// Recall draws the recall of natural points against the AWPR with rejection as the threshold p
// varies, with the paper's values overlaid, and writes the figure to path (.png or .svg).
func Recall(path string, fig RecallFigure) error {
	if len(fig.Measured) == 0 && len(fig.Paper) == 0 {
		return fmt.Errorf("plots: recall figure %s: no data", path)
	}
	p := newPlot(fig.Title, "AWPR with rejection (%)", "recall of natural points (%)")
	p.Add(plotter.NewGrid())
	colors := make(map[string]int)
	colorOf := func(label string) int {
		if i, ok := colors[label]; ok {
			return i
		}
		colors[label] = len(colors)
		p.Legend.Add(label, lineThumb(lineStyle(colorAt(colors[label]), false)))
		return colors[label]
	}
	for _, s := range fig.Measured {
		c := colorAt(colorOf(s.Label))
		l, err := plotter.NewLine(recallXYs(s))
		if err != nil {
			return fmt.Errorf("plots: recall %q: %w", s.Label, err)
		}
		l.LineStyle = lineStyle(c, false)
		p.Add(l)
		if len(fig.Marks) > 0 {
			m, err := plotter.NewScatter(markXYs(s, fig.Marks))
			if err != nil {
				return fmt.Errorf("plots: recall %q marks: %w", s.Label, err)
			}
			m.GlyphStyle = draw.GlyphStyle{Color: c, Radius: vg.Points(3), Shape: draw.CircleGlyph{}}
			p.Add(m)
		}
	}
	for _, s := range fig.Paper {
		c := colorAt(colorOf(s.Label))
		sc, err := plotter.NewScatter(recallXYs(s))
		if err != nil {
			return fmt.Errorf("plots: paper recall %q: %w", s.Label, err)
		}
		sc.GlyphStyle = paperGlyph(c, true)
		p.Add(sc)
	}
	if len(fig.Measured) > 0 && len(fig.Marks) > 0 {
		p.Legend.Add("measured at p = "+joinMarks(fig.Marks), glyphThumb(draw.GlyphStyle{Color: grey, Radius: vg.Points(3), Shape: draw.CircleGlyph{}}))
	}
	if len(fig.Paper) > 0 {
		p.Legend.Add("paper", glyphThumb(paperGlyph(grey, true)))
	}
	return save(p, path)
}

// joinMarks returns the marks as "0.90, 0.95, 0.99".
func joinMarks(marks []float64) string {
	s := ""
	for i, m := range marks {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%.2f", m)
	}
	return s
}
