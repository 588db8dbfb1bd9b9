// Package reference is a deliberately plain float64 forward pass of a
// model.Graph, one example at a time in nested loops (no im2col, no fusion,
// no aliasing), written from the operation definitions in package model and
// nothing else. The tests of engine/native and engine/xla and the GPU check
// compare the executors against it and take finite differences through it;
// it shares no code with either executor.
package reference

import (
	"math"

	"confrobust/model"
)

// Forward returns the logits of one example x (H·W·C values on the [0,1]
// scale, NHWC) through g with the variables params (float64 copies of a
// model's, see Params). It panics on a graph that model.Graph.Shapes
// rejects or an unknown operation: the callers are tests.
func Forward(g *model.Graph, params map[string][]float64, x []float64) []float64 {
	shapes, err := g.Shapes()
	if err != nil {
		panic(err)
	}
	outs := make([][]float64, len(g.Nodes))
	for i := range g.Nodes {
		nd := &g.Nodes[i]
		get := func(k int) ([]float64, model.Shape) {
			if j := nd.Inputs[k]; j != model.GraphInput {
				return outs[j], shapes[j]
			}
			return x, g.Input
		}
		in, s := get(0)
		H, W, C := s[0], s[1], s[2]
		at := func(h, w, c int) int { return (h*W+w)*C + c }
		o := shapes[i]
		y := make([]float64, o.Size())
		switch nd.Op {
		case model.OpScale:
			for j, v := range in {
				y[j] = v * float64(nd.Scale)
			}
		case model.OpStandardize:
			N := float64(len(in))
			var s1, s2 float64
			for _, v := range in {
				s1 += v
				s2 += v * v
			}
			mean := s1 / N
			variance := math.Max(s2/N-mean*mean, 0) // TF 1.x one-pass form
			sd := math.Max(math.Sqrt(variance), 1/math.Sqrt(N))
			for j, v := range in {
				y[j] = (v - mean) / sd
			}
		case model.OpConv2D:
			k, st := nd.Kernel, nd.Stride
			w, b := params[nd.Weight], params[nd.Bias]
			oh, ow := (H+st-1)/st, (W+st-1)/st
			padH := max((oh-1)*st+k-H, 0) / 2
			padW := max((ow-1)*st+k-W, 0) / 2
			for r := 0; r < oh; r++ {
				for q := 0; q < ow; q++ {
					for co := 0; co < nd.Out; co++ {
						sum := 0.0
						if b != nil {
							sum = b[co]
						}
						for kh := 0; kh < k; kh++ {
							for kw := 0; kw < k; kw++ {
								h, ww := r*st+kh-padH, q*st+kw-padW
								if h < 0 || h >= H || ww < 0 || ww >= W {
									continue
								}
								for ci := 0; ci < C; ci++ {
									sum += in[at(h, ww, ci)] * w[((kh*k+kw)*C+ci)*nd.Out+co]
								}
							}
						}
						y[(r*ow+q)*nd.Out+co] = sum
					}
				}
			}
		case model.OpBatchNorm:
			gm, bt, mu, vr := params[nd.Gamma], params[nd.Beta], params[nd.Mean], params[nd.Variance]
			for j, v := range in {
				c := j % C
				y[j] = (v-mu[c])/math.Sqrt(vr[c]+float64(nd.Epsilon))*gm[c] + bt[c]
			}
		case model.OpReLU:
			for j, v := range in {
				y[j] = math.Max(v, 0)
			}
		case model.OpLeakyReLU:
			for j, v := range in {
				if v < 0 {
					y[j] = float64(nd.Alpha) * v
				} else {
					y[j] = v
				}
			}
		case model.OpMaxPool:
			k, st := nd.Kernel, nd.Stride
			padH := max((o[0]-1)*st+k-H, 0) / 2
			padW := max((o[1]-1)*st+k-W, 0) / 2
			for r := 0; r < o[0]; r++ {
				for q := 0; q < o[1]; q++ {
					for c := 0; c < C; c++ {
						best := math.Inf(-1)
						for kh := 0; kh < k; kh++ {
							for kw := 0; kw < k; kw++ {
								h, ww := r*st+kh-padH, q*st+kw-padW
								if h >= 0 && h < H && ww >= 0 && ww < W {
									best = math.Max(best, in[at(h, ww, c)])
								}
							}
						}
						y[(r*o[1]+q)*C+c] = best
					}
				}
			}
		case model.OpAvgPool:
			k, st := nd.Kernel, nd.Stride
			for r := 0; r < o[0]; r++ {
				for q := 0; q < o[1]; q++ {
					for c := 0; c < C; c++ {
						sum := 0.0
						for kh := 0; kh < k; kh++ {
							for kw := 0; kw < k; kw++ {
								sum += in[at(r*st+kh, q*st+kw, c)]
							}
						}
						y[(r*o[1]+q)*C+c] = sum / float64(k*k)
					}
				}
			}
		case model.OpPadChannels:
			for p := 0; p < H*W; p++ {
				for c := 0; c < C; c++ {
					y[p*o[2]+nd.PadBefore+c] = in[p*C+c]
				}
			}
		case model.OpAdd:
			other, _ := get(1)
			for j := range y {
				y[j] = in[j] + other[j]
			}
		case model.OpGlobalAvgPool:
			for p := 0; p < H*W; p++ {
				for c := 0; c < C; c++ {
					y[c] += in[p*C+c] / float64(H*W)
				}
			}
		case model.OpDense:
			w, b := params[nd.Weight], params[nd.Bias]
			for j := 0; j < nd.Out; j++ {
				sum := 0.0
				if b != nil {
					sum = b[j]
				}
				for f, v := range in { // (h, w, c) row-major flatten
					sum += v * w[f*nd.Out+j]
				}
				y[j] = sum
			}
		default:
			panic("reference: unknown op")
		}
		outs[i] = y
	}
	return outs[len(outs)-1]
}

// Loss returns Σ_i Σ_j weights[i·classes+j]·z_ij over a batch of n
// examples, in float64: the loss engine.LogitWeights computes, whose
// gradients the executors' are checked against by finite differences.
func Loss(g *model.Graph, params map[string][]float64, x []float64, n int, weights []float32) float64 {
	size, classes := g.Input.Size(), g.Classes
	total := 0.0
	for i := 0; i < n; i++ {
		z := Forward(g, params, x[i*size:(i+1)*size])
		for j, v := range z {
			total += float64(weights[i*classes+j]) * v
		}
	}
	return total
}

// To64 returns v in float64.
func To64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// Params returns float64 copies of m's variables.
func Params(m *model.Model) map[string][]float64 {
	p := make(map[string][]float64, len(m.Params))
	for k, v := range m.Params {
		p[k] = To64(v)
	}
	return p
}

// LogSoftmax returns log softmax(z).
func LogSoftmax(z []float64) []float64 {
	m := math.Inf(-1)
	for _, v := range z {
		m = max(m, v)
	}
	s := 0.0
	for _, v := range z {
		s += math.Exp(v - m)
	}
	lse := m + math.Log(s)
	out := make([]float64, len(z))
	for i, v := range z {
		out[i] = v - lse
	}
	return out
}

// Model is a model's graph with float64 copies of its variables, for
// repeated passes.
type Model struct {
	Graph  *model.Graph
	Params map[string][]float64
}

// New returns the float64 reference of m.
func New(m *model.Model) *Model { return &Model{Graph: m.Graph, Params: Params(m)} }

// Logits returns the logits of one example x under the model; it is safe
// for concurrent use.
func (r *Model) Logits(x []float64) ([]float64, error) {
	if _, err := r.Graph.Shapes(); err != nil {
		return nil, err
	}
	return Forward(r.Graph, r.Params, x), nil
}

// Logits returns the logits of one example x under m (converting m's
// variables to float64 on every call; see New for repeated passes).
func Logits(m *model.Model, x []float64) ([]float64, error) { return New(m).Logits(x) }
