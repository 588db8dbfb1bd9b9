package engine

import "math"

// SumExp returns the largest logit m of z and Σ_j exp(z_j − m), in float64:
// the one core of every softmax, log-softmax and confidence the harness
// computes (losses here, confidences and objectives in package attack), so
// that they agree bit for bit wherever they are computed.
func SumExp(z []float32) (m float32, s float64) {
	m = z[0]
	for _, v := range z[1:] {
		m = max(m, v)
	}
	for _, v := range z {
		s += math.Exp(float64(v - m))
	}
	return m, s
}

// SoftmaxFloat64 writes softmax(z) into p (len(z)) in float64 and returns
// logsumexp(z).
func SoftmaxFloat64(p []float64, z []float32) float64 {
	m, s := SumExp(z)
	for j, v := range z {
		p[j] = math.Exp(float64(v-m)) / s
	}
	return float64(m) + math.Log(s)
}

// Softmax writes softmax(z) of each of the n rows of logits into dst.
func Softmax(dst, logits []float32, n, classes int) {
	for i := 0; i < n; i++ {
		softmaxInto(dst[i*classes:(i+1)*classes], logits[i*classes:(i+1)*classes])
	}
}

// softmaxInto writes softmax(z) into p, each exp(z_j − m) rounded to float32
// before the division, and returns logsumexp(z).
func softmaxInto(p, z []float32) float64 {
	m, s := SumExp(z)
	for j, v := range z {
		p[j] = float32(float64(float32(math.Exp(float64(v-m)))) / s)
	}
	return float64(m) + math.Log(s)
}
