package plots

import (
	"fmt"
	"image/color"
	"math"
	"slices"

	"gonum.org/v1/plot/plotter"

	"confrobust/stats"
)

// HistogramFigure is the data of the confidence histogram: the confidences ||F(x)||∞ of natural
// points and of adversarial examples, binned alike and drawn overlaid.
type HistogramFigure struct {
	Title       string
	Natural     []float64
	Adversarial []float64
	// Bins is the number of bins; 0 means 40.
	Bins int
	// Min and Max bound the binned range; both 0 means from the smallest value, rounded down to
	// a multiple of 0.05, to 1, so that the bins resolve where the confidences lie (a model's
	// confidence is never below 1/classes). Values outside are not drawn.
	Min, Max float64
	// Thresholds are rejection thresholds drawn as dashed vertical lines.
	Thresholds []float64
}

// histogramBins counts values into bins equal-width bins over [lo, hi]; a value equal to hi
// goes in the last bin, values outside [lo, hi] are dropped. NaN is an error.
func histogramBins(values []float64, lo, hi float64, bins int) ([]plotter.HistogramBin, error) {
	if bins <= 0 || !(lo < hi) || math.IsInf(lo, 0) || math.IsInf(hi, 0) {
		return nil, fmt.Errorf("plots: bad histogram range [%v, %v] with %d bins", lo, hi, bins)
	}
	w := (hi - lo) / float64(bins)
	out := make([]plotter.HistogramBin, bins)
	for i := range out {
		out[i].Min = lo + float64(i)*w
		out[i].Max = lo + float64(i+1)*w
	}
	out[bins-1].Max = hi
	for _, v := range values {
		if math.IsNaN(v) {
			return nil, fmt.Errorf("plots: histogram value is NaN")
		}
		if v < lo || v > hi {
			continue
		}
		i := min(int((v-lo)/w), bins-1)
		out[i].Weight++
	}
	return out, nil
}

// binRange returns the range the histogram bins: Min and Max, or by
// default from the smallest value, rounded down to a multiple of 0.05, to 1.
func (fig HistogramFigure) binRange() (lo, hi float64) {
	if fig.Min != 0 || fig.Max != 0 {
		return fig.Min, fig.Max
	}
	lo = 1
	for _, v := range slices.Concat(fig.Natural, fig.Adversarial) {
		lo = min(lo, v)
	}
	lo = math.Floor(lo/0.05+1e-9) * 0.05
	return min(lo, 0.95), 1
}

// Confidences draws histograms of the natural and adversarial confidences and writes the figure
// to path (.png, .svg or .pdf).
func Confidences(path string, fig HistogramFigure) error {
	if len(fig.Natural) == 0 && len(fig.Adversarial) == 0 {
		return fmt.Errorf("plots: histogram %s: no data", path)
	}
	bins := fig.Bins
	if bins == 0 {
		bins = 40
	}
	lo, hi := fig.binRange()
	p := newPlot(fig.Title, "confidence ||F(x)||∞", "points")
	top := 0.0
	for i, d := range []struct {
		name   string
		values []float64
	}{{"natural points", fig.Natural}, {"adversarial examples", fig.Adversarial}} {
		if len(d.values) == 0 {
			continue
		}
		b, err := histogramBins(d.values, lo, hi, bins)
		if err != nil {
			return fmt.Errorf("plots: %s: %w", d.name, err)
		}
		for _, bin := range b {
			top = math.Max(top, bin.Weight)
		}
		c := colorAt(i).(color.RGBA)
		h := &plotter.Histogram{
			Bins:      b,
			Width:     (hi - lo) / float64(bins),
			FillColor: color.NRGBA{c.R, c.G, c.B, 110},
			LineStyle: lineStyle(c, false),
		}
		h.LineStyle.Width = 1
		p.Add(h)
		p.Legend.Add(fmt.Sprintf("%s (%d)", d.name, len(d.values)), h)
	}
	for _, t := range fig.Thresholds {
		l, err := plotter.NewLine(plotter.XYs{{X: t, Y: 0}, {X: t, Y: top}})
		if err != nil {
			return fmt.Errorf("plots: threshold %v: %w", t, err)
		}
		l.LineStyle = lineStyle(grey, true)
		l.LineStyle.Width = 1
		p.Add(l)
	}
	if len(fig.Thresholds) > 0 {
		p.Legend.Add("thresholds p = "+joinMarks(fig.Thresholds), lineThumb(lineStyle(grey, true)))
	}
	p.X.Min, p.X.Max = lo, hi
	p.Y.Tick.Marker = countTicks
	return save(p, path)
}

// OutcomeConfidences returns the confidences of the natural points and of the adversarial
// examples found, in the order given, for a HistogramFigure.
func OutcomeConfidences(outcomes []stats.Outcome) (natural, adversarial []float64) {
	natural = make([]float64, 0, len(outcomes))
	for _, o := range outcomes {
		natural = append(natural, o.Confidence)
		if o.Found {
			adversarial = append(adversarial, o.AdvConfidence)
		}
	}
	return natural, adversarial
}
