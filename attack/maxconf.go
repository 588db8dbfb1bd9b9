package attack

import (
	"context"

	"confrobust/engine"
)

// MaxConfidence is the search of the paper's Tables 2 and 3 for the most
// confident adversarial example of each input: for every wrong label t a
// targeted PGD (the embedded PGD's settings; the paper uses RandomStart,
// Restarts 10, Iterations 100) maximising t's confidence, each kept by
// KeepConfidentWrong; then, among the candidates the model misclassifies,
// the one with the highest confidence ||F(x*)||∞.
//
// All (input, target) pairs are rows of one batched search: PGD.Batch rows
// go to the executor per call. PGD.Loss DefaultLoss means TargetLogProb
// (CWMargin stops at PGD.Kappa; set it to +Inf to maximise confidence);
// PGD.Keep is ignored (always KeepConfidentWrong).
type MaxConfidence struct {
	PGD
	// KeepCandidates makes Run return every target's kept candidate point in
	// Search.CandX (n·classes·d floats).
	KeepCandidates bool
}

// Search is the outcome of a MaxConfidence search.
type Search struct {
	// Result describes the chosen point of every input: X is x* (x itself
	// when none was found), Wrong reports whether one was found (x* is
	// misclassified), Conf and Pred are ||F(x*)||∞ and C_F(x*). Score and
	// Steps are those of the whole search.
	Result
	// Target is the target whose search produced x* (−1 when none).
	Target []int
	// CandConf and CandPred (n·classes) are the confidence and prediction of
	// each target's kept candidate; CandWrong says whether it is
	// misclassified. The entries of the true label are 0, the label and
	// false.
	CandConf  []float64
	CandPred  []int
	CandWrong []bool
	// CandX (with KeepCandidates) holds the kept candidate of target t for
	// input i at (i·classes + t)·d; the true label's slot holds x.
	CandX []float32
}

// Run searches the n inputs x (n·d) with true labels labels. On a stop it
// returns the partial search (inputs before Done are finished) with the
// wrapped error.
func (a *MaxConfidence) Run(ctx context.Context, exec engine.Executor, x []float32, labels []int) (*Search, error) {
	const method = "MaxConfidence"
	c, err := a.PGD.defaults(method)
	if err != nil {
		return nil, err
	}
	c.Keep = KeepConfidentWrong
	n, d, k, err := shape(method, exec, x, labels, true)
	if err != nil {
		return nil, err
	}
	// Rows are the (input, target) pairs in input-major order.
	var src, ys, ts []int
	for i := 0; i < n; i++ {
		for t := 0; t < k; t++ {
			if t != labels[i] {
				src, ys, ts = append(src, i), append(ys, labels[i]), append(ts, t)
			}
		}
	}
	rows := len(src)
	if c.Batch == 0 {
		c.Batch = max(rows, 1)
	}
	s := c.search(method, exec, x, n, d, k, src, ys, ts)
	s.meter = &meter{fn: c.Progress, total: rows * c.Restarts * c.Iterations}
	cand, err := s.result(ctx, ys)
	out := &Search{Result: Result{
		X: make([]float32, n*d), Logits: make([]float32, n*k),
		Conf: make([]float64, n), Pred: make([]int, n), Wrong: make([]bool, n), Score: make([]float64, n),
	}}
	out.Target = make([]int, n)
	out.CandConf = make([]float64, n*k)
	out.CandPred = make([]int, n*k)
	out.CandWrong = make([]bool, n*k)
	copy(out.X, x)
	if cand == nil {
		return out, err
	}
	out.Steps, out.Status = cand.Steps, cand.Status
	out.Done = cand.Done / (k - 1)
	if cand.Logits == nil {
		return out, err
	}
	for i := 0; i < n; i++ {
		out.Target[i] = -1
		out.Pred[i] = labels[i]
		out.CandPred[i*k+labels[i]] = labels[i]
	}
	if a.KeepCandidates {
		out.CandX = make([]float32, n*k*d)
		for i := 0; i < n; i++ {
			copy(out.CandX[(i*k+labels[i])*d:(i*k+labels[i]+1)*d], x[i*d:(i+1)*d])
		}
		for r := 0; r < rows; r++ {
			i, t := src[r], ts[r]
			copy(out.CandX[(i*k+t)*d:(i*k+t+1)*d], cand.X[r*d:(r+1)*d])
		}
	}
	for r := 0; r < min(cand.Done, rows); r++ {
		i, t := src[r], ts[r]
		out.CandConf[i*k+t] = cand.Conf[r]
		out.CandPred[i*k+t] = cand.Pred[r]
		out.CandWrong[i*k+t] = cand.Wrong[r]
		if cand.Wrong[r] && (!out.Wrong[i] || cand.Conf[r] > out.Conf[i]) {
			out.Wrong[i], out.Conf[i], out.Pred[i], out.Target[i] = true, cand.Conf[r], cand.Pred[r], t
			out.Score[i] = cand.Score[r]
			copy(out.X[i*d:(i+1)*d], cand.X[r*d:(r+1)*d])
			copy(out.Logits[i*k:(i+1)*k], cand.Logits[r*k:(r+1)*k])
		}
	}
	// Inputs with no adversarial candidate report x itself, with its logits.
	var miss []int
	for i := 0; i < min(out.Done, n); i++ {
		if !out.Wrong[i] {
			miss = append(miss, i)
		}
	}
	if len(miss) > 0 && err == nil {
		xs := make([]float32, len(miss)*d)
		for j, i := range miss {
			copy(xs[j*d:(j+1)*d], x[i*d:(i+1)*d])
		}
		lg := make([]float32, len(miss)*k)
		if ferr := forward(exec, lg, xs, len(miss), d, k, c.Batch); ferr != nil {
			out.Status = Failure
			return out, wrapf(method, "logits", ferr)
		}
		for j, i := range miss {
			copy(out.Logits[i*k:(i+1)*k], lg[j*k:(j+1)*k])
			out.Conf[i], out.Pred[i] = Confidence(lg[j*k : (j+1)*k])
		}
	}
	return out, err
}
