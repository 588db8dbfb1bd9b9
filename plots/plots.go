// Package plots draws the figures of the reproduction with gonum/plot: AWPR against the
// rejection threshold p ([AWPR]), recall of natural points against AWPR over p ([Recall]),
// histograms of natural and adversarial confidences ([Confidences]), the Table 4 rank
// counts as stacked bars ([Ranks]) and the ROC curves of confidence as an adversarial detector
// ([ROC], with [CurveROC] from stats.ROC).
//
// Each function takes a plain data struct and a path; the file's extension chooses the format,
// .png, .svg or .pdf. Files are written atomically: the figure is rendered in memory, written to a
// temporary file in the same directory and renamed over path, so a reader never sees a partial
// figure. Rates are given as fractions in [0, 1] and drawn as percentages, as the paper
// prints them. [CurveAWPR], [CurveSeries] and [OutcomeConfidences] turn the results of package
// confrobust/stats into these structs; [PaperAWPR], [PaperRecall] and [PaperRanks] turn the
// paper's tables (package confrobust/results/paper) into the same structs, to overlay them.
//
// The functions are safe for concurrent use when they write different paths.
package plots

import (
	"bytes"
	"confrobust/internal/atomicfile"
	"fmt"
	"image/color"
	"path/filepath"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Figure size used by every plot.
const (
	Width  = 16 * vg.Centimeter
	Height = 11 * vg.Centimeter
)

// palette holds dark, distinguishable colors, one per series (Okabe–Ito, without yellow).
var palette = []color.Color{
	color.RGBA{0, 114, 178, 255},   // blue
	color.RGBA{213, 94, 0, 255},    // vermillion
	color.RGBA{0, 158, 115, 255},   // bluish green
	color.RGBA{204, 121, 167, 255}, // reddish purple
	color.RGBA{230, 159, 0, 255},   // orange
	color.RGBA{86, 180, 233, 255},  // sky blue
	color.RGBA{0, 0, 0, 255},       // black
}

func colorAt(i int) color.Color { return palette[i%len(palette)] }

// grey is the color of legend entries that explain a style rather than a series.
var grey = color.Gray{Y: 90}

// Formats are the file extensions a figure can be written as.
var Formats = []string{".png", ".svg", ".pdf"}

// format returns the image format for path: "png", "svg" or "pdf".
func format(path string) (string, error) {
	ext := strings.ToLower(filepath.Ext(path))
	switch ext {
	case ".png", ".svg", ".pdf":
		return ext[1:], nil
	}
	return "", fmt.Errorf("plots: %s: unsupported extension %q, want .png, .svg or .pdf", path, ext)
}

// legendGap is the space between the plot and the legend drawn to its right.
const legendGap = 4 * vg.Millimeter

// save renders p into path atomically. The plot's legend, if it has entries, is drawn outside
// the plot on the right, so that it never hides data: the file is wider than Width by the
// legend's width.
func save(p *plot.Plot, path string) error {
	fmtName, err := format(path)
	if err != nil {
		return err
	}
	leg := p.Legend
	lw := leg.Rectangle(draw.Canvas{}).Size().X
	w := Width
	if lw > 0 {
		w += lw + 2*legendGap
		p.Legend = plot.NewLegend()
	}
	c, err := draw.NewFormattedCanvas(w, Height, fmtName)
	if err != nil {
		return fmt.Errorf("plots: render %s: %w", path, err)
	}
	dc := draw.New(c)
	p.Draw(draw.Crop(dc, 0, Width-w, 0, 0))
	if lw > 0 {
		leg.Top, leg.Left = true, true
		top := vg.Length(0)
		if p.Title.Text != "" {
			top = p.Title.TextStyle.Rectangle(p.Title.Text).Size().Y + p.Title.Padding
		}
		leg.Draw(draw.Crop(dc, Width+legendGap, 0, 0, -top))
		p.Legend = leg
	}
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return fmt.Errorf("plots: render %s: %w", path, err)
	}
	if err := atomicfile.Write(path, buf.Bytes()); err != nil {
		return fmt.Errorf("plots: %w", err)
	}
	return nil
}

// countTicks labels the default ticks as plain numbers ("500", not "500.00").
var countTicks = plot.TickerFunc(func(min, max float64) []plot.Tick {
	ticks := plot.DefaultTicks{}.Ticks(min, max)
	for i := range ticks {
		if ticks[i].Label != "" {
			ticks[i].Label = strconv.FormatFloat(ticks[i].Value, 'g', -1, 64)
		}
	}
	return ticks
})

// newPlot returns a plot with a title, axis labels and a light grid.
func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.Padding = 3 * vg.Millimeter
	p.X.Label.Text = x
	p.Y.Label.Text = y
	return p
}

// lineStyle returns a solid or dashed line of width 1.5 pt.
func lineStyle(c color.Color, dashed bool) draw.LineStyle {
	s := draw.LineStyle{Color: c, Width: vg.Points(1.5)}
	if dashed {
		s.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
	}
	return s
}

// thumb is a legend thumbnail drawing a line, a glyph or both.
type thumb struct {
	line  *draw.LineStyle
	glyph *draw.GlyphStyle
}

// Thumbnail draws the thumbnail, implementing plot.Thumbnailer.
func (t thumb) Thumbnail(c *draw.Canvas) {
	y := c.Center().Y
	if t.line != nil {
		c.StrokeLine2(*t.line, c.Min.X, y, c.Max.X, y)
	}
	if t.glyph != nil {
		c.DrawGlyph(*t.glyph, c.Center())
	}
}

func lineThumb(s draw.LineStyle) thumb { return thumb{line: &s} }

// band returns the polygon between the lower and upper curves (same x, in
// order), filled with a light shade of c: a 95% interval drawn around a
// curve.
func band(lo, hi plotter.XYs, c color.Color) (*plotter.Polygon, error) {
	pts := make(plotter.XYs, 0, len(lo)+len(hi))
	pts = append(pts, lo...)
	for i := len(hi) - 1; i >= 0; i-- {
		pts = append(pts, hi[i])
	}
	poly, err := plotter.NewPolygon(pts)
	if err != nil {
		return nil, err
	}
	r, g, b, _ := c.RGBA()
	poly.Color = color.NRGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), 45}
	poly.LineStyle.Width = 0
	return poly, nil
}
func glyphThumb(g draw.GlyphStyle) thumb { return thumb{glyph: &g} }
