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
// the recall of natural points, as fractions, with their 95% intervals (both zero: none).
type RecallPoint struct {
	P                  float64
	AWPR               float64
	Recall             float64
	AWPRLo, AWPRHi     float64
	RecallLo, RecallHi float64
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
		s.Points[i] = RecallPoint{P: r.P, AWPR: r.AWPRRejection.Value, Recall: r.Recall.Value,
			AWPRLo: r.AWPRRejection.Lo, AWPRHi: r.AWPRRejection.Hi, RecallLo: r.Recall.Lo, RecallHi: r.Recall.Hi}
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
	var xys plotter.XYs
	for _, pt := range markPoints(s, marks) {
		xys = append(xys, plotter.XY{X: 100 * pt.AWPR, Y: 100 * pt.Recall})
	}
	return xys
}

func markPoints(s RecallSeries, marks []float64) []RecallPoint {
	pts := slices.SortedStableFunc(slices.Values(s.Points), func(a, b RecallPoint) int { return cmp.Compare(a.P, b.P) })
	var out []RecallPoint
	for _, m := range marks {
		i, _ := slices.BinarySearchFunc(pts, m, func(pt RecallPoint, m float64) int { return cmp.Compare(pt.P, m) })
		if i < len(pts) {
			out = append(out, pts[i])
		}
	}
	return out
}

// markErrors returns the 95% error bars, in both directions, of the marked
// points of s; nil when they carry no intervals.
func markErrors(s RecallSeries, marks []float64) (*plotter.XErrorBars, *plotter.YErrorBars, error) {
	pts := markPoints(s, marks)
	if len(pts) == 0 || pts[0].AWPRHi == 0 && pts[0].RecallHi == 0 {
		return nil, nil, nil
	}
	e := errorPoints{}
	for _, pt := range pts {
		e.xys = append(e.xys, plotter.XY{X: 100 * pt.AWPR, Y: 100 * pt.Recall})
		e.x = append(e.x, struct{ Low, High float64 }{Low: 100 * (pt.AWPR - pt.AWPRLo), High: 100 * (pt.AWPRHi - pt.AWPR)})
		e.y = append(e.y, struct{ Low, High float64 }{Low: 100 * (pt.Recall - pt.RecallLo), High: 100 * (pt.RecallHi - pt.Recall)})
	}
	xe, err := plotter.NewXErrorBars(e)
	if err != nil {
		return nil, nil, err
	}
	ye, err := plotter.NewYErrorBars(e)
	return xe, ye, err
}

// errorPoints are points with their error bars, for gonum's error-bar plotters.
type errorPoints struct {
	xys plotter.XYs
	x   plotter.XErrors
	y   plotter.YErrors
}

func (e errorPoints) Len() int                        { return len(e.xys) }
func (e errorPoints) XY(i int) (float64, float64)     { return e.xys[i].X, e.xys[i].Y }
func (e errorPoints) XError(i int) (float64, float64) { return e.x.XError(i) }
func (e errorPoints) YError(i int) (float64, float64) { return e.y.YError(i) }

// Recall draws the recall of natural points against the AWPR with rejection as the threshold p
// varies, with the paper's values overlaid and 95% error bars at the marked thresholds, and
// writes the figure to path (.png, .svg or .pdf).
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
			xe, ye, err := markErrors(s, fig.Marks)
			if err != nil {
				return fmt.Errorf("plots: recall %q intervals: %w", s.Label, err)
			}
			if xe != nil {
				xe.LineStyle.Color, ye.LineStyle.Color = c, c
				p.Add(xe, ye)
			}
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
