package model

import (
	"bytes"
	"errors"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"confrobust/tfckpt"
)

// TestLoadNonFinite: a checkpoint whose weights hold NaN or Inf loads, and
// says so by variable and count; a caller that allows it gets the values.
func TestLoadNonFinite(t *testing.T) {
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	g := MNISTCNN(smallMNIST)
	tests := []struct {
		name    string
		poison  map[string][]int // variable -> indices set to NaN, +Inf, NaN, -Inf, ... in turn
		missing string           // a variable left out of the checkpoint
		want    []NonFiniteCount // nil: no ErrNonFinite
		msg     string
	}{
		{"finite", nil, "", nil, ""},
		{"one NaN", map[string][]int{"Variable": {3}}, "", []NonFiniteCount{{Name: "Variable", NaN: 1, Size: 50}},
			"model: mnist_cnn: 1 of 8 variables hold non-finite values (1 NaN, 0 Inf): Variable (1 NaN of 50)"},
		{"NaN and Inf in two variables", map[string][]int{"Variable_7": {0, 1, 2, 3}, "Variable_2": {5, 6}}, "",
			[]NonFiniteCount{{Name: "Variable_2", NaN: 1, Inf: 1, Size: 150}, {Name: "Variable_7", NaN: 2, Inf: 2, Size: 10}},
			"2 of 8 variables hold non-finite values (3 NaN, 3 Inf): Variable_2 (1 NaN, 1 Inf of 150), Variable_7 (2 NaN, 2 Inf of 10)"},
		{"NaN and a missing variable", map[string][]int{"Variable": {0}}, "Variable_1", nil, "variable Variable_1 [2]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, _ := NewModel(g)
			m.InitRandom(5)
			for name, idx := range tc.poison {
				for j, i := range idx {
					switch j % 2 {
					case 0:
						m.Params[name][i] = nan
					case 1:
						m.Params[name][i] = inf * float32(1-2*(j/2%2)) // +Inf, then -Inf
					}
				}
			}
			prefix := filepath.Join(t.TempDir(), "ckpt")
			w, err := tfckpt.CreateBundle(prefix)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range m.Specs {
				if s.Name != tc.missing {
					w.AddFloat32(s.Name, s.Shape, m.Params[s.Name])
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			got, err := LoadModel(g, prefix)
			var nf *NonFiniteError
			switch {
			case tc.want == nil && tc.msg == "":
				if err != nil || got == nil {
					t.Fatalf("LoadModel: %v", err)
				}
				if err := got.CheckFinite(); err != nil {
					t.Errorf("CheckFinite: %v", err)
				}
			case tc.want == nil:
				if err == nil || errors.Is(err, ErrNonFinite) || got != nil || !strings.Contains(err.Error(), tc.msg) {
					t.Errorf("LoadModel: model %v, error %v; want no model and an error containing %q, not ErrNonFinite", got != nil, err, tc.msg)
				}
			default:
				if !errors.Is(err, ErrNonFinite) || !errors.As(err, &nf) || !strings.Contains(err.Error(), tc.msg) {
					t.Fatalf("LoadModel: %v, want a *NonFiniteError containing %q", err, tc.msg)
				}
				if !slices.Equal(nf.Vars, tc.want) || nf.Total != len(m.Specs) || nf.Model != g.Name {
					t.Errorf("NonFiniteError %+v, want %+v", nf, tc.want)
				}
				if got == nil {
					t.Fatal("LoadModel returned no model with ErrNonFinite")
				}
				// The values are loaded, bit for bit, NaN included.
				for _, s := range m.Specs {
					a, b := got.Params[s.Name], m.Params[s.Name]
					for i := range a {
						if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
							t.Errorf("%s[%d] = %v, want %v", s.Name, i, a[i], b[i])
						}
					}
				}
				if err2 := got.CheckFinite(); !errors.As(err2, &nf) || !slices.Equal(nf.Vars, tc.want) {
					t.Errorf("CheckFinite after load: %v", err2)
				}
				var out bytes.Buffer
				b, err := tfckpt.OpenBundle(prefix)
				if err != nil {
					t.Fatal(err)
				}
				defer b.Close()
				if err := Fit(&out, b, g); !errors.Is(err, ErrNonFinite) {
					t.Errorf("Fit: %v, want ErrNonFinite", err)
				}
				if want := "all 8 variables fit"; !strings.Contains(out.String(), want) || !strings.Contains(out.String(), "hold NaN or Inf") {
					t.Errorf("Fit wrote %q, want it to say %q and name the NaN", out.String(), want)
				}
			}
		})
	}
}
