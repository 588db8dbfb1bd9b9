// Package reference is a deliberately plain float64 forward pass of a
// tfmodel.Graph, one image at a time in nested loops, written from the
// operation definitions in package tfmodel and nothing else. Tests and the
// GPU check of engine/xla compare against it; it shares no code with the
// executor.
package reference

import (
	"fmt"
	"math"

	"confrobust/tfmodel"
)

// tensor is one example's [H, W, C] activation.
type tensor struct {
	h, w, c int
	v       []float64
}

func newTensor(s tfmodel.Shape) tensor {
	return tensor{s[0], s[1], s[2], make([]float64, s.Size())}
}

func (t tensor) at(i, j, k int) float64 { return t.v[(i*t.w+j)*t.c+k] }

// Logits returns the logits of one example x (H·W·C values on the [0,1]
// scale, NHWC) under model m.
func Logits(m *tfmodel.Model, x []float64) ([]float64, error) {
	g := m.Graph
	shapes, err := g.Shapes()
	if err != nil {
		return nil, err
	}
	if len(x) != g.Input.Size() {
		return nil, fmt.Errorf("reference: input has %d values, want %d", len(x), g.Input.Size())
	}
	p := func(name string) []float32 { return m.Params[name] }
	in := tensor{g.Input[0], g.Input[1], g.Input[2], x}
	vals := make([]tensor, len(g.Nodes))
	for i := range g.Nodes {
		n := &g.Nodes[i]
		arg := func(k int) tensor {
			if j := n.Inputs[k]; j != tfmodel.GraphInput {
				return vals[j]
			}
			return in
		}
		a := arg(0)
		out := newTensor(shapes[i])
		switch n.Op {
		case tfmodel.OpScale:
			for k, v := range a.v {
				out.v[k] = v * float64(n.Scale)
			}
		case tfmodel.OpStandardize:
			var s, s2 float64
			for _, v := range a.v {
				s += v
				s2 += v * v
			}
			cnt := float64(len(a.v))
			mean := s / cnt
			variance := max(s2/cnt-mean*mean, 0)
			std := max(math.Sqrt(variance), 1/math.Sqrt(cnt))
			for k, v := range a.v {
				out.v[k] = (v - mean) / std
			}
		case tfmodel.OpConv2D:
			w := p(n.Weight)
			kk, s := n.Kernel, n.Stride
			padH := max((out.h-1)*s+kk-a.h, 0) / 2
			padW := max((out.w-1)*s+kk-a.w, 0) / 2
			for oi := 0; oi < out.h; oi++ {
				for oj := 0; oj < out.w; oj++ {
					for co := 0; co < out.c; co++ {
						sum := 0.0
						if n.Bias != "" {
							sum = float64(p(n.Bias)[co])
						}
						for ki := 0; ki < kk; ki++ {
							for kj := 0; kj < kk; kj++ {
								ii, jj := oi*s+ki-padH, oj*s+kj-padW
								if ii < 0 || ii >= a.h || jj < 0 || jj >= a.w {
									continue
								}
								for ci := 0; ci < a.c; ci++ {
									sum += a.at(ii, jj, ci) * float64(w[((ki*kk+kj)*a.c+ci)*out.c+co])
								}
							}
						}
						out.v[(oi*out.w+oj)*out.c+co] = sum
					}
				}
			}
		case tfmodel.OpBatchNorm:
			gm, bt, mu, vr := p(n.Gamma), p(n.Beta), p(n.Mean), p(n.Variance)
			for k, v := range a.v {
				c := k % a.c
				out.v[k] = float64(gm[c])*(v-float64(mu[c]))/math.Sqrt(float64(vr[c])+float64(n.Epsilon)) + float64(bt[c])
			}
		case tfmodel.OpReLU:
			for k, v := range a.v {
				out.v[k] = max(v, 0)
			}
		case tfmodel.OpLeakyReLU:
			for k, v := range a.v {
				if v < 0 {
					v *= float64(n.Alpha)
				}
				out.v[k] = v
			}
		case tfmodel.OpMaxPool, tfmodel.OpAvgPool:
			kk, s := n.Kernel, n.Stride
			padH, padW := 0, 0
			if n.Op == tfmodel.OpMaxPool {
				padH = max((out.h-1)*s+kk-a.h, 0) / 2
				padW = max((out.w-1)*s+kk-a.w, 0) / 2
			}
			for oi := 0; oi < out.h; oi++ {
				for oj := 0; oj < out.w; oj++ {
					for c := 0; c < out.c; c++ {
						best, sum, cnt := math.Inf(-1), 0.0, 0
						for ki := 0; ki < kk; ki++ {
							for kj := 0; kj < kk; kj++ {
								ii, jj := oi*s+ki-padH, oj*s+kj-padW
								if ii < 0 || ii >= a.h || jj < 0 || jj >= a.w {
									continue
								}
								v := a.at(ii, jj, c)
								best, sum, cnt = max(best, v), sum+v, cnt+1
							}
						}
						if n.Op == tfmodel.OpMaxPool {
							out.v[(oi*out.w+oj)*out.c+c] = best
						} else {
							out.v[(oi*out.w+oj)*out.c+c] = sum / float64(cnt)
						}
					}
				}
			}
		case tfmodel.OpPadChannels:
			for k := 0; k < a.h*a.w; k++ {
				copy(out.v[k*out.c+n.PadBefore:], a.v[k*a.c:(k+1)*a.c])
			}
		case tfmodel.OpAdd:
			b := arg(1)
			for k := range out.v {
				out.v[k] = a.v[k] + b.v[k]
			}
		case tfmodel.OpGlobalAvgPool:
			for k, v := range a.v {
				out.v[k%a.c] += v / float64(a.h*a.w)
			}
		case tfmodel.OpDense:
			w := p(n.Weight)
			for o := 0; o < n.Out; o++ {
				sum := 0.0
				if n.Bias != "" {
					sum = float64(p(n.Bias)[o])
				}
				for k, v := range a.v {
					sum += v * float64(w[k*n.Out+o])
				}
				out.v[o] = sum
			}
		default:
			return nil, fmt.Errorf("reference: node %d: unsupported operation %s", i, n.Op)
		}
		vals[i] = out
	}
	return vals[len(vals)-1].v, nil
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
