package plots

import (
	"cmp"
	"fmt"
	"image/color"
	"slices"

	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"confrobust/stats"
)

// AWPRPoint is the AWPR at one rejection threshold P: Before without rejection and After with
// it, as fractions of the natural points, with their 95% intervals (Lo and Hi; both zero means
// none is drawn).
type AWPRPoint struct {
	P                  float64
	Before             float64
	After              float64
	BeforeLo, BeforeHi float64
	AfterLo, AfterHi   float64
}

// AWPRSeries is the AWPR of one attack radius Eta over thresholds.
type AWPRSeries struct {
	Eta    float64
	Points []AWPRPoint
}

// AWPRFigure is the data of the AWPR-against-p figure: measured series drawn as lines (dashed
// before rejection, solid after) and the paper's values drawn as hollow markers, one color per η.
type AWPRFigure struct {
	Title    string
	Measured []AWPRSeries
	Paper    []AWPRSeries
}

// awprXYs returns the (p, 100·Before) and (p, 100·After) points of s sorted by p.
func awprXYs(s AWPRSeries) (before, after plotter.XYs) {
	pts := sortedAWPR(s)
	before = make(plotter.XYs, len(pts))
	after = make(plotter.XYs, len(pts))
	for i, pt := range pts {
		before[i] = plotter.XY{X: pt.P, Y: 100 * pt.Before}
		after[i] = plotter.XY{X: pt.P, Y: 100 * pt.After}
	}
	return before, after
}

func sortedAWPR(s AWPRSeries) []AWPRPoint {
	return slices.SortedFunc(slices.Values(s.Points), func(a, b AWPRPoint) int { return cmp.Compare(a.P, b.P) })
}

// awprBands returns the 95% bands of s before and after rejection, or nil
// when s has no intervals.
func awprBands(s AWPRSeries, c color.Color) ([]*plotter.Polygon, error) {
	pts := sortedAWPR(s)
	var bLo, bHi, aLo, aHi plotter.XYs
	for _, pt := range pts {
		if pt.BeforeHi == 0 && pt.AfterHi == 0 {
			return nil, nil
		}
		bLo, bHi = append(bLo, plotter.XY{X: pt.P, Y: 100 * pt.BeforeLo}), append(bHi, plotter.XY{X: pt.P, Y: 100 * pt.BeforeHi})
		aLo, aHi = append(aLo, plotter.XY{X: pt.P, Y: 100 * pt.AfterLo}), append(aHi, plotter.XY{X: pt.P, Y: 100 * pt.AfterHi})
	}
	if len(pts) < 2 {
		return nil, nil
	}
	var out []*plotter.Polygon
	for _, b := range [][2]plotter.XYs{{bLo, bHi}, {aLo, aHi}} {
		poly, err := band(b[0], b[1], c)
		if err != nil {
			return nil, err
		}
		out = append(out, poly)
	}
	return out, nil
}

// etaIndex numbers the distinct radii of the series in increasing order; a series' color is
// the palette entry at its radius's number.
func etaIndex(series ...[]AWPRSeries) map[float64]int {
	var etas []float64
	for _, ss := range series {
		for _, s := range ss {
			etas = append(etas, s.Eta)
		}
	}
	slices.Sort(etas)
	etas = slices.Compact(etas)
	idx := make(map[float64]int, len(etas))
	for i, e := range etas {
		idx[e] = i
	}
	return idx
}

// Paper marker shapes: a ring before rejection, a triangle after.
func paperGlyph(c color.Color, after bool) draw.GlyphStyle {
	if after {
		return draw.GlyphStyle{Color: c, Radius: vg.Points(4), Shape: draw.TriangleGlyph{}}
	}
	return draw.GlyphStyle{Color: c, Radius: vg.Points(3.5), Shape: draw.RingGlyph{}}
}

// AWPR draws the AWPR before and after rejection against the threshold p for each η, with the
// paper's values overlaid, and 95% bands around the measured curves when their points carry
// intervals, and writes the figure to path (.png, .svg or .pdf).
func AWPR(path string, fig AWPRFigure) error {
	if len(fig.Measured) == 0 && len(fig.Paper) == 0 {
		return fmt.Errorf("plots: AWPR figure %s: no data", path)
	}
	p := newPlot(fig.Title, "rejection threshold p (reject when confidence < p)", "AWPR (%)")
	p.Add(plotter.NewGrid())
	idx := etaIndex(fig.Measured, fig.Paper)
	seen := make(map[float64]bool)
	addEta := func(eta float64) {
		if !seen[eta] {
			seen[eta] = true
			p.Legend.Add(EtaLabel(eta), lineThumb(lineStyle(colorAt(idx[eta]), false)))
		}
	}
	bands := false
	for _, s := range fig.Measured {
		before, after := awprXYs(s)
		c := colorAt(idx[s.Eta])
		polys, err := awprBands(s, c)
		if err != nil {
			return fmt.Errorf("plots: AWPR η = %v: %w", s.Eta, err)
		}
		for _, poly := range polys {
			p.Add(poly)
			bands = true
		}
		lb, err := plotter.NewLine(before)
		if err != nil {
			return fmt.Errorf("plots: AWPR η = %v: %w", s.Eta, err)
		}
		lb.LineStyle = lineStyle(c, true)
		la, sa, err := plotter.NewLinePoints(after)
		if err != nil {
			return fmt.Errorf("plots: AWPR η = %v: %w", s.Eta, err)
		}
		la.LineStyle = lineStyle(c, false)
		sa.GlyphStyle = draw.GlyphStyle{Color: c, Radius: vg.Points(1.5), Shape: draw.CircleGlyph{}}
		p.Add(lb, la)
		if len(after) <= 20 {
			p.Add(sa)
		}
		addEta(s.Eta)
	}
	for _, s := range fig.Paper {
		before, after := awprXYs(s)
		c := colorAt(idx[s.Eta])
		for i, xys := range []plotter.XYs{before, after} {
			sc, err := plotter.NewScatter(xys)
			if err != nil {
				return fmt.Errorf("plots: paper AWPR η = %v: %w", s.Eta, err)
			}
			sc.GlyphStyle = paperGlyph(c, i == 1)
			p.Add(sc)
		}
		addEta(s.Eta)
	}
	if len(fig.Measured) > 0 {
		p.Legend.Add("before rejection", lineThumb(lineStyle(grey, true)))
		p.Legend.Add("after rejection", lineThumb(lineStyle(grey, false)))
	}
	if bands {
		shade, _ := band(plotter.XYs{{}}, plotter.XYs{{}}, grey)
		p.Legend.Add("95% Clopper–Pearson", shade)
	}
	if len(fig.Paper) > 0 {
		p.Legend.Add("paper, before", glyphThumb(paperGlyph(grey, false)))
		p.Legend.Add("paper, after", glyphThumb(paperGlyph(grey, true)))
	}
	p.Y.Min = 0
	return save(p, path)
}

// CurveAWPR returns the AWPR series for radius eta of a curve computed by stats.CurveAt (a few
// thresholds, such as 0.90, 0.95 and 0.99) or stats.Curve.
func CurveAWPR(eta float64, curve []stats.Rejection) AWPRSeries {
	s := AWPRSeries{Eta: eta, Points: make([]AWPRPoint, len(curve))}
	for i, r := range curve {
		s.Points[i] = AWPRPoint{P: r.P, Before: r.AWPR.Value, After: r.AWPRRejection.Value,
			BeforeLo: r.AWPR.Lo, BeforeHi: r.AWPR.Hi, AfterLo: r.AWPRRejection.Lo, AfterHi: r.AWPRRejection.Hi}
	}
	return s
}
