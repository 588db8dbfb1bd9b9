package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
)

// Model is a Graph with the values of its variables, each a flat float32
// slice in TensorFlow's row-major order for the shape its ParamSpec gives.
type Model struct {
	Graph  *Graph
	Specs  []ParamSpec
	Params map[string][]float32
}

// NewModel returns a model of g whose variables are all zero.
func NewModel(g *Graph) (*Model, error) {
	specs, err := g.Params()
	if err != nil {
		return nil, err
	}
	m := &Model{Graph: g, Specs: specs, Params: make(map[string][]float32, len(specs))}
	for _, s := range specs {
		m.Params[s.Name] = make([]float32, s.Size())
	}
	return m, nil
}

// Validate checks that the model has exactly the variables its graph needs,
// each of the right size, and reports every problem at once.
func (m *Model) Validate() error {
	var problems []string
	want := map[string]bool{}
	for _, s := range m.Specs {
		want[s.Name] = true
		v, ok := m.Params[s.Name]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("missing %s %v", s.Name, s.Shape))
		case len(v) != s.Size():
			problems = append(problems, fmt.Sprintf("%s has %d values, want %d for shape %v", s.Name, len(v), s.Size(), s.Shape))
		}
	}
	var extra []string
	for name := range m.Params {
		if !want[name] {
			extra = append(extra, name)
		}
	}
	sort.Strings(extra)
	for _, name := range extra {
		problems = append(problems, "unexpected "+name)
	}
	if len(problems) > 0 {
		return fmt.Errorf("model: model %s: %s", m.Graph.Name, strings.Join(problems, "; "))
	}
	return nil
}

// InitRandom fills the model with random values from a fixed seed: weights
// with He-style normal values (std sqrt(2/fan_in)), biases and BatchNorm
// betas and means small, gammas near 1, variances in [0.5, 1.5). It is for
// tests and for the start of training.
func (m *Model) InitRandom(seed uint64) {
	r := rand.New(rand.NewPCG(seed, 0x6d6f64656c))
	kind := map[string]byte{}
	for _, n := range m.Graph.Nodes {
		switch n.Op {
		case OpConv2D, OpDense:
			kind[n.Weight] = 'w'
			if n.Bias != "" {
				kind[n.Bias] = 'b'
			}
		case OpBatchNorm:
			kind[n.Gamma], kind[n.Beta], kind[n.Mean], kind[n.Variance] = 'g', 'b', 'b', 'v'
		}
	}
	for _, s := range m.Specs {
		v := m.Params[s.Name]
		fanIn := 1
		for _, d := range s.Shape[:max(len(s.Shape)-1, 0)] {
			fanIn *= d
		}
		for i := range v {
			switch kind[s.Name] {
			case 'w':
				v[i] = float32(r.NormFloat64() * math.Sqrt(2/float64(fanIn)))
			case 'b':
				v[i] = float32(0.1 * r.NormFloat64())
			case 'g':
				v[i] = float32(1 + 0.1*r.NormFloat64())
			case 'v':
				v[i] = float32(0.5 + r.Float64())
			}
		}
	}
}
