// Package paper holds the numbers Wu et al. (ICML 2018) report in Section 5, transcribed in
// tables.toml (embedded), as typed values to set reproduced results beside.
//
// Rates are percentages as printed in the paper; counts are integers; radii are on the [0, 1]
// pixel scale.
//
//	n, err := paper.Load()
//	if err != nil { ... }
//	row, ok := n.Table2.Row(0.020, 0.95) // AWPR 21.7, with rejection 9.0, recall 85.7
package paper

import (
	"bytes"
	"cmp"
	_ "embed"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
)

//go:embed tables.toml
var tablesTOML []byte

// Source returns a copy of the embedded tables.toml.
func Source() []byte { return bytes.Clone(tablesTOML) }

// Numbers is everything tables.toml holds.
type Numbers struct {
	Table1       Table1
	Proposition4 Proposition4
	Table2       RejectionTable // adversarially trained model
	Table3       RejectionTable // naturally trained model, η = 0.010
	Table4       []Table4       // one entry per η, in increasing η
}

// Table1 is the separation experiment: of Points random test points, how many admit a wrong
// label with confidence ≥ P within radius Eta, for each model.
type Table1 struct {
	Points     int     `toml:"points"`
	P          float64 `toml:"p"`
	Eta        float64 `toml:"eta"`
	AdvTrained int     `toml:"adv_trained"`
	Natural    int     `toml:"natural"`
}

// Proposition4 is the statement of Proposition 4: with probability at least Confidence,
// Pr[B] ≤ AdvTrainedUpper for the adversarially trained model and Pr[B] ≥ NaturalLower for the
// natural one, at radius Delta.
type Proposition4 struct {
	Confidence      float64
	AdvTrainedUpper *big.Rat
	NaturalLower    *big.Rat
	Delta           *big.Rat
}

// RejectionTable is Table 2 or Table 3.
type RejectionTable struct {
	Points int // size of the set N of correctly classified points
	Rows   []RejectionRow
}

// RejectionRow is one row of Tables 2 and 3; the rates are percentages.
type RejectionRow struct {
	Eta           float64
	P             float64
	AWPR          float64 // AWPR without rejection
	AWPRRejection float64 // AWPR with rejection at P
	Recall        float64 // recall of natural points at P
}

// Row returns the row for radius eta and threshold p (compared to within 1e-9) and whether
// there is one.
func (t RejectionTable) Row(eta, p float64) (RejectionRow, bool) {
	for _, r := range t.Rows {
		if math.Abs(r.Eta-eta) < 1e-9 && math.Abs(r.P-p) < 1e-9 {
			return r, true
		}
	}
	return RejectionRow{}, false
}

// Etas returns the distinct radii of the table in increasing order.
func (t RejectionTable) Etas() []float64 {
	var etas []float64
	for _, r := range t.Rows {
		etas = append(etas, r.Eta)
	}
	slices.Sort(etas)
	return slices.Compact(etas)
}

// Table4 is one radius of Table 4: MCN_ξ with ξ = Eta on the adversarial examples that
// changed the label and on those that only reduced confidence.
type Table4 struct {
	Name                string // the TOML key, such as "eta_0_010"
	Eta                 float64
	Xi                  float64
	LabelChange         RankCounts
	ConfidenceReduction RankCounts
}

// RankCounts is one column of Table 4: where the true label falls among the 10 MCN points.
type RankCounts struct {
	First   int `toml:"first"`
	Second  int `toml:"second"`
	Other   int `toml:"other"`
	Missing int `toml:"missing"`
	Total   int `toml:"total"`
}

// file mirrors tables.toml.
type file struct {
	Table1       Table1 `toml:"table1"`
	Proposition4 struct {
		Confidence      float64 `toml:"confidence"`
		AdvTrainedUpper string  `toml:"adv_trained_upper"`
		NaturalLower    string  `toml:"natural_lower"`
		Delta           string  `toml:"delta"`
	} `toml:"proposition4"`
	Table2 rejectionFile `toml:"table2"`
	Table3 rejectionFile `toml:"table3"`
	Table4 map[string]struct {
		Eta                 float64    `toml:"eta"`
		Xi                  float64    `toml:"xi"`
		LabelChange         RankCounts `toml:"label_change"`
		ConfidenceReduction RankCounts `toml:"confidence_reduction"`
	} `toml:"table4"`
}

type rejectionFile struct {
	Points int         `toml:"points"`
	Rows   [][]float64 `toml:"rows"`
}

// Load returns the numbers of the embedded tables.toml.
func Load() (*Numbers, error) {
	return Parse(tablesTOML)
}

// Parse returns the numbers in a TOML document laid out as tables.toml. Keys it does not know,
// rows without five numbers, rationals that do not parse and Table 4 columns whose counts do
// not add up to their total are errors.
func Parse(data []byte) (*Numbers, error) {
	var f file
	md, err := toml.Decode(string(data), &f)
	if err != nil {
		return nil, fmt.Errorf("results/paper: %w", err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		return nil, fmt.Errorf("results/paper: unknown keys %s", strings.Join(keys, ", "))
	}
	for _, k := range []string{"table1", "proposition4", "table2", "table3", "table4"} {
		if !md.IsDefined(k) {
			return nil, fmt.Errorf("results/paper: missing table [%s]", k)
		}
	}
	n := &Numbers{Table1: f.Table1}
	p := &n.Proposition4
	p.Confidence = f.Proposition4.Confidence
	for _, r := range []struct {
		key string
		s   string
		dst **big.Rat
	}{
		{"proposition4.adv_trained_upper", f.Proposition4.AdvTrainedUpper, &p.AdvTrainedUpper},
		{"proposition4.natural_lower", f.Proposition4.NaturalLower, &p.NaturalLower},
		{"proposition4.delta", f.Proposition4.Delta, &p.Delta},
	} {
		q, ok := new(big.Rat).SetString(r.s)
		if !ok {
			return nil, fmt.Errorf("results/paper: %s = %q is not a rational number", r.key, r.s)
		}
		*r.dst = q
	}
	if n.Table2, err = rejectionTable("table2", f.Table2); err != nil {
		return nil, err
	}
	if n.Table3, err = rejectionTable("table3", f.Table3); err != nil {
		return nil, err
	}
	for name, t := range f.Table4 {
		for _, c := range []struct {
			col string
			rc  RankCounts
		}{{"label_change", t.LabelChange}, {"confidence_reduction", t.ConfidenceReduction}} {
			if sum := c.rc.First + c.rc.Second + c.rc.Other + c.rc.Missing; sum != c.rc.Total {
				return nil, fmt.Errorf("results/paper: table4.%s.%s: counts add up to %d, total is %d", name, c.col, sum, c.rc.Total)
			}
		}
		n.Table4 = append(n.Table4, Table4{
			Name: name, Eta: t.Eta, Xi: t.Xi,
			LabelChange: t.LabelChange, ConfidenceReduction: t.ConfidenceReduction,
		})
	}
	slices.SortFunc(n.Table4, func(a, b Table4) int {
		if c := cmp.Compare(a.Eta, b.Eta); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return n, nil
}

func rejectionTable(key string, f rejectionFile) (RejectionTable, error) {
	t := RejectionTable{Points: f.Points}
	for i, r := range f.Rows {
		if len(r) != 5 {
			return RejectionTable{}, fmt.Errorf("results/paper: %s.rows[%d] has %d numbers, want 5 (eta, p, awpr, awpr_rejection, recall)", key, i, len(r))
		}
		t.Rows = append(t.Rows, RejectionRow{Eta: r[0], P: r[1], AWPR: r[2], AWPRRejection: r[3], Recall: r[4]})
	}
	return t, nil
}
