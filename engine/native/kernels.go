package native

import "math"

// This file holds the loop bodies of the layer operations. Each is a task
// (see pool.go) whose units are rows, images or elements; every unit writes
// its own outputs in a fixed order, so results do not depend on the number
// of workers. Fields are set by the caller before each dispatch and the
// structs live in the Executor, so dispatching allocates nothing.

// activation is an elementwise nonlinearity applied in place after an
// operation (fused into its output pass) or as a node of its own.
type activation uint8

const (
	actNone activation = iota
	actReLU
	actLeaky // tf.where(x < 0, alpha·x, x)
)

// apply applies the activation to v in place, without data-dependent
// branches where it can: max(x, 0) for ReLU and max(x, αx) for a leaky ReLU
// with 0 ≤ α ≤ 1, which equal tf.nn.relu and tf.where(x < 0, αx, x) (NaN
// stays NaN, −0 stays −0 in the leaky case).
func (a activation) apply(v []float32, alpha float32) {
	switch a {
	case actReLU:
		for i, x := range v {
			v[i] = max(x, 0)
		}
	case actLeaky:
		if alpha >= 0 && alpha <= 1 {
			for i, x := range v {
				v[i] = max(x, alpha*x)
			}
			return
		}
		for i, x := range v {
			if x < 0 {
				v[i] = alpha * x
			}
		}
	}
}

// im2colTask writes the im2col matrix of a chunk of images: one row per
// output pixel (image, oh, ow), k·k·c columns in [kh, kw, c] order, zeros
// where the window covers padding. Units are (image, oh).
type im2colTask struct {
	x, col               []float32
	h, w, c, oh, ow      int
	k, s, padTop, padLft int
}

func (t *im2colTask) run(lo, hi int) {
	k, c, w := t.k, t.c, t.w
	kkc, kc := k*k*c, k*c
	for u := lo; u < hi; u++ {
		img, r := u/t.oh, u%t.oh
		xi := t.x[img*t.h*w*c : (img+1)*t.h*w*c]
		ih0 := r*t.s - t.padTop
		rowsIn := ih0 >= 0 && ih0+k <= t.h
		for q := 0; q < t.ow; q++ {
			row := u*t.ow + q
			dst := t.col[row*kkc : (row+1)*kkc]
			iw0 := q*t.s - t.padLft
			if rowsIn && iw0 >= 0 && iw0+k <= w {
				// The window lies inside the image: k runs of k·c values.
				for kh := 0; kh < k; kh++ {
					off := ((ih0+kh)*w + iw0) * c
					copyShort(dst[kh*kc:(kh+1)*kc], xi[off:off+kc])
				}
				continue
			}
			kw0, kw1 := max(0, -iw0), min(k, w-iw0)
			for kh := 0; kh < k; kh++ {
				d := dst[kh*kc : (kh+1)*kc]
				ih := ih0 + kh
				if ih < 0 || ih >= t.h || kw0 >= kw1 {
					clear(d)
					continue
				}
				clear(d[:kw0*c])
				copyShort(d[kw0*c:kw1*c], xi[(ih*w+iw0+kw0)*c:(ih*w+iw0+kw1)*c])
				clear(d[kw1*c:])
			}
		}
	}
}

// copyShort is copy(dst, src) for len(src) ≥ len(dst), with a plain loop
// for short runs (one input channel), where calling memmove costs more than
// the copy.
func copyShort(dst, src []float32) {
	if len(dst) > 16 {
		copy(dst, src)
		return
	}
	src = src[:len(dst)]
	for i := range dst {
		dst[i] = src[i]
	}
}

// col2imTask is the adjoint of im2colTask: it sums the columns of dcol into
// the input gradient dx, gathering for each input row every (kh, kw) that
// read it, in a fixed order. Units are (image, ih). With acc it adds to dx,
// otherwise it overwrites it.
type col2imTask struct {
	dcol, dx             []float32
	h, w, c, oh, ow      int
	k, s, padTop, padLft int
	acc                  bool
}

func (t *col2imTask) run(lo, hi int) {
	k, c, w, s := t.k, t.c, t.w, t.s
	kkc := k * k * c
	for u := lo; u < hi; u++ {
		img, ih := u/t.h, u%t.h
		dxrow := t.dx[u*w*c : (u+1)*w*c]
		if !t.acc {
			clear(dxrow)
		}
		// Every dx value sums its contributions in (kh, kw) order.
		for kh := 0; kh < k; kh++ {
			nh := ih + t.padTop - kh
			if nh < 0 || nh%s != 0 || nh/s >= t.oh {
				continue
			}
			obase := (img*t.oh + nh/s) * t.ow
			for kw := 0; kw < k; kw++ {
				// Output columns ow with iw = ow·s − padLft + kw in [0, w).
				owLo := 0
				if d := t.padLft - kw; d > 0 {
					owLo = (d + s - 1) / s
				}
				num := w - 1 + t.padLft - kw
				if num < 0 {
					continue
				}
				owHi := min(t.ow-1, num/s)
				off := (obase+owLo)*kkc + (kh*k+kw)*c
				iw := owLo*s - t.padLft + kw
				if c == 1 {
					for ow := owLo; ow <= owHi; ow++ {
						dxrow[iw] += t.dcol[off]
						off += kkc
						iw += s
					}
					continue
				}
				for ow := owLo; ow <= owHi; ow++ {
					addTo(dxrow[iw*c:(iw+1)*c], t.dcol[off:off+c])
					off += kkc
					iw += s
				}
			}
		}
	}
}

// addTo adds src to dst elementwise; len(src) must be ≥ len(dst). The loop
// is unrolled by eight, which the compiler does not do.
func addTo(dst, src []float32) {
	src = src[:len(dst)]
	i := 0
	for ; i+8 <= len(dst); i += 8 {
		d, s := dst[i:i+8:i+8], src[i:i+8:i+8]
		d[0] += s[0]
		d[1] += s[1]
		d[2] += s[2]
		d[3] += s[3]
		d[4] += s[4]
		d[5] += s[5]
		d[6] += s[6]
		d[7] += s[7]
	}
	for ; i < len(dst); i++ {
		dst[i] += src[i]
	}
}

// biasActTask adds a bias to each row of y (rows × c) and applies an
// activation: the output pass of a convolution or dense GEMM. Units are rows.
type biasActTask struct {
	y, bias []float32
	c       int
	act     activation
	alpha   float32
}

func (t *biasActTask) run(lo, hi int) {
	c := t.c
	if t.bias == nil {
		t.act.apply(t.y[lo*c:hi*c], t.alpha)
		return
	}
	b := t.bias[:c]
	for r := lo; r < hi; r++ {
		row := t.y[r*c : (r+1)*c]
		row = row[:len(b)]
		switch {
		case t.act == actReLU:
			for i, v := range row {
				row[i] = max(v+b[i], 0)
			}
		case t.act == actLeaky && t.alpha >= 0 && t.alpha <= 1:
			for i, v := range row {
				v += b[i]
				row[i] = max(v, t.alpha*v)
			}
		default:
			for i := range row {
				row[i] += b[i]
			}
			t.act.apply(row, t.alpha)
		}
	}
}

// batchNormTask is inference-mode batch normalisation followed by an
// optional activation, on rows × c values. Units are rows.
type batchNormTask struct {
	x, y              []float32
	mean, scale, beta []float32
	c                 int
	act               activation
	alpha             float32
}

func (t *batchNormTask) run(lo, hi int) {
	c := t.c
	mean, scale, beta := t.mean[:c], t.scale[:c], t.beta[:c]
	for r := lo; r < hi; r++ {
		x, y := t.x[r*c:(r+1)*c], t.y[r*c:(r+1)*c]
		for i := range y {
			// FusedBatchNorm's CPU inference form: (x − mean)·scale + offset.
			y[i] = (x[i]-mean[i])*scale[i] + beta[i]
		}
		t.act.apply(y, t.alpha)
	}
}

// elementwise operations of ewTask.
type ewOp uint8

const (
	ewScale   ewOp = iota // dst (=|+=) s·a
	ewAdd                 // dst = a + b
	ewAct                 // dst = act(a)
	ewActGrad             // dst (=|+=) a·act'(b), b the activation's input (or its output in place)
	ewChanMul             // dst (=|+=) a·vec[channel], c channels
)

// ewTask is an elementwise operation on flat slices. Units are elements,
// except for ewChanMul, whose units are rows of c elements.
type ewTask struct {
	op        ewOp
	dst, a, b []float32
	vec       []float32
	s         float32
	c         int
	act       activation
	alpha     float32
	acc       bool
}

func (t *ewTask) run(lo, hi int) {
	switch t.op {
	case ewScale:
		d, a := t.dst[lo:hi], t.a[lo:hi]
		if t.acc {
			for i := range d {
				d[i] += t.s * a[i]
			}
		} else {
			for i := range d {
				d[i] = t.s * a[i]
			}
		}
	case ewAdd:
		d, a, b := t.dst[lo:hi], t.a[lo:hi], t.b[lo:hi]
		for i := range d {
			d[i] = a[i] + b[i]
		}
	case ewAct:
		d := t.dst[lo:hi]
		copy(d, t.a[lo:hi])
		t.act.apply(d, t.alpha)
	case ewActGrad:
		d, g, y := t.dst[lo:hi], t.a[lo:hi], t.b[lo:hi]
		g, y = g[:len(d)], y[:len(d)]
		switch t.act {
		case actReLU:
			// ReluGrad: the gradient passes where x > 0 (and y > 0).
			for i, v := range g {
				if !(y[i] > 0) {
					v = 0
				}
				if t.acc {
					v += d[i]
				}
				d[i] = v
			}
		case actLeaky:
			// tf.where(x < 0, αx, x): α where x < 0, else 1.
			for i, v := range g {
				s := float32(1)
				if y[i] < 0 {
					s = t.alpha
				}
				v *= s
				if t.acc {
					v += d[i]
				}
				d[i] = v
			}
		}
	case ewChanMul:
		c := t.c
		vec := t.vec[:c]
		for r := lo; r < hi; r++ {
			d, a := t.dst[r*c:(r+1)*c], t.a[r*c:(r+1)*c]
			if t.acc {
				for i := range d {
					d[i] += a[i] * vec[i]
				}
			} else {
				for i := range d {
					d[i] = a[i] * vec[i]
				}
			}
		}
	}
}

// chanSumTask sums a rows × c matrix over its rows, per channel, in float64
// and in row order: s1[ch] = Σ dy[r, ch] and, when x is set,
// s2[ch] = Σ dy[r, ch]·(x[r, ch] − mean[ch]). Units are channels; each worker
// reads its columns of every row.
type chanSumTask struct {
	dy, x, mean []float32
	rows, c     int
	s1, s2      []float64
}

func (t *chanSumTask) run(lo, hi int) {
	s1 := t.s1[lo:hi]
	clear(s1)
	c := t.c
	if t.x == nil {
		for r := 0; r < t.rows; r++ {
			dy := t.dy[r*c+lo : r*c+hi]
			for i, v := range dy {
				s1[i] += float64(v)
			}
		}
		return
	}
	s2, mean := t.s2[lo:hi], t.mean[lo:hi]
	clear(s2)
	for r := 0; r < t.rows; r++ {
		dy, x := t.dy[r*c+lo:r*c+hi], t.x[r*c+lo:r*c+hi]
		for i, v := range dy {
			s1[i] += float64(v)
			s2[i] += float64(v) * float64(x[i]-mean[i])
		}
	}
}

// maxPoolTask is max pooling with SAME padding: padded cells never win, and
// on ties the first maximum in row-major window order wins. Unless noArg is
// set it records the arg-max of each output (an index into the image) for
// the gradient. Units are (image, oh).
type maxPoolTask struct {
	x, y                 []float32
	arg                  []int32
	noArg                bool // forward only: skip the arg-max
	h, w, c, oh, ow      int
	k, s, padTop, padLft int
}

func (t *maxPoolTask) run(lo, hi int) {
	c, w := t.c, t.w
	for u := lo; u < hi; u++ {
		img, r := u/t.oh, u%t.oh
		xi := t.x[img*t.h*w*c : (img+1)*t.h*w*c]
		ih0 := r*t.s - t.padTop
		kh0, kh1 := max(0, -ih0), min(t.k, t.h-ih0)
		for q := 0; q < t.ow; q++ {
			o := (u*t.ow + q) * c
			y, arg := t.y[o:o+c], t.arg[o:o+c]
			iw0 := q*t.s - t.padLft
			kw0, kw1 := max(0, -iw0), min(t.k, w-iw0)
			// The first cell in the window (there is always one) starts.
			p0 := ((ih0+kh0)*w + iw0 + kw0) * c
			copy(y, xi[p0:p0+c])
			if t.noArg {
				for kh := kh0; kh < kh1; kh++ {
					for kw := kw0; kw < kw1; kw++ {
						p := ((ih0+kh)*w + iw0 + kw) * c
						xs := xi[p : p+c]
						y := y[:len(xs)]
						for i, v := range xs {
							y[i] = max(y[i], v)
						}
					}
				}
				continue
			}
			for i := range arg {
				arg[i] = int32(p0 + i)
			}
			for kh := kh0; kh < kh1; kh++ {
				for kw := kw0; kw < kw1; kw++ {
					p := ((ih0+kh)*w + iw0 + kw) * c
					if p == p0 {
						continue
					}
					xs := xi[p : p+c]
					y, arg := y[:len(xs)], arg[:len(xs)]
					for i, v := range xs {
						// Branch-free: a strictly larger value moves the
						// arg-max, so the first maximum wins ties.
						b, a := y[i], arg[i]
						if v > b {
							a = int32(p + i)
						}
						y[i] = max(b, v)
						arg[i] = a
					}
				}
			}
		}
	}
}

// maxPoolGradTask sends each output gradient to its arg-max. Units are
// images. With act set, y is the pool's input, the output of that
// activation, and the gradient is multiplied by the activation's derivative
// there (the activation's own backward step). (Writing each input cell once
// when the windows tile the input, instead of clearing and scattering, was
// slower: the comparison with the arg-max mispredicts.)
type maxPoolGradTask struct {
	dy, dx, y            []float32
	arg                  []int32
	h, w, c, oh, ow      int
	k, s, padTop, padLft int
	act                  activation
	alpha                float32
	acc                  bool
}

// deriv returns the derivative factor of the fused activation at input
// value v.
func (t *maxPoolGradTask) deriv(v float32) float32 {
	switch t.act {
	case actReLU:
		if !(v > 0) {
			return 0
		}
	case actLeaky:
		if v < 0 {
			return t.alpha
		}
	}
	return 1
}

func (t *maxPoolGradTask) run(lo, hi int) {
	in, out := t.h*t.w*t.c, t.oh*t.ow*t.c
	for img := lo; img < hi; img++ {
		dx := t.dx[img*in : (img+1)*in]
		dy, arg := t.dy[img*out:(img+1)*out], t.arg[img*out:(img+1)*out]
		var y []float32
		if t.act != actNone {
			y = t.y[img*in : (img+1)*in]
		}
		if !t.acc {
			clear(dx)
		}
		for i, g := range dy {
			a := arg[i]
			if y != nil {
				g *= t.deriv(y[a])
			}
			dx[a] += g
		}
	}
}

// avgPoolTask is average pooling with VALID padding. Units are (image, oh).
type avgPoolTask struct {
	x, y            []float32
	h, w, c, oh, ow int
	k, s            int
}

func (t *avgPoolTask) run(lo, hi int) {
	c, w := t.c, t.w
	inv := float32(t.k * t.k)
	for u := lo; u < hi; u++ {
		img, r := u/t.oh, u%t.oh
		xi := t.x[img*t.h*w*c : (img+1)*t.h*w*c]
		for q := 0; q < t.ow; q++ {
			o := (u*t.ow + q) * c
			y := t.y[o : o+c]
			clear(y)
			for kh := 0; kh < t.k; kh++ {
				for kw := 0; kw < t.k; kw++ {
					p := ((r*t.s+kh)*w + q*t.s + kw) * c
					for i, v := range xi[p : p+c] {
						y[i] += v
					}
				}
			}
			for i := range y {
				y[i] /= inv
			}
		}
	}
}

// avgPoolGradTask spreads each output gradient evenly over its window.
// Units are images.
type avgPoolGradTask struct {
	dy, dx          []float32
	h, w, c, oh, ow int
	k, s            int
	acc             bool
}

func (t *avgPoolGradTask) run(lo, hi int) {
	c, w := t.c, t.w
	cnt := float32(t.k * t.k)
	for img := lo; img < hi; img++ {
		dx := t.dx[img*t.h*w*c : (img+1)*t.h*w*c]
		if !t.acc {
			clear(dx)
		}
		for r := 0; r < t.oh; r++ {
			for q := 0; q < t.ow; q++ {
				o := ((img*t.oh+r)*t.ow + q) * c
				dy := t.dy[o : o+c]
				for kh := 0; kh < t.k; kh++ {
					for kw := 0; kw < t.k; kw++ {
						p := ((r*t.s+kh)*w + q*t.s + kw) * c
						for i, g := range dy {
							dx[p+i] += g / cnt
						}
					}
				}
			}
		}
	}
}

// padTask copies rows of c channels into rows with before zeros in front and
// after zeros behind, or (grad) takes the middle back out. Units are rows.
type padTask struct {
	x, y          []float32 // x: rows × c, y: rows × (before+c+after)
	c, before, cy int
	grad, acc     bool
}

func (t *padTask) run(lo, hi int) {
	c, cy := t.c, t.cy
	for r := lo; r < hi; r++ {
		x, y := t.x[r*c:(r+1)*c], t.y[r*cy:(r+1)*cy]
		if !t.grad {
			clear(y[:t.before])
			copy(y[t.before:], x)
			clear(y[t.before+c:])
			continue
		}
		mid := y[t.before : t.before+c]
		if t.acc {
			for i := range x {
				x[i] += mid[i]
			}
		} else {
			copy(x, mid)
		}
	}
}

// gapTask is the global average pool of images of hw pixels of c channels,
// summed in float64; with grad it spreads dy evenly back. Units are images.
type gapTask struct {
	x, y      []float32 // forward: x in, y out; grad: x = dx out, y = dy in
	hw, c     int
	sum       []float64 // forward: per-image channel sums, n·c values
	grad, acc bool
}

func (t *gapTask) run(lo, hi int) {
	c, hw := t.c, t.hw
	for img := lo; img < hi; img++ {
		x, y := t.x[img*hw*c:(img+1)*hw*c], t.y[img*c:(img+1)*c]
		if t.grad {
			for p := 0; p < hw; p++ {
				dx := x[p*c : (p+1)*c]
				for i, g := range y {
					if t.acc {
						dx[i] += g / float32(hw)
					} else {
						dx[i] = g / float32(hw)
					}
				}
			}
			continue
		}
		s := t.sum[img*c : (img+1)*c]
		clear(s)
		for p := 0; p < hw; p++ {
			for i, v := range x[p*c : (p+1)*c] {
				s[i] += float64(v)
			}
		}
		for i := range y {
			y[i] = float32(s[i] / float64(hw))
		}
	}
}

// standardizeTask is TensorFlow 1.x's tf.image.per_image_standardization on
// images of size values:
//
//	mean = E[x], variance = max(E[x²] − mean², 0)   (one pass, float32)
//	scale = max(sqrt(variance), 1/sqrt(size)),  y = (x − mean)/scale
//
// TF 1.x computes the variance in this one-pass form; TF 2.x uses
// reduce_std, the two-pass E[(x − mean)²], which changes the float32 logits
// of Madry's CIFAR-10 model by about 4e-5. Madry trained with TF 1.x, so the
// one-pass form is used here. The sums are taken in float64 and rounded to
// float32 means, as close to the exact means as float32 allows.
//
// It records each image's scale, and whether the gradient flows through the
// standard deviation (TensorFlow's maximum passes the gradient to its first
// argument, the standard deviation, when it is ≥ the clamp). With grad set
// it computes the gradient instead: with g = dy and y the output,
//
//	dx = (g − mean(g) − y·mean(g·y)) / scale   if the std is used,
//	dx = (g − mean(g)) / scale                 if the clamp is active
//
// (then only the mean depends on x). Units are images.
type standardizeTask struct {
	x, y   []float32 // forward: x in, y out; grad: x = dx out, y = dy in
	out    []float32 // grad: the forward output
	scale  []float32
	useStd []bool
	size   int
	grad   bool
	acc    bool
}

func (t *standardizeTask) run(lo, hi int) {
	n := t.size
	for img := lo; img < hi; img++ {
		x, y := t.x[img*n:(img+1)*n], t.y[img*n:(img+1)*n]
		if t.grad {
			out := t.out[img*n : (img+1)*n]
			var sg, sgy float64
			for i, g := range y {
				sg += float64(g)
				sgy += float64(g) * float64(out[i])
			}
			mg := float32(sg / float64(n))
			mgy := float32(0)
			if t.useStd[img] {
				mgy = float32(sgy / float64(n))
			}
			s := t.scale[img]
			for i, g := range y {
				v := (g - mg - out[i]*mgy) / s
				if t.acc {
					x[i] += v
				} else {
					x[i] = v
				}
			}
			continue
		}
		var s1, s2 float64
		for _, v := range x {
			s1 += float64(v)
			s2 += float64(v) * float64(v)
		}
		mean := float32(s1 / float64(n))
		meanSq := float32(s2 / float64(n))
		variance := max(meanSq-float32(mean*mean), 0) // relu; the conversion forbids FMA fusion
		std := float32(math.Sqrt(float64(variance)))
		minStd := float32(1 / math.Sqrt(float64(n))) // rsqrt(num_pixels)
		scale := max(std, minStd)
		t.scale[img] = scale
		t.useStd[img] = std >= minStd
		for i, v := range x {
			y[i] = (v - mean) / scale
		}
	}
}
