package attack

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"

	"confrobust/engine"
)

// Status says why a search stopped, in the manner of gonum's optimize.Status.
type Status int

const (
	// NotTerminated is the zero Status: the search has not run.
	NotTerminated Status = iota
	// Success means the search met its goal before its budget ran out (CW:
	// every input has a p-confident wrong point).
	Success
	// IterationLimit means the search ran its whole configured budget. For
	// searches with no goal to meet (PGD, the Table 2 search, Algorithm 1,
	// the entropy surrogates) it is the normal end.
	IterationLimit
	// Canceled means the context was canceled or its deadline passed; the
	// returned error wraps ctx.Err().
	Canceled
	// Stopped means the progress callback returned an error, which the
	// returned error wraps.
	Stopped
	// Failure means the executor failed or the objective became NaN or Inf.
	Failure
)

var statusNames = [...]string{"not terminated", "success", "iteration limit", "canceled", "stopped", "failure"}

// String returns the status in words.
func (s Status) String() string {
	if s >= 0 && int(s) < len(statusNames) {
		return statusNames[s]
	}
	return fmt.Sprintf("status(%d)", int(s))
}

// Progress receives the work done so far and the total planned, in row-steps:
// every executor gradient call on m rows advances done by m. A search calls
// it after every step; a non-nil error stops the search, which returns the
// error wrapped, with Status Stopped.
type Progress func(done, total int) error

// ParamError is a bad parameter of an attack or defense.
type ParamError struct {
	Method string // "PGD", "CW", ...
	Param  string // the field or argument, as in the source
	Value  any
	Want   string
}

func (e *ParamError) Error() string {
	return fmt.Sprintf("attack: %s: bad %s = %v: want %s", e.Method, e.Param, e.Value, e.Want)
}

func bad(method, param string, value any, want string) error {
	return &ParamError{Method: method, Param: param, Value: value, Want: want}
}

// checkRadius checks an ℓ∞ radius on the [0,1] scale.
func checkRadius(method, param string, eps float64) error {
	if !(eps >= 0) || math.IsInf(eps, 0) {
		return bad(method, param, eps, "a finite radius ≥ 0 on the [0,1] pixel scale")
	}
	return nil
}

func checkIterations(method string, iters int) error {
	if iters <= 0 {
		return bad(method, "Iterations", iters, "> 0")
	}
	return nil
}

func checkStep(method string, step float64) error {
	if !(step >= 0) || math.IsInf(step, 0) {
		return bad(method, "Step", step, "≥ 0 (0 for the default 2.5·radius/Iterations)")
	}
	return nil
}

// checkSearch checks the limits every projected search shares (Iterations,
// Step, Batch, FirstInput) and returns the step, defaulting to
// 2.5·radius/Iterations.
func checkSearch(method string, radius float64, iters int, step float64, batch, firstInput int) (float64, error) {
	if err := checkIterations(method, iters); err != nil {
		return 0, err
	}
	if err := checkStep(method, step); err != nil {
		return 0, err
	}
	if batch < 0 {
		return 0, bad(method, "Batch", batch, "≥ 0 (0 for all rows at once)")
	}
	if firstInput < 0 {
		return 0, bad(method, "FirstInput", firstInput, "≥ 0")
	}
	if step == 0 {
		step = 2.5 * radius / float64(iters)
	}
	return step, nil
}

func checkP(method, param string, p float64) error {
	if !(p > 0 && p < 1) {
		return bad(method, param, p, "a confidence in (0, 1)")
	}
	return nil
}

// shape returns the input size and class count of the executor's model and
// checks the inputs and labels against them.
func shape(method string, exec engine.Executor, x []float32, labels []int, needLabels bool) (n, d, k int, err error) {
	if exec == nil {
		return 0, 0, 0, bad(method, "exec", nil, "an executor")
	}
	m := exec.Model()
	if m == nil || m.Graph == nil {
		return 0, 0, 0, bad(method, "exec", "executor without a model graph", "an executor whose Model().Graph is set")
	}
	d, k = m.Graph.Input.Size(), m.Graph.Classes
	if d <= 0 || k < 2 {
		return 0, 0, 0, bad(method, "exec", fmt.Sprintf("input size %d, %d classes", d, k), "input size > 0 and ≥ 2 classes")
	}
	if len(x)%d != 0 {
		return 0, 0, 0, bad(method, "x", fmt.Sprintf("%d values", len(x)), fmt.Sprintf("a multiple of the input size %d", d))
	}
	n = len(x) / d
	for i, v := range x {
		if !(v >= 0 && v <= 1) {
			return 0, 0, 0, bad(method, fmt.Sprintf("x[%d]", i), v, "a pixel in [0, 1]")
		}
	}
	if needLabels || labels != nil {
		if len(labels) != n {
			return 0, 0, 0, bad(method, "labels", fmt.Sprintf("%d labels", len(labels)), fmt.Sprintf("one per input (%d)", n))
		}
		for i, y := range labels {
			if y < 0 || y >= k {
				return 0, 0, 0, bad(method, fmt.Sprintf("labels[%d]", i), y, fmt.Sprintf("a class in [0, %d)", k))
			}
		}
	}
	return n, d, k, nil
}

// meter counts row-steps and reports them to a Progress.
type meter struct {
	fn          Progress
	done, total int
}

func (m *meter) add(k int) error {
	m.done += k
	if m.fn == nil {
		return nil
	}
	return m.fn(min(m.done, m.total), m.total)
}

// stop turns a context or progress error into a Status and a wrapped error.
func stopped(method string, err error) (Status, error) {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return Canceled, fmt.Errorf("attack: %s: %w", method, err)
	}
	return Stopped, fmt.Errorf("attack: %s: progress: %w", method, err)
}

// bounds writes the ℓ∞ ball of radius eps around x intersected with [0,1]
// into lo and hi. Rounding is directed inward, so every float32 z with
// lo ≤ z ≤ hi satisfies |z − x| ≤ eps exactly.
func bounds(lo, hi, x []float32, eps float64) {
	for i, v := range x {
		l := float32(float64(v) - eps)
		if float64(v)-float64(l) > eps {
			l = math.Nextafter32(l, v)
		}
		h := float32(float64(v) + eps)
		if float64(h)-float64(v) > eps {
			h = math.Nextafter32(h, v)
		}
		lo[i], hi[i] = max(l, 0), min(h, 1)
	}
}

// clamp projects z onto [lo, hi] coordinatewise.
func clamp(z, lo, hi []float32) {
	for i := range z {
		z[i] = min(max(z[i], lo[i]), hi[i])
	}
}

// softmax64 writes softmax(z) into p (len(z)) in float64 and returns
// logsumexp(z).
func softmax64(p []float64, z []float32) float64 { return engine.SoftmaxFloat64(p, z) }

// Confidence returns the model confidence ||F(x)||∞ = max_j softmax(z)_j of
// one example's logits z and the predicted class C_F(x) = argmax_j z_j
// (the smallest index on ties).
func Confidence(z []float32) (conf float64, pred int) {
	for j, v := range z {
		if v > z[pred] {
			pred = j
		}
	}
	_, s := engine.SumExp(z)
	return 1 / s, pred
}

// Prob returns softmax(z)_j, computed in float64.
func Prob(z []float32, j int) float64 {
	m, s := engine.SumExp(z)
	return math.Exp(float64(z[j]-m)) / s
}

// logProb returns log softmax(z)_j = z_j − logsumexp(z), in float64.
func logProb(z []float32, j int) float64 {
	m, s := engine.SumExp(z)
	return float64(z[j]-m) - math.Log(s)
}

// Reject is the paper's rejection rule: it reports whether a prediction of
// confidence conf = ||F(x)||∞ is rejected (output ⊥) at threshold p, that is
// whether conf < p.
func Reject(conf, p float64) bool { return conf < p }

// Confidences writes ||F(x_i)||∞ into conf and C_F(x_i) into pred for the n
// rows of logits (n·classes); either destination may be nil.
func Confidences(conf []float64, pred []int, logits []float32, n, classes int) {
	for i := 0; i < n; i++ {
		c, y := Confidence(logits[i*classes : (i+1)*classes])
		if conf != nil {
			conf[i] = c
		}
		if pred != nil {
			pred[i] = y
		}
	}
}

// forward writes the logits of the n rows of x into dst, calling the
// executor on at most batch rows at a time.
func forward(exec engine.Executor, dst, x []float32, n, d, k, batch int) error {
	for a := 0; a < n; a += batch {
		b := min(a+batch, n)
		if err := exec.Logits(dst[a*k:b*k], x[a*d:b*d], b-a); err != nil {
			return err
		}
	}
	return nil
}

func finite(v []float32) bool {
	for _, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return false
		}
	}
	return true
}

// seq returns the PCG stream of start s of the row whose identity is id
// (derived from the input's index in the data set and the row's label), so
// that random starts depend neither on Batch nor on how a caller splits its
// inputs into calls (see FirstInput).
func seq(id, s int) uint64 {
	return uint64(id)*0x9e3779b97f4a7c15 + uint64(s)*0xbf58476d1ce4e5b9 + 1
}

func itoa(i int) string { return strconv.Itoa(i) }

func wrapf(method, what string, err error) error {
	return fmt.Errorf("attack: %s: %s: %w", method, what, err)
}
