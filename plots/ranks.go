package plots

import (
	"fmt"
	"image/color"

	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// RankGroup is one column of Table 4: where the true label falls among the MCN-perturbed points
// ranked by confidence, for one radius and one kind of adversarial example.
type RankGroup struct {
	Label                         string // e.g. "η = 0.010\nlabel change"; may hold a line break
	First, Second, Other, Missing int
}

// RankFigure is the data of the Table 4 figure: one stacked bar per group. With Percent each bar
// shows shares of its group's total, so groups of very different sizes compare, and each group's
// label gains its total, "(n = 352)".
type RankFigure struct {
	Title   string
	Groups  []RankGroup
	Percent bool
}

// rankNames are the stacked categories, bottom to top.
var rankNames = [4]string{"1st confident point", "2nd confident point", "other points", "missing"}

// rankValues returns, for each category of rankNames, the bar heights of the groups: counts, or
// percentages of each group's total when percent is set (0 for an empty group).
func rankValues(groups []RankGroup, percent bool) ([4]plotter.Values, error) {
	var vs [4]plotter.Values
	for i := range vs {
		vs[i] = make(plotter.Values, len(groups))
	}
	for j, g := range groups {
		c := [4]int{g.First, g.Second, g.Other, g.Missing}
		total := 0
		for _, n := range c {
			if n < 0 {
				return vs, fmt.Errorf("plots: group %q: negative count %d", g.Label, n)
			}
			total += n
		}
		for i, n := range c {
			v := float64(n)
			if percent {
				v = 0
				if total > 0 {
					v = 100 * float64(n) / float64(total)
				}
			}
			vs[i][j] = v
		}
	}
	return vs, nil
}

// Ranks draws the Table 4 counts as stacked bars and writes the figure to path (.png or .svg).
func Ranks(path string, fig RankFigure) error {
	if len(fig.Groups) == 0 {
		return fmt.Errorf("plots: rank figure %s: no groups", path)
	}
	vs, err := rankValues(fig.Groups, fig.Percent)
	if err != nil {
		return err
	}
	ylabel := "adversarial examples"
	if fig.Percent {
		ylabel = "share of adversarial examples (%)"
	}
	p := newPlot(fig.Title, "", ylabel)
	names := make([]string, len(fig.Groups))
	for i, g := range fig.Groups {
		names[i] = g.Label
		if fig.Percent {
			names[i] += fmt.Sprintf("\n(n = %d)", g.First+g.Second+g.Other+g.Missing)
		}
	}
	p.NominalX(names...)
	var below *plotter.BarChart
	bars := make([]*plotter.BarChart, len(vs))
	for i, v := range vs {
		b, err := plotter.NewBarChart(v, vg.Points(28))
		if err != nil {
			return fmt.Errorf("plots: %s: %w", rankNames[i], err)
		}
		b.Color = colorAt(i)
		b.LineStyle.Color = color.White
		b.LineStyle.Width = vg.Points(0.5)
		if below != nil {
			b.StackOn(below)
		}
		below = b
		bars[i] = b
		p.Add(b)
	}
	// List the legend top to bottom as the stack reads.
	for i := len(bars) - 1; i >= 0; i-- {
		p.Legend.Add(rankNames[i], bars[i])
	}
	if fig.Percent {
		p.Y.Max = 100
	} else {
		p.Y.Tick.Marker = countTicks
	}
	return save(p, path)
}
