package native

import (
	"math"

	"confrobust/tfmodel"
)

// refForward is an independent float64 forward pass of one example through
// g, written with plain loops (no im2col, no fusion, no aliasing), for finite
// differences and for checking the float32 executor. params holds float64
// copies of the model's variables.
func refForward(g *tfmodel.Graph, params map[string][]float64, x []float64) []float64 {
	shapes, err := g.Shapes()
	if err != nil {
		panic(err)
	}
	outs := make([][]float64, len(g.Nodes))
	for i := range g.Nodes {
		nd := &g.Nodes[i]
		get := func(k int) ([]float64, tfmodel.Shape) {
			if j := nd.Inputs[k]; j != tfmodel.GraphInput {
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
		case tfmodel.OpScale:
			for j, v := range in {
				y[j] = v * float64(nd.Scale)
			}
		case tfmodel.OpStandardize:
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
		case tfmodel.OpConv2D:
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
		case tfmodel.OpBatchNorm:
			gm, bt, mu, vr := params[nd.Gamma], params[nd.Beta], params[nd.Mean], params[nd.Variance]
			for j, v := range in {
				c := j % C
				y[j] = (v-mu[c])/math.Sqrt(vr[c]+float64(nd.Epsilon))*gm[c] + bt[c]
			}
		case tfmodel.OpReLU:
			for j, v := range in {
				y[j] = math.Max(v, 0)
			}
		case tfmodel.OpLeakyReLU:
			for j, v := range in {
				if v < 0 {
					y[j] = float64(nd.Alpha) * v
				} else {
					y[j] = v
				}
			}
		case tfmodel.OpMaxPool:
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
		case tfmodel.OpAvgPool:
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
		case tfmodel.OpPadChannels:
			for p := 0; p < H*W; p++ {
				for c := 0; c < C; c++ {
					y[p*o[2]+nd.PadBefore+c] = in[p*C+c]
				}
			}
		case tfmodel.OpAdd:
			other, _ := get(1)
			for j := range y {
				y[j] = in[j] + other[j]
			}
		case tfmodel.OpGlobalAvgPool:
			for p := 0; p < H*W; p++ {
				for c := 0; c < C; c++ {
					y[c] += in[p*C+c] / float64(H*W)
				}
			}
		case tfmodel.OpDense:
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
			panic("ref: unknown op")
		}
		outs[i] = y
	}
	return outs[len(outs)-1]
}

// refLoss is Σ_i Σ_j weights[i·classes+j]·z_ij over a batch, in float64.
func refLoss(g *tfmodel.Graph, params map[string][]float64, x []float64, n int, weights []float32) float64 {
	size, classes := g.Input.Size(), g.Classes
	total := 0.0
	for i := 0; i < n; i++ {
		z := refForward(g, params, x[i*size:(i+1)*size])
		for j, v := range z {
			total += float64(weights[i*classes+j]) * v
		}
	}
	return total
}

func to64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

func params64(m *tfmodel.Model) map[string][]float64 {
	p := make(map[string][]float64, len(m.Params))
	for k, v := range m.Params {
		p[k] = to64(v)
	}
	return p
}
