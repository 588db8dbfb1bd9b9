package native

import "confrobust/model"

// Grain sizes of the parallel loops, in units of their tasks.
const (
	grainElems = 1 << 14 // elementwise loops, in values
	grainRows  = 256     // loops over pixels (rows of channels)
)

// forward runs every node on the n examples in x.
func (e *Executor) forward(x []float32, n int) {
	for i := range e.layers {
		l := &e.layers[i]
		if l.fused {
			continue
		}
		in, y := e.input(i, 0, x, n), e.out(i, n)
		switch l.op {
		case model.OpScale:
			t := &e.ew
			*t = ewTask{op: ewScale, dst: y, a: in, s: l.node.Scale}
			e.pool.run(len(y), grainElems, t)
		case model.OpStandardize:
			t := &e.std
			*t = standardizeTask{x: in, y: y, scale: l.stdScale, useStd: l.useStd, size: l.size}
			e.pool.run(n, 1, t)
		case model.OpConv2D:
			e.convForward(l, in, y, n)
		case model.OpBatchNorm:
			t := &e.bn
			*t = batchNormTask{x: in, y: y, mean: l.mean, scale: l.bnScale, beta: l.beta,
				c: l.shape[2], act: l.epi, alpha: l.alpha}
			e.pool.run(n*l.shape[0]*l.shape[1], grainRows, t)
		case model.OpReLU, model.OpLeakyReLU:
			t := &e.ew
			*t = ewTask{op: ewAct, dst: y, a: in, act: l.act, alpha: l.alpha}
			e.pool.run(len(y), grainElems, t)
		case model.OpMaxPool:
			t := &e.maxPool
			*t = maxPoolTask{x: in, y: y, arg: l.arg[:len(y)], noArg: e.mode == modeLogits,
				h: l.inShape[0], w: l.inShape[1], c: l.inShape[2], oh: l.shape[0], ow: l.shape[1],
				k: l.k, s: l.s, padTop: l.padTop, padLft: l.padLft}
			e.pool.run(n*l.shape[0], 1, t)
		case model.OpAvgPool:
			t := &e.avgPool
			*t = avgPoolTask{x: in, y: y,
				h: l.inShape[0], w: l.inShape[1], c: l.inShape[2], oh: l.shape[0], ow: l.shape[1],
				k: l.k, s: l.s}
			e.pool.run(n*l.shape[0], 1, t)
		case model.OpPadChannels:
			t := &e.pad
			*t = padTask{x: in, y: y, c: l.inShape[2], before: l.node.PadBefore, cy: l.shape[2]}
			e.pool.run(n*l.shape[0]*l.shape[1], grainRows, t)
		case model.OpAdd:
			t := &e.ew
			*t = ewTask{op: ewAdd, dst: y, a: in, b: e.input(i, 1, x, n)}
			e.pool.run(len(y), grainElems, t)
		case model.OpGlobalAvgPool:
			t := &e.gap
			*t = gapTask{x: in, y: y, hw: l.inShape[0] * l.inShape[1], c: l.inShape[2], sum: e.gapSum}
			e.pool.run(n, 1, t)
		case model.OpDense:
			out := l.shape[2]
			e.kernel.Sgemm(false, false, n, out, l.inSize, 1, in, l.inSize, l.w, out, 0, y, out)
			e.outputPass(y, l.b, n, out, l.epi, l.alpha)
		}
	}
}

// outputPass adds the bias and applies the fused activation to the rows of y.
func (e *Executor) outputPass(y, bias []float32, rows, c int, act activation, alpha float32) {
	if bias == nil && act == actNone {
		return
	}
	t := &e.biasAct
	*t = biasActTask{y: y, bias: bias, c: c, act: act, alpha: alpha}
	e.pool.run(rows, max(1, grainElems/c), t)
}

// convForward is tf.nn.conv2d with SAME padding (plus bias and the fused
// activation): per chunk of images, im2col then one GEMM
// [pixels × k·k·cin]·[k·k·cin × cout] straight into the output, whose
// [kh, kw, cin, cout] weight layout is already that matrix.
func (e *Executor) convForward(l *layer, x, y []float32, n int) {
	cout := l.shape[2]
	if l.direct {
		e.kernel.Sgemm(false, false, n*l.rows, cout, l.kkc, 1, x, l.kkc, l.w, cout, 0, y, cout)
		e.outputPass(y, l.b, n*l.rows, cout, l.epi, l.alpha)
		return
	}
	for c0 := 0; c0 < n; c0 += l.ipc {
		cn := min(l.ipc, n-c0)
		m := cn * l.rows
		e.im2colChunk(l, x, c0, cn)
		yc := y[c0*l.size : (c0+cn)*l.size]
		e.kernel.Sgemm(false, false, m, cout, l.kkc, 1, e.col, l.kkc, l.w, cout, 0, yc, cout)
		e.outputPass(yc, l.b, m, cout, l.epi, l.alpha)
	}
}

// im2colChunk writes the im2col matrix of images [c0, c0+cn) of x into e.col.
func (e *Executor) im2colChunk(l *layer, x []float32, c0, cn int) {
	t := &e.im2col
	*t = im2colTask{x: x[c0*l.inSize : (c0+cn)*l.inSize], col: e.col[:cn*l.rows*l.kkc],
		h: l.inShape[0], w: l.inShape[1], c: l.inShape[2], oh: l.shape[0], ow: l.shape[1],
		k: l.k, s: l.s, padTop: l.padTop, padLft: l.padLft}
	e.pool.run(cn*l.shape[0], 1, t)
}
