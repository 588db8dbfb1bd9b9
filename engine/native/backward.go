package native

import (
	"math"

	"confrobust/model"
)

// backward propagates the gradient in the output's slot (written by the
// loss) back through the graph. With grads == nil it computes the input
// gradient into dx and no parameter gradients; otherwise it writes every
// parameter's gradient into grads and skips the gradients that lead only
// to parameter-free nodes (and the input).
func (e *Executor) backward(x, dx []float32, n int, grads map[string][]float32) {
	paramMode := grads != nil
	clear(e.written)
	e.inWritten = false
	last := len(e.layers) - 1
	for i := last; i >= 0; i-- {
		l := &e.layers[i]
		if l.gradFused || paramMode && !l.needParam {
			continue
		}
		if i != last && !e.written[i] {
			// The node reaches no output: its gradients are zero.
			if paramMode {
				e.zeroParamGrads(l, grads)
			}
			continue
		}
		dy := e.grad(i, n)
		switch l.op {
		case model.OpScale:
			if dst, acc, ok := e.target(i, 0, dx, n, paramMode); ok {
				t := &e.ew
				*t = ewTask{op: ewScale, dst: dst, a: dy, s: l.node.Scale, acc: acc}
				e.pool.run(len(dy), grainElems, t)
			}
		case model.OpStandardize:
			if dst, acc, ok := e.target(i, 0, dx, n, paramMode); ok {
				t := &e.std
				*t = standardizeTask{x: dst, y: dy, out: e.out(i, n), scale: l.stdScale, useStd: l.useStd,
					size: l.size, grad: true, acc: acc}
				e.pool.run(n, 1, t)
			}
		case model.OpConv2D:
			var dW, dB []float32
			if paramMode {
				dW = grads[l.node.Weight]
				if l.node.Bias != "" {
					dB = grads[l.node.Bias]
				}
			}
			dst, acc, ok := e.target(i, 0, dx, n, paramMode)
			if !ok {
				dst = nil
			}
			e.convBackward(l, e.input(i, 0, x, n), dy, dst, acc, dW, dB, n)
		case model.OpDense:
			in, out := l.inSize, l.shape[2]
			if paramMode {
				e.kernel.Sgemm(true, false, in, out, n, 1, e.input(i, 0, x, n), in, dy, out, 0, grads[l.node.Weight], out)
				if l.node.Bias != "" {
					e.biasGrad(grads[l.node.Bias], dy, n, out)
				}
			}
			if dst, acc, ok := e.target(i, 0, dx, n, paramMode); ok {
				e.kernel.Sgemm(false, true, n, in, out, 1, dy, out, l.w, out, beta(acc), dst, in)
			}
		case model.OpBatchNorm:
			c := l.shape[2]
			rows := len(dy) / c
			if paramMode {
				t := &e.chanSum
				*t = chanSumTask{dy: dy, x: e.input(i, 0, x, n), mean: l.mean, rows: rows, c: c,
					s1: e.chanS1[:c], s2: e.chanS2[:c]}
				e.pool.run(c, 8, t)
				nd := l.node
				gGamma, gBeta, gMean, gVar := grads[nd.Gamma], grads[nd.Beta], grads[nd.Mean], grads[nd.Variance]
				for ch := range c {
					// y = (x − mean)·gamma·r + beta, r = (variance + ε)^(−1/2).
					r := 1 / math.Sqrt(float64(l.variance[ch]+nd.Epsilon))
					s1, s2 := e.chanS1[ch], e.chanS2[ch]
					gBeta[ch] = float32(s1)
					gGamma[ch] = float32(s2 * r)
					gMean[ch] = float32(-s1 * float64(l.bnScale[ch]))
					gVar[ch] = float32(-0.5 * s2 * float64(l.gamma[ch]) * r * r * r)
				}
			}
			if dst, acc, ok := e.target(i, 0, dx, n, paramMode); ok {
				t := &e.ew
				*t = ewTask{op: ewChanMul, dst: dst, a: dy, vec: l.bnScale, c: c, acc: acc}
				e.pool.run(rows, grainRows, t)
			}
		case model.OpReLU, model.OpLeakyReLU:
			if dst, acc, ok := e.target(i, 0, dx, n, paramMode); ok {
				t := &e.ew
				// The input's sign decides the derivative. When the activation
				// ran in place the buffer holds its output, which has the same
				// sign (α > 0 is required for that).
				*t = ewTask{op: ewActGrad, dst: dst, a: dy, b: e.input(i, 0, x, n), act: l.act, alpha: l.alpha, acc: acc}
				e.pool.run(len(dy), grainElems, t)
			}
		case model.OpMaxPool:
			src := i // the node whose input gradient is written
			t := &e.maxGrad
			*t = maxPoolGradTask{dy: dy, arg: l.arg,
				h: l.inShape[0], w: l.inShape[1], c: l.inShape[2], oh: l.shape[0], ow: l.shape[1],
				k: l.k, s: l.s, padTop: l.padTop, padLft: l.padLft}
			if l.gradAct {
				src = l.in[0]
				a := &e.layers[src]
				t.y, t.act, t.alpha = e.out(src, n), a.act, a.alpha
			}
			if dst, acc, ok := e.target(src, 0, dx, n, paramMode); ok {
				t.dx, t.acc = dst, acc
				e.pool.run(n, 1, t)
			}
		case model.OpAvgPool:
			if dst, acc, ok := e.target(i, 0, dx, n, paramMode); ok {
				t := &e.avgGrad
				*t = avgPoolGradTask{dy: dy, dx: dst,
					h: l.inShape[0], w: l.inShape[1], c: l.inShape[2], oh: l.shape[0], ow: l.shape[1],
					k: l.k, s: l.s, acc: acc}
				e.pool.run(n, 1, t)
			}
		case model.OpPadChannels:
			if dst, acc, ok := e.target(i, 0, dx, n, paramMode); ok {
				t := &e.pad
				*t = padTask{x: dst, y: dy, c: l.inShape[2], before: l.node.PadBefore, cy: l.shape[2], grad: true, acc: acc}
				e.pool.run(n*l.shape[0]*l.shape[1], grainRows, t)
			}
		case model.OpAdd:
			for k := range 2 {
				if dst, acc, ok := e.target(i, k, dx, n, paramMode); ok {
					t := &e.ew
					*t = ewTask{op: ewScale, dst: dst, a: dy, s: 1, acc: acc}
					e.pool.run(len(dy), grainElems, t)
				}
			}
		case model.OpGlobalAvgPool:
			if dst, acc, ok := e.target(i, 0, dx, n, paramMode); ok {
				t := &e.gap
				*t = gapTask{x: dst, y: dy, hw: l.inShape[0] * l.inShape[1], c: l.inShape[2], grad: true, acc: acc}
				e.pool.run(n, 1, t)
			}
		}
	}
	if !paramMode && !e.inWritten {
		clear(dx)
	}
}

// target returns the buffer that receives the gradient of input k of node i
// and whether to add to it (another consumer wrote it already) or overwrite
// it; ok is false when that gradient is not wanted.
func (e *Executor) target(i, k int, dx []float32, n int, paramMode bool) (dst []float32, acc, ok bool) {
	j := e.layers[i].in[k]
	if j == model.GraphInput {
		if paramMode {
			return nil, false, false
		}
		acc, e.inWritten = e.inWritten, true
		return dx, acc, true
	}
	if paramMode && !e.layers[j].needParam {
		return nil, false, false
	}
	acc, e.written[j] = e.written[j], true
	return e.grad(j, n), acc, true
}

func beta(acc bool) float32 {
	if acc {
		return 1
	}
	return 0
}

// biasGrad writes the column sums of dy (rows × c) into dB.
func (e *Executor) biasGrad(dB, dy []float32, rows, c int) {
	t := &e.chanSum
	*t = chanSumTask{dy: dy, rows: rows, c: c, s1: e.chanS1[:c]}
	e.pool.run(c, 8, t)
	for ch := range c {
		dB[ch] = float32(e.chanS1[ch])
	}
}

// convBackward computes the gradients of a convolution: the bias gradient
// (column sums of dy), the weight gradient im2col(x)ᵀ·dy accumulated over
// chunks, and the input gradient col2im(dy·Wᵀ). Each of dW, dB and dx may be
// nil when not wanted.
func (e *Executor) convBackward(l *layer, x, dy, dx []float32, acc bool, dW, dB []float32, n int) {
	cout := l.shape[2]
	if dB != nil {
		e.biasGrad(dB, dy, n*l.rows, cout)
	}
	if l.direct {
		if dW != nil {
			e.kernel.Sgemm(true, false, l.kkc, cout, n*l.rows, 1, x, l.kkc, dy, cout, 0, dW, cout)
		}
		if dx != nil {
			e.kernel.Sgemm(false, true, n*l.rows, l.kkc, cout, 1, dy, cout, l.w, cout, beta(acc), dx, l.kkc)
		}
		return
	}
	if dW == nil && dx == nil {
		return
	}
	for c0 := 0; c0 < n; c0 += l.ipc {
		cn := min(l.ipc, n-c0)
		m := cn * l.rows
		dyc := dy[c0*l.size : (c0+cn)*l.size]
		col := e.col[:m*l.kkc]
		if dW != nil {
			e.im2colChunk(l, x, c0, cn)
			e.kernel.Sgemm(true, false, l.kkc, cout, m, 1, col, l.kkc, dyc, cout, beta(c0 > 0), dW, cout)
		}
		if dx != nil {
			e.kernel.Sgemm(false, true, m, l.kkc, cout, 1, dyc, cout, l.w, cout, 0, col, l.kkc)
			t := &e.col2im
			*t = col2imTask{dcol: col, dx: dx[c0*l.inSize : (c0+cn)*l.inSize],
				h: l.inShape[0], w: l.inShape[1], c: l.inShape[2], oh: l.shape[0], ow: l.shape[1],
				k: l.k, s: l.s, padTop: l.padTop, padLft: l.padLft, acc: acc}
			e.pool.run(cn*l.inShape[0], 1, t)
		}
	}
}

// zeroParamGrads clears the parameter gradients of a node.
func (e *Executor) zeroParamGrads(l *layer, grads map[string][]float32) {
	nd := l.node
	for _, name := range []string{nd.Weight, nd.Bias, nd.Gamma, nd.Beta, nd.Mean, nd.Variance} {
		if name != "" {
			clear(grads[name])
		}
	}
}
