package attack

import (
	"context"
	"math"
	"slices"

	"confrobust/engine"
)

// Evaluation runs, on the same inputs, the paper's non-adaptive attack on the defended
// classifier Γ(x) = C_F(HCNN_ξ(x)) (or NCN_P's prediction) and a set of adaptive attacks, and
// reports per input whether Γ is robust under each and under all of them, so that robust
// accuracies can be set side by side: stats.NewRate(r.Count(a), n) gives each its exact 95%
// Clopper–Pearson interval.
//
// An input counts as robust under an attack when Γ is right on it (Γ(x) = y with, for P > 0,
// a defended confidence ≥ P: a rejected clean point is not counted accurate) and the attack
// found no point of N(x, η) ∩ [0,1] where Γ makes an accepted mistake (Γ ≠ y with defended
// confidence ≥ P; a rejected adversarial point is no mistake).
type Evaluation struct {
	// Defense, NCN and P describe Γ and its rejection threshold as in Adaptive; they replace
	// the attacks' own, so that every attack faces the same Γ.
	Defense HCNN
	NCN     *NCN
	P       float64
	// Paper is the paper's attack: the Table 2 search on the base model (MaxConfidence, whose
	// Eps is the radius η), every target's candidate then embedded by the defense, as Table 4
	// embeds its targeted examples. An input falls to it when Γ makes an accepted mistake on
	// some candidate. Its Batch, FirstInput and Progress are the Evaluation's.
	Paper MaxConfidence
	// Attacks are the adaptive attacks, each named for the report; their Eps should be
	// Paper.Eps for the comparison to be about one threat model.
	Attacks []NamedAttack
	// WarmStart gives every adaptive attack an extra first start at the paper attack's
	// candidate for the same target (Adaptive.RunFrom): for a deterministic defense each
	// adaptive attack then finds every success of the paper's attack and of its own cold
	// starts.
	WarmStart bool
	// FirstInput is the data-set index of the first input; Batch the rows per executor call
	// (0: all at once); Progress, when set, receives the row-steps of all the runs together.
	FirstInput int
	Batch      int
	Progress   Progress
}

// NamedAttack is an adaptive attack with the name it is reported under.
type NamedAttack struct {
	Name   string
	Attack Adaptive
}

// PaperAttackName is the name under which Robustness reports the paper's attack.
const PaperAttackName = "paper"

// Robustness is the outcome of an Evaluation on n inputs.
type Robustness struct {
	// Labels are the true labels and P the rejection threshold.
	Labels []int
	P      float64
	// CleanPrediction and CleanConf are Γ(x_i) and its defended confidence.
	CleanPrediction []int
	CleanConf       []float64
	// Names are PaperAttackName and the adaptive attacks' names, in order; the other slices
	// are indexed alike. Success[a][i] reports that attack a found a point where Γ makes an
	// accepted mistake; Prediction[a][i] and Conf[a][i] are Γ and the defended confidence at
	// the attack's point (for the paper's attack, the candidate with an accepted mistake of
	// highest defended confidence, or Γ(x) when there is none). RowSteps are the planned
	// row-steps (the paper's including the defense on its candidates) and Steps the InputGrad
	// calls made.
	Names      []string
	Success    [][]bool
	Prediction [][]int
	Conf       [][]float64
	RowSteps   []int
	Steps      []int
	// Done is the number of attacks (in Names' order) that finished; Status says why the
	// evaluation stopped.
	Done   int
	Status Status
}

// CleanCorrect reports whether Γ is right on input i: Γ(x_i) = y_i, accepted at P.
func (r *Robustness) CleanCorrect(i int) bool {
	return r.CleanPrediction[i] == r.Labels[i] && r.CleanConf[i] >= r.P
}

// Robust reports whether input i is robust under attack a (an index into Names), or under
// every finished attack for a = −1.
func (r *Robustness) Robust(a, i int) bool {
	if !r.CleanCorrect(i) {
		return false
	}
	if a >= 0 {
		return !r.Success[a][i]
	}
	for _, s := range r.Success[:r.Done] {
		if s[i] {
			return false
		}
	}
	return true
}

// Count returns the number of inputs robust under attack a, or under every finished attack
// for a = −1.
func (r *Robustness) Count(a int) int {
	k := 0
	for i := range r.Labels {
		if r.Robust(a, i) {
			k++
		}
	}
	return k
}

const evaluationMethod = "Evaluation"

// gamma returns the adaptive run that describes Γ, for the defense's runs.
func (e *Evaluation) gamma() (*adaptiveRun, error) {
	a := Adaptive{Defense: e.Defense, NCN: e.NCN, P: e.P, Eps: e.Paper.Eps, Iterations: 1, Batch: e.Batch, FirstInput: e.FirstInput}
	return a.defaults()
}

// attack returns adaptive attack j with Γ's settings.
func (e *Evaluation) attack(j int) Adaptive {
	a := e.Attacks[j].Attack
	a.Defense, a.NCN, a.P, a.FirstInput, a.Batch = e.Defense, e.NCN, e.P, e.FirstInput, e.Batch
	return a
}

// paperSearch returns the paper's attack with the Evaluation's settings.
func (e *Evaluation) paperSearch() MaxConfidence {
	p := e.Paper
	p.FirstInput, p.Batch, p.KeepCandidates = e.FirstInput, e.Batch, true
	return p
}

// RowSteps returns the planned row-steps of Run on n inputs: Γ on them, the paper's search,
// Γ on its n·(classes−1) candidates, and every adaptive attack's RowSteps.
func (e *Evaluation) RowSteps(n, classes int) (int, error) {
	steps, err := e.rowSteps(n, classes)
	if err != nil {
		return 0, err
	}
	t := 0
	for _, s := range steps {
		t += s
	}
	return t, nil
}

// rowSteps returns the planned row-steps of the clean defense run, the paper's attack and
// each adaptive attack.
func (e *Evaluation) rowSteps(n, k int) ([]int, error) {
	g, err := e.gamma()
	if err != nil {
		return nil, err
	}
	clean, err := g.finalSteps(n, k)
	if err != nil {
		return nil, err
	}
	ps := e.paperSearch()
	p, err := ps.RowSteps(n, k)
	if err != nil {
		return nil, err
	}
	pd, err := g.finalSteps(n*(k-1), k)
	if err != nil {
		return nil, err
	}
	out := []int{clean, p + pd}
	for j := range e.Attacks {
		a := e.attack(j)
		plan := a.RowSteps
		if e.WarmStart {
			plan = a.RowStepsFrom
		}
		s, err := plan(n, k)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// Run evaluates Γ on the n inputs x (n·d) of true labels labels. On a stop it returns the
// attacks finished so far (Done) with the wrapped error.
func (e *Evaluation) Run(ctx context.Context, exec engine.Executor, x []float32, labels []int) (*Robustness, error) {
	n, d, k, err := shape(evaluationMethod, exec, x, labels, true)
	if err != nil {
		return nil, err
	}
	if e.FirstInput < 0 {
		return nil, bad(evaluationMethod, "FirstInput", e.FirstInput, "≥ 0")
	}
	if e.Batch < 0 {
		return nil, bad(evaluationMethod, "Batch", e.Batch, "≥ 0 (0 for all rows at once)")
	}
	plan, err := e.rowSteps(n, k)
	if err != nil {
		return nil, err
	}
	g, err := e.gamma()
	if err != nil {
		return nil, err
	}
	g.d, g.k = d, k
	total := 0
	for _, s := range plan {
		total += s
	}
	m := &meter{fn: e.Progress, total: total}
	// sub maps a run's own progress onto the evaluation's, after the work done before it.
	sub := func() Progress {
		done0 := m.done
		return func(done, _ int) error {
			m.done = done0
			return m.add(done)
		}
	}
	r := &Robustness{Labels: labels, P: e.P, RowSteps: plan[1:], Status: IterationLimit}
	w := &adaptiveWork{c: g, exec: exec, meter: m}
	stop := func(err error) (*Robustness, error) {
		r.Status, err = stopOrFail(evaluationMethod, err)
		return r, err
	}
	if r.CleanPrediction, r.CleanConf, err = w.defend(ctx, x, n); err != nil {
		return stop(err)
	}

	// The paper's attack, then Γ on every target's candidate.
	ps := e.paperSearch()
	ps.Progress = sub()
	s, err := ps.Run(ctx, exec, x, labels)
	if err != nil {
		if s != nil && (s.Status == Canceled || s.Status == Stopped) {
			return stop(&stopError{err})
		}
		return stop(err)
	}
	w.steps = 0
	rows := make([]int, 0, n*(k-1))
	for i := 0; i < n; i++ {
		for t := 0; t < k; t++ {
			if t != labels[i] {
				rows = append(rows, i*k+t)
			}
		}
	}
	cand := make([]float32, len(rows)*d)
	for j, q := range rows {
		copy(cand[j*d:(j+1)*d], s.CandX[q*d:(q+1)*d])
	}
	pred, conf, err := w.defend(ctx, cand, len(rows))
	if err != nil {
		return stop(err)
	}
	succ, ppred, pconf := make([]bool, n), slices.Clone(r.CleanPrediction), slices.Clone(r.CleanConf)
	best := make([]float64, n)
	for i := range best {
		best[i] = math.Inf(-1)
	}
	for j, q := range rows {
		i := q / k
		if pred[j] != labels[i] && conf[j] >= e.P && conf[j] > best[i] {
			succ[i], ppred[i], pconf[i], best[i] = true, pred[j], conf[j], conf[j]
		}
	}
	r.add(PaperAttackName, succ, ppred, pconf, s.Steps+w.steps)

	for j := range e.Attacks {
		a := e.attack(j)
		a.Progress = sub()
		var init []float32
		if e.WarmStart {
			init = s.CandX
		}
		res, err := a.RunFrom(ctx, exec, x, labels, init)
		if err != nil {
			if res != nil && (res.Status == Canceled || res.Status == Stopped) {
				return stop(&stopError{err})
			}
			return stop(err)
		}
		r.add(e.Attacks[j].Name, res.Success, res.Prediction, res.Conf, res.Steps)
	}
	return r, nil
}

// add appends a finished attack's verdicts.
func (r *Robustness) add(name string, succ []bool, pred []int, conf []float64, steps int) {
	r.Names = append(r.Names, name)
	r.Success = append(r.Success, succ)
	r.Prediction = append(r.Prediction, pred)
	r.Conf = append(r.Conf, conf)
	r.Steps = append(r.Steps, steps)
	r.Done++
}
