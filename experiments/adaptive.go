package experiments

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"confrobust/attack"
	"confrobust/plots"
	"confrobust/results/paper"
	"confrobust/stats"
)

// Adaptive goes beyond the paper: robust accuracy of the defended
// classifier Γ(x) = C_F(HCNN_ξ(x)), with the rejection rule at a threshold
// P fixed on held-out natural points, under the paper's attack (the Table 2
// search on F, every candidate then defended) and under adaptive attacks
// that run the defense's own search at every step (attack.Adaptive), side
// by side with 95% intervals; and confidence as an adversarial detector
// (ROC, AUC, and Stutz et al.'s confidence-thresholded robust error at the
// τ that keeps a share of held-out natural points).
//
// The defender moves first: before any attack, Γ runs on reject.holdout
// test points drawn from a permutation of the test split seeded by the
// setting's seed, which the evaluated points never include, and P (for
// each reject.keep) and τ (reject.detector_keep) are the thresholds that
// keep those shares of the held-out points Γ classifies correctly. The
// calibration is journaled like a unit, so a resumed or sharded run reuses
// it.
const Adaptive = "adaptive"

type adaptive struct{}

// PaperAttack and AllAttacks are the names results give the paper's attack
// and the union of all attacks (an input is robust when no attack breaks it).
const (
	PaperAttack = attack.PaperAttackName
	AllAttacks  = "all"
)

// adaptivePoint is what the journal and results.json keep of one point.
type adaptivePoint struct {
	natural
	// CleanPred and CleanConf are Γ(x) and the defended confidence.
	CleanPred int     `json:"clean_pred"`
	CleanConf float64 `json:"clean_conf"`
	// P is the rejection threshold and Tau the detector threshold, both
	// fixed on the held-out points.
	P   float64 `json:"p"`
	Tau float64 `json:"tau"`
	// Attacks are the outcomes of the paper's attack, then of each adaptive
	// attack in the config's order.
	Attacks []adaptiveOutcome `json:"attacks"`
}

// adaptiveOutcome is one attack's outcome on a point: whether Γ made an
// accepted mistake, and Γ's prediction and defended confidence at the
// attack's point.
type adaptiveOutcome struct {
	Success bool    `json:"success"`
	Pred    int     `json:"pred"`
	Conf    float64 `json:"conf"`
}

// holdoutPoint is one held-out point of the calibration: Γ's prediction
// and defended confidence on it.
type holdoutPoint struct {
	Index int     `json:"index"`
	Label int     `json:"label"`
	Pred  int     `json:"pred"`
	Conf  float64 `json:"conf"`
}

// adaptiveResult is one setting's outcome.
type adaptiveResult struct {
	settingBase
	P   float64 `json:"p"`
	Tau float64 `json:"tau"`
	// Clean is the share of points on which Γ is right and accepted.
	Clean   stats.Rate             `json:"clean_accuracy"`
	Attacks []adaptiveAttackResult `json:"attacks"`
}

// adaptiveAttackResult is one attack's (or the union's) metrics in a
// setting: robust accuracy, and for single attacks the detector metrics of
// confidence on the points where Γ is wrong.
type adaptiveAttackResult struct {
	Name   string     `json:"name"`
	Robust stats.Rate `json:"robust_accuracy"`
	// AUC of confidence separating natural points Γ gets right from the
	// attack's points where Γ is wrong (nil when either set is empty or for
	// the union); RobustError is the confidence-thresholded robust error at
	// Tau.
	AUC         *float64   `json:"auc,omitempty"`
	RobustError stats.Rate `json:"robust_error_at_tau"`
}

var (
	objectives = map[string]attack.Objective{"margin": attack.Margin, "target_confidence": attack.TargetConfidence, "neighbourhood": attack.Neighbourhood}
	backwards  = map[string]attack.Backward{"identity": attack.Identity, "unrolled": attack.Unrolled}
)

// defaultAdaptiveAttacks are the attacks of a config that names none.
var defaultAdaptiveAttacks = []AdaptiveAttack{
	{Name: "margin/identity", Objective: "margin", Backward: "identity"},
	{Name: "margin/unrolled", Objective: "margin", Backward: "unrolled"},
	{Name: "neighbourhood/identity", Objective: "neighbourhood", Backward: "identity"},
}

func (adaptive) holdout(c *Config) int { return c.Reject.Holdout }

func (q adaptive) calibrationSteps(c *Config, s Setting, k int) (any, int64, error) {
	h := q.defense(c, s)
	if h.Xi == 0 {
		return defenseKeyOf(c, s), 0, nil // logits only
	}
	n, err := h.RowSteps(c.Reject.Holdout, k)
	return defenseKeyOf(c, s), int64(n), err
}

func (adaptive) defaults(c *Config) {
	if c.Attack.RandomStart == nil {
		t := true
		c.Attack.RandomStart = &t
	}
	d := &c.Defense
	defaultSearch(d)
	r := &c.Reject
	if r.Holdout == 0 {
		r.Holdout = 1000
	}
	if len(r.Keep) == 0 {
		r.Keep = []float64{1}
	}
	if r.DetectorKeep == 0 {
		r.DetectorKeep = 0.99
	}
	if d.RandomStart == nil {
		d.RandomStart = new(bool)
	}
	if c.Adaptive == nil {
		c.Adaptive = &AdaptiveConfig{}
	}
	a := c.Adaptive
	if len(a.Attacks) == 0 {
		a.Attacks = slices.Clone(defaultAdaptiveAttacks)
	}
	for i := range a.Attacks {
		at := &a.Attacks[i]
		if at.Objective == "" {
			at.Objective = "margin"
		}
		if at.Backward == "" {
			at.Backward = "identity"
		}
		if at.Samples == 0 {
			at.Samples = 1
		}
	}
	if a.Iterations == 0 {
		a.Iterations = c.Attack.Iterations
	}
	if a.Restarts == 0 {
		a.Restarts = 1
	}
	if a.WarmStart == nil {
		t := true
		a.WarmStart = &t
	}
}

func (adaptive) check(c *Config, bad func(string, ...any)) {
	checkRestarts(c, bad)
	if c.Paper != "" {
		bad("paper: the adaptive experiment goes beyond the paper and has no table to compare with")
	}
	r := c.Reject
	if len(r.P) > 0 {
		bad("reject.p: the adaptive experiment fixes its thresholds on held-out natural points before any attack: give reject.keep (the shares of held-out points kept) instead")
	}
	if r.Holdout < 1 {
		bad("reject.holdout: %d must be ≥ 1", r.Holdout)
	}
	for _, k := range r.Keep {
		if !(k > 0 && k <= 1) {
			bad("reject.keep: %v must be in (0, 1] (1: no rejection)", k)
		}
	}
	if !(r.DetectorKeep > 0 && r.DetectorKeep < 1) {
		bad("reject.detector_keep: %v must be in (0, 1)", r.DetectorKeep)
	}
	d := c.Defense
	switch d.Method {
	case "mcn", "hcnn":
	default:
		bad("defense.method: %q: the adaptive attacks are written for Γ = C_F(HCNN_ξ), method mcn or hcnn", d.Method)
	}
	checkSearch(d, bad)
	if d.Examples != "" {
		bad("defense.examples: the adaptive experiment attacks Γ itself and cannot reuse saved examples")
	}
	a := c.Adaptive
	if a.Iterations < 1 {
		bad("adaptive.iterations: %d must be ≥ 1", a.Iterations)
	}
	if a.Restarts < 1 {
		bad("adaptive.restarts: %d must be ≥ 1", a.Restarts)
	} else if a.Restarts > 1 && !*c.Attack.RandomStart {
		bad("adaptive.restarts: %d restarts need attack.random_start = true", a.Restarts)
	}
	if a.Targets < 0 {
		bad("adaptive.targets: %d must be ≥ 0 (0: every wrong label)", a.Targets)
	}
	names := map[string]bool{PaperAttack: true, AllAttacks: true}
	for i, at := range a.Attacks {
		where := fmt.Sprintf("adaptive.attacks[%d]", i)
		switch {
		case at.Name == "":
			bad("%s.name: missing", where)
		case names[at.Name]:
			bad("%s.name: %q is used twice or reserved (%s, %s)", where, at.Name, PaperAttack, AllAttacks)
		}
		names[at.Name] = true
		if _, ok := objectives[at.Objective]; !ok {
			bad("%s.objective: %q is not margin, target_confidence or neighbourhood", where, at.Objective)
		}
		if _, ok := backwards[at.Backward]; !ok {
			bad("%s.backward: %q is not identity or unrolled", where, at.Backward)
		}
		if at.Samples < 1 {
			bad("%s.samples: %d must be ≥ 1", where, at.Samples)
		} else if at.Samples > 1 && !*d.RandomStart {
			bad("%s.samples: EOT over %d draws needs a random defense (defense.random_start = true)", where, at.Samples)
		}
		if at.Inner < 0 {
			bad("%s.inner: %d must be ≥ 0", where, at.Inner)
		} else if at.Inner > 0 && at.Objective != "neighbourhood" {
			bad("%s.inner: only the neighbourhood objective has an inner search", where)
		}
	}
}

// grid is Embedding's (η, ξ, λ), each at every share kept.
func (adaptive) grid(c *Config, model string) []Setting {
	var out []Setting
	for _, s := range (embedding{}).grid(c, model) {
		for _, k := range c.Reject.Keep {
			s.Keep = k
			out = append(out, s)
		}
	}
	return out
}

func (adaptive) randomPoints() bool { return false }

// adaptiveDefenseKey is the deployed defense and its calibration.
type adaptiveDefenseKey struct {
	Method      string  `json:"method"`
	Xi          float64 `json:"xi"`
	Lambda      float64 `json:"lambda"`
	Norm        string  `json:"norm"`
	Iterations  int     `json:"iterations"`
	RandomStart bool    `json:"random_start,omitempty"`
	Holdout     int     `json:"holdout"`
}

func defenseKeyOf(c *Config, s Setting) adaptiveDefenseKey {
	d := c.Defense
	return adaptiveDefenseKey{d.Method, s.Xi, s.Lambda, d.Norm, d.Iterations, *d.RandomStart, c.Reject.Holdout}
}

// key: everything changes the attacks (they run through the defense and
// aim above P), so the attack key holds it all; the detector's share only
// changes τ, in the defense part.
func (adaptive) key(c *Config, s Setting) (any, any) {
	a := c.Adaptive
	k := struct {
		Paper      pgdKey             `json:"paper"`
		Defense    adaptiveDefenseKey `json:"defense"`
		Keep       float64            `json:"keep"`
		Attacks    []AdaptiveAttack   `json:"attacks"`
		Iterations int                `json:"iterations"`
		Restarts   int                `json:"restarts"`
		Targets    int                `json:"targets"`
		WarmStart  bool               `json:"warm_start"`
	}{newPGDKey(c, s.Eta), defenseKeyOf(c, s), s.Keep, a.Attacks, a.Iterations, a.Restarts, a.Targets, *a.WarmStart}
	return k, struct {
		DetectorKeep float64 `json:"detector_keep"`
	}{c.Reject.DetectorKeep}
}

// defense is Γ's embedding as deployed; its random starts (if any) are
// seeded by the setting's seed, not the attack's.
func (adaptive) defense(c *Config, s Setting) attack.HCNN {
	return attack.HCNN{Xi: s.Xi, Lambda: s.Lambda, Norm: c.Defense.norm(), Iterations: c.Defense.Iterations,
		RandomStart: *c.Defense.RandomStart, Seed: mixSeed(s.Seed, "defense", 0), Batch: c.Engine.Batch}
}

// evaluation returns the paper's attack and the adaptive attacks on Γ at
// the rejection threshold p.
func (q adaptive) evaluation(c *Config, s Setting, p float64, seed uint64, progress attack.Progress) *attack.Evaluation {
	a := c.Adaptive
	ev := &attack.Evaluation{Defense: q.defense(c, s), P: p,
		Paper: attack.MaxConfidence{PGD: attack.PGD{Eps: s.Eta, Iterations: c.Attack.Iterations, Step: c.Attack.Step,
			Restarts: c.Attack.Restarts, RandomStart: *c.Attack.RandomStart, Seed: seed}},
		WarmStart: *a.WarmStart, Batch: c.Engine.Batch, Progress: progress}
	for j, at := range a.Attacks {
		ev.Attacks = append(ev.Attacks, attack.NamedAttack{Name: at.Name, Attack: attack.Adaptive{
			Eps: s.Eta, Iterations: a.Iterations, Restarts: a.Restarts, RandomStart: *c.Attack.RandomStart,
			Objective: objectives[at.Objective], Backward: backwards[at.Backward], Samples: at.Samples,
			Targets: a.Targets, Inner: at.Inner, Seed: mixSeed(seed, "adaptive", j)}})
	}
	return ev
}

// mixSeed derives an independent seed from seed for the named use.
func mixSeed(seed uint64, use string, j int) uint64 {
	b := binary.LittleEndian.AppendUint64(nil, seed)
	b = binary.LittleEndian.AppendUint64(b, uint64(j))
	sum := sha256.Sum256(append(b, use...))
	return binary.LittleEndian.Uint64(sum[:8])
}

func (q adaptive) rowSteps(c *Config, s Setting, m, k int) (int64, error) {
	n, err := q.evaluation(c, s, 0, 0, nil).RowSteps(m, k)
	return int64(n), err
}

// calibrate runs Γ on the held-out points (the defender's natural data)
// through the journal's memo, and returns the thresholds that keep the
// setting's share (P; 0 for keep = 1) and the detector's share (τ) of the
// held-out points Γ classifies correctly.
func (q adaptive) calibrate(ctx context.Context, u *unitRun) (p, tau float64, err error) {
	c, s := u.config, u.setting
	var held []holdoutPoint
	what := fmt.Sprintf("calibrating Γ on %d held-out points", c.Reject.Holdout)
	err = u.memo(what, struct {
		Calibration adaptiveDefenseKey `json:"calibration"`
	}{defenseKeyOf(c, s)}, &held, func() (any, int, error) {
		if len(u.holdout) < c.Reject.Holdout {
			return nil, 0, fmt.Errorf("reject.holdout = %d held-out points, but the test split has %d", c.Reject.Holdout, u.data.Len())
		}
		x, labels := u.data.Batch(nil, u.holdout), u.data.BatchLabels(u.holdout)
		pred, conf, steps, err := cleanDefense(ctx, u, x, labels)
		if err != nil {
			return nil, 0, err
		}
		out := make([]holdoutPoint, len(labels))
		for i := range out {
			out[i] = holdoutPoint{Index: u.holdout[i], Label: labels[i], Pred: pred[i], Conf: conf[i]}
		}
		return out, steps, nil
	})
	if err != nil {
		return 0, 0, err
	}
	var natural []float64
	for _, h := range held {
		if h.Pred == h.Label {
			natural = append(natural, h.Conf)
		}
	}
	if len(natural) == 0 {
		return 0, 0, fmt.Errorf("the defended classifier Γ gets none of the %d held-out points right: no threshold can be fixed", len(held))
	}
	if s.Keep < 1 {
		if p, err = stats.Threshold(natural, s.Keep); err != nil {
			return 0, 0, err
		}
	}
	tau, err = stats.Threshold(natural, c.Reject.DetectorKeep)
	return p, tau, err
}

// cleanDefense returns Γ's prediction and defended confidence on the
// points x, as deployed (P = 0), and the gradient calls made.
func cleanDefense(ctx context.Context, u *unitRun, x []float32, labels []int) ([]int, []float64, int, error) {
	h := adaptive{}.defense(u.config, u.setting)
	n, k := len(labels), u.classes
	pred, conf := make([]int, n), make([]float64, n)
	if h.Xi == 0 {
		logits := make([]float32, n*k)
		if err := u.exec.Logits(logits, x, n); err != nil {
			return nil, nil, 0, err
		}
		for i := range pred {
			conf[i], pred[i] = attack.Confidence(logits[i*k : (i+1)*k])
		}
		return pred, conf, 0, nil
	}
	e, err := h.Run(ctx, u.exec, x)
	if err != nil {
		return nil, nil, 0, err
	}
	for i := range pred {
		pred[i], conf[i] = e.Prediction[i], e.Conf[i*e.Candidates+e.Chosen[i]]
	}
	return pred, conf, e.Steps, nil
}

func (q adaptive) run(ctx context.Context, u *unitRun) (*unitOutput, error) {
	p, tau, err := q.calibrate(ctx, u)
	if err != nil {
		return nil, err
	}
	ev := q.evaluation(u.config, u.setting, p, u.seed, u.progress)
	r, err := ev.Run(ctx, u.exec, u.x, u.labels)
	if err != nil {
		return nil, err
	}
	points := make([]adaptivePoint, len(u.points))
	steps := 0
	for _, s := range r.Steps {
		steps += s
	}
	for i, nat := range u.points {
		pt := adaptivePoint{natural: nat, CleanPred: r.CleanPrediction[i], CleanConf: r.CleanConf[i], P: p, Tau: tau}
		for a := range r.Names {
			pt.Attacks = append(pt.Attacks, adaptiveOutcome{Success: r.Success[a][i], Pred: r.Prediction[a][i], Conf: r.Conf[a][i]})
		}
		points[i] = pt
	}
	return &unitOutput{points: points, steps: steps}, nil
}

// adaptiveNames returns the names of a setting's attacks, in record order.
func adaptiveNames(c *Config) []string {
	names := []string{PaperAttack}
	for _, a := range c.Adaptive.Attacks {
		names = append(names, a.Name)
	}
	return names
}

func (adaptive) report(c *Config, settings []settingBase, raw [][]json.RawMessage) (report, error) {
	points, err := decodePoints[adaptivePoint](raw)
	if err != nil {
		return nil, err
	}
	names := adaptiveNames(c)
	r := &adaptiveReport{points: points, names: names}
	for s, base := range settings {
		pts := points[s]
		res := adaptiveResult{settingBase: base, P: pts[0].P, Tau: pts[0].Tau}
		clean := 0
		for _, pt := range pts {
			if pt.P != res.P || pt.Tau != res.Tau || len(pt.Attacks) != len(names) {
				return nil, fmt.Errorf("experiments: setting %s η=%g: its units disagree on the thresholds or the attacks (journal of another config?)", base.Model, base.Eta)
			}
			if pt.cleanCorrect() {
				clean++
			}
		}
		if res.Clean, err = stats.NewRate(clean, len(pts)); err != nil {
			return nil, err
		}
		for a := range names {
			ar, err := adaptiveMetrics(names[a], pts, a)
			if err != nil {
				return nil, err
			}
			res.Attacks = append(res.Attacks, ar)
		}
		ar, err := adaptiveMetrics(AllAttacks, pts, -1)
		if err != nil {
			return nil, err
		}
		res.Attacks = append(res.Attacks, ar)
		r.results = append(r.results, res)
	}
	return r, nil
}

// cleanCorrect reports Γ right and accepted on the clean point.
func (pt *adaptivePoint) cleanCorrect() bool { return pt.CleanPred == pt.Label && pt.CleanConf >= pt.P }

// robust reports the point robust under attack a (−1: every attack).
func (pt *adaptivePoint) robust(a int) bool {
	if !pt.cleanCorrect() {
		return false
	}
	for j, o := range pt.Attacks {
		if (a < 0 || j == a) && o.Success {
			return false
		}
	}
	return true
}

// adaptiveMetrics returns attack a's metrics on the points (a = −1: the
// union, whose robust accuracy alone is defined).
func adaptiveMetrics(name string, pts []adaptivePoint, a int) (adaptiveAttackResult, error) {
	res := adaptiveAttackResult{Name: name}
	robust := 0
	for i := range pts {
		if pts[i].robust(a) {
			robust++
		}
	}
	var err error
	if res.Robust, err = stats.NewRate(robust, len(pts)); err != nil {
		return res, err
	}
	if a < 0 {
		return res, nil
	}
	natural, adversarial := detectorScores(pts, a)
	if len(natural) > 0 && len(adversarial) > 0 {
		auc, err := stats.AUC(natural, adversarial)
		if err != nil {
			return res, err
		}
		res.AUC = &auc
	}
	det := make([]stats.Detection, len(pts))
	for i, pt := range pts {
		o := pt.Attacks[a]
		det[i] = stats.Detection{Confidence: pt.CleanConf, Correct: pt.CleanPred == pt.Label, AdvConfidence: o.Conf, AdvWrong: o.Pred != pt.Label}
	}
	res.RobustError, err = stats.RobustError(det, pts[0].Tau)
	return res, err
}

// detectorScores returns the defended confidences of the natural points Γ
// classifies correctly and of attack a's points where Γ is wrong.
func detectorScores(pts []adaptivePoint, a int) (natural, adversarial []float64) {
	for _, pt := range pts {
		if pt.CleanPred == pt.Label {
			natural = append(natural, pt.CleanConf)
		}
		if o := pt.Attacks[a]; o.Pred != pt.Label {
			adversarial = append(adversarial, o.Conf)
		}
	}
	return natural, adversarial
}

type adaptiveReport struct {
	results []adaptiveResult
	points  [][]adaptivePoint
	names   []string
}

func (r *adaptiveReport) settingsJSON() any { return r.results }
func (r *adaptiveReport) pointsJSON() any   { return r.points }

func keepLabel(k float64) string { return "keep=" + fmtFloat(k) }

func (r *adaptiveReport) csv(w *csvWriter, c *Config) {
	for _, s := range r.results {
		w.row(s.Setting, keepLabel(s.Keep), "clean accuracy of Γ", s.Clean)
		for _, a := range s.Attacks {
			w.row(s.Setting, keepLabel(s.Keep), "robust accuracy ("+a.Name+")", a.Robust)
		}
		for _, a := range s.Attacks {
			if a.Name != AllAttacks {
				w.row(s.Setting, keepLabel(s.Keep), "robust error at τ ("+a.Name+")", a.RobustError)
			}
		}
	}
}

func (r *adaptiveReport) markdown(b *strings.Builder, c *Config) {
	b.WriteString("Robust accuracy of Γ = C_F(HCNN_ξ) with rejection below P (P fixed on held-out natural points; 1: no rejection), with 95% intervals:\n\n")
	b.WriteString("| model | η | ξ | λ | keep | P | clean |")
	for _, n := range r.names {
		fmt.Fprintf(b, " %s |", n)
	}
	b.WriteString(" all |\n|---|---|---|---|---|---|---|" + strings.Repeat("---|", len(r.names)+1) + "\n")
	for _, s := range r.results {
		fmt.Fprintf(b, "| %s | %.3f | %.3f | %g | %g | %.4f | %s |", s.Model, s.Eta, s.Xi, s.Lambda, s.Keep, s.P, pct(s.Clean))
		for _, a := range s.Attacks {
			fmt.Fprintf(b, " %s |", pct(a.Robust))
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(b, "\nConfidence as a detector: AUC (natural points Γ gets right against the attack's points where Γ is wrong) and the confidence-thresholded robust error at τ, which keeps %g of held-out natural points:\n\n", c.Reject.DetectorKeep)
	b.WriteString("| model | η | ξ | λ | keep | τ | attack | AUC | robust error at τ |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, s := range r.results {
		for _, a := range s.Attacks {
			if a.Name == AllAttacks {
				continue
			}
			auc := "–"
			if a.AUC != nil {
				auc = fmt.Sprintf("%.3f", *a.AUC)
			}
			fmt.Fprintf(b, "| %s | %.3f | %.3f | %g | %g | %.4f | %s | %s | %s |\n", s.Model, s.Eta, s.Xi, s.Lambda, s.Keep, s.Tau, a.Name, auc, pct(a.RobustError))
		}
	}
}

// compare: the paper has no adaptive evaluation.
func (r *adaptiveReport) compare(c *Config, numbers *paper.Numbers, cs *comparisons) error {
	return nil
}

// plots draws, per setting, the ROC curve of confidence as a detector
// under each attack, with τ marked.
func (r *adaptiveReport) plots(dir string, c *Config, numbers *paper.Numbers) error {
	for i, s := range r.results {
		fig := plots.ROCFigure{Title: fmt.Sprintf("%s, η = %.3f, ξ = %.3f, λ = %g, keep %g: confidence as a detector", s.Model, s.Eta, s.Xi, s.Lambda, s.Keep),
			Marks: []float64{s.Tau}}
		for a, name := range r.names {
			natural, adversarial := detectorScores(r.points[i], a)
			if len(natural) == 0 || len(adversarial) == 0 {
				continue
			}
			roc, err := stats.ROC(natural, adversarial)
			if err != nil {
				return err
			}
			fig.Series = append(fig.Series, plots.CurveROC(name, *s.Attacks[a].AUC, roc))
		}
		if len(fig.Series) == 0 {
			continue
		}
		name := fmt.Sprintf("roc-%s-eta%.3f-xi%.3f-lambda%g-keep%g-seed%d", s.Model, s.Eta, s.Xi, s.Lambda, s.Keep, s.Seed)
		if err := allFormats(dir, name, func(path string) error { return plots.ROC(path, fig) }); err != nil {
			return err
		}
	}
	return nil
}
