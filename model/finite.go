package model

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// ErrNonFinite means that some of a model's variables hold NaN or infinite
// values. The errors that wrap it are *NonFiniteError values.
var ErrNonFinite = errors.New("model: non-finite parameters")

// NonFiniteCount counts the NaN and infinite values of one variable.
type NonFiniteCount struct {
	Name string // the variable, as its ParamSpec names it
	NaN  int    // number of NaN values
	Inf  int    // number of +Inf and -Inf values
	Size int    // number of values of the variable
}

// NonFiniteError lists the variables of a model that hold NaN or infinite
// values. It wraps ErrNonFinite.
type NonFiniteError struct {
	Model string           // the graph's name
	Total int              // number of variables of the model
	Vars  []NonFiniteCount // those with non-finite values, in the order of the model's Specs; never empty
}

// Error returns a message naming the model, every variable concerned and
// its counts: "model: mnist_cnn: 2 of 8 variables hold non-finite values
// (3 NaN, 1 Inf): Variable (3 NaN of 800), Variable_7 (1 Inf of 10)".
func (e *NonFiniteError) Error() string {
	nan, inf := 0, 0
	parts := make([]string, len(e.Vars))
	for i, v := range e.Vars {
		nan, inf = nan+v.NaN, inf+v.Inf
		var counts []string
		if v.NaN > 0 {
			counts = append(counts, fmt.Sprintf("%d NaN", v.NaN))
		}
		if v.Inf > 0 {
			counts = append(counts, fmt.Sprintf("%d Inf", v.Inf))
		}
		parts[i] = fmt.Sprintf("%s (%s of %d)", v.Name, strings.Join(counts, ", "), v.Size)
	}
	return fmt.Sprintf("model: %s: %d of %d variables hold non-finite values (%d NaN, %d Inf): %s",
		e.Model, len(e.Vars), e.Total, nan, inf, strings.Join(parts, ", "))
}

// Unwrap returns ErrNonFinite.
func (e *NonFiniteError) Unwrap() error { return ErrNonFinite }

// CheckFinite returns a *NonFiniteError listing every variable of m that
// holds NaN or infinite values with their counts, or nil if all its values
// are finite. Variables m.Params lacks are skipped (Validate reports them).
func (m *Model) CheckFinite() error {
	var bad []NonFiniteCount
	for _, s := range m.Specs {
		v := m.Params[s.Name]
		c := NonFiniteCount{Name: s.Name, Size: len(v)}
		for _, x := range v {
			switch {
			case x != x:
				c.NaN++
			case math.IsInf(float64(x), 0):
				c.Inf++
			}
		}
		if c.NaN > 0 || c.Inf > 0 {
			bad = append(bad, c)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return &NonFiniteError{Model: m.Graph.Name, Total: len(m.Specs), Vars: bad}
}
