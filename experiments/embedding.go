package experiments

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"confrobust/attack"
	"confrobust/engine"
	"confrobust/plots"
	"confrobust/results/paper"
	"confrobust/stats"
)

// Embedding is Table 4: targeted PGD adversarial examples, embedded back by
// MCN_ξ (or HCNN, NCN, an entropy surrogate), ranked by confidence.
const Embedding = "embedding"

type embedding struct{}

// embeddingPoint is what the journal and results.json keep of one point.
// Found, AdvConf, AdvPred and Target are unused (false, 0, -1, -1): each
// target's example is in Targets.
type embeddingPoint struct {
	natural
	Found   bool    `json:"found"`
	AdvConf float64 `json:"adv_conf"`
	AdvPred int     `json:"adv_pred"`
	Target  int     `json:"target"`
	// Targets holds the point's adversarial examples, one per wrong label.
	Targets []targetRecord `json:"targets,omitempty"`
}

// targetRecord is one targeted adversarial example and what the defense
// made of it.
type targetRecord struct {
	Target  int     `json:"target"`
	AdvConf float64 `json:"adv_conf"`
	AdvPred int     `json:"adv_pred"`
	// TargetConf is F(x*)_t.
	TargetConf float64 `json:"target_conf"`
	// LabelChange reports C_F(x*) ≠ y; otherwise the attack only reduced
	// the confidence of the true label.
	LabelChange bool `json:"label_change"`
	// Rank is where the true label first appears among the defense's
	// points ranked by confidence (1-based), 0 when it does not.
	Rank int `json:"rank"`
	// Defended is the defense's prediction Γ(x*).
	Defended int `json:"defended"`
}

// embeddingResult is one setting's outcome: where the true label falls
// among the defense's points, split by what the attack did.
type embeddingResult struct {
	settingBase
	LabelChange         stats.RankCounts `json:"label_change"`
	ConfidenceReduction stats.RankCounts `json:"confidence_reduction"`
}

func (embedding) defaults(c *Config) {
	if c.Attack.RandomStart == nil {
		f := false
		c.Attack.RandomStart = &f
	}
	defaultSearch(&c.Defense)
}

// checkSearch checks the keys of the defense's search that Embedding and
// Adaptive share: the radii ξ, the norm, the weights λ and the iterations.
func checkSearch(d DefenseConfig, bad func(string, ...any)) {
	checkRadii(bad, "defense.xi", d.Xi, false)
	switch d.Norm {
	case "linf", "l2":
	default:
		bad("defense.norm: %q is not linf or l2", d.Norm)
	}
	for _, l := range d.Lambda {
		if !(l >= 0) || math.IsInf(l, 0) {
			bad("defense.lambda: %v must be a finite λ ≥ 0", l)
		}
	}
	if d.Method == "mcn" && (len(d.Lambda) != 1 || d.Lambda[0] != 0) {
		bad("defense.lambda: mcn is HCNN with λ = 0; use method = \"hcnn\" for λ > 0")
	}
	if d.Iterations < 1 {
		bad("defense.iterations: %d must be ≥ 1", d.Iterations)
	}
}

// defaultSearch fills in the defaults of the defense's search that
// Embedding and Adaptive share.
func defaultSearch(d *DefenseConfig) {
	if d.Method == "" {
		d.Method = "mcn"
	}
	if len(d.Lambda) == 0 {
		d.Lambda = []float64{0}
	}
	if d.Norm == "" {
		d.Norm = "linf"
	}
}

// norm returns the defense's second norm.
func (d DefenseConfig) norm() attack.Norm {
	if d.Norm == "l2" {
		return attack.L2
	}
	return attack.LInf
}

func (embedding) check(c *Config, bad func(string, ...any)) {
	checkRestarts(c, bad)
	d := c.Defense
	switch d.Method {
	case "mcn", "hcnn", "ncn", "shannon", "renyi":
	default:
		bad("defense.method: %q is not mcn, hcnn, ncn, shannon or renyi", d.Method)
	}
	checkSearch(d, bad)
	if d.Method == "ncn" {
		checkProb(bad, "defense.p", d.P)
	}
	if d.Method == "renyi" && (!(d.Alpha > 0) || d.Alpha == 1) {
		bad("defense.alpha: %v must be > 0 and ≠ 1", d.Alpha)
	}
}

func (embedding) grid(c *Config, model string) []Setting {
	var out []Setting
	for _, eta := range c.Attack.Eta {
		xis := c.Defense.Xi
		if len(xis) == 0 {
			xis = []float64{eta}
		}
		for _, xi := range xis {
			for _, l := range c.Defense.Lambda {
				out = append(out, Setting{Model: model, Eta: eta, Xi: xi, Lambda: l})
			}
		}
	}
	return out
}

func (embedding) randomPoints() bool { return false }

// key: the targeted PGD, then the defense with only the parameters its
// method reads. The attack key is the same for a run that defends saved
// examples (defense.examples) as for the run that made them.
func (embedding) key(c *Config, s Setting) (any, any) {
	d := c.Defense
	def := struct {
		Method     string  `json:"method"`
		Xi         float64 `json:"xi"`
		Lambda     float64 `json:"lambda"`
		Norm       string  `json:"norm,omitempty"`
		Iterations int     `json:"iterations"`
		P          float64 `json:"p,omitempty"`
		Alpha      float64 `json:"alpha,omitempty"`
	}{Method: d.Method, Xi: s.Xi, Lambda: s.Lambda, Iterations: d.Iterations}
	switch d.Method {
	case "hcnn", "ncn":
		def.Norm = d.Norm
	}
	switch d.Method {
	case "ncn":
		def.P = d.P
	case "renyi":
		def.Alpha = d.Alpha
	}
	return newPGDKey(c, s.Eta), def
}

// attack is the targeted PGD that makes one adversarial example per (point,
// wrong label) row.
func (embedding) attack(c *Config, s Setting, seed uint64, progress attack.Progress) attack.PGD {
	return attack.PGD{Eps: s.Eta, Iterations: c.Attack.Iterations, Step: c.Attack.Step, Restarts: c.Attack.Restarts,
		RandomStart: *c.Attack.RandomStart, Loss: attack.TargetLogProb, Keep: attack.KeepHighestLoss,
		Batch: c.Engine.Batch, Seed: seed, Progress: progress}
}

// defense is the search that embeds the adversarial examples back.
type defense interface {
	Run(ctx context.Context, exec engine.Executor, x []float32) (*attack.Embedding, error)
	RowSteps(n, classes int) (int, error)
}

func (embedding) defense(c *Config, s Setting, progress attack.Progress) defense {
	norm := c.Defense.norm()
	b := c.Engine.Batch
	switch c.Defense.Method {
	case "ncn":
		return &attack.NCN{Xi: s.Xi, P: c.Defense.P, Norm: norm, Iterations: c.Defense.Iterations, Batch: b, Progress: progress}
	case "shannon", "renyi":
		kind := attack.Shannon
		if c.Defense.Method == "renyi" {
			kind = attack.Renyi
		}
		return &attack.Entropy{Xi: s.Xi, Kind: kind, Alpha: c.Defense.Alpha, Iterations: c.Defense.Iterations, Batch: b, Progress: progress}
	default: // mcn, hcnn
		return &attack.HCNN{Xi: s.Xi, Lambda: s.Lambda, Norm: norm, Iterations: c.Defense.Iterations, Batch: b, Progress: progress}
	}
}

func (p embedding) rowSteps(c *Config, s Setting, m, k int) (int64, error) {
	rows := m * (k - 1)
	pgd := p.attack(c, s, 0, nil)
	a, err := pgd.RowSteps(rows, k)
	if err != nil {
		return 0, err
	}
	d, err := p.defense(c, s, nil).RowSteps(rows, k)
	return int64(a) + int64(d), err
}

func (p embedding) run(ctx context.Context, u *unitRun) (*unitOutput, error) {
	c := u.config
	m, d, k := len(u.points), len(u.x)/len(u.points), u.classes
	// One row per (point, wrong label), point-major.
	var rows, ys, ts []int
	for i := 0; i < m; i++ {
		for t := 0; t < k; t++ {
			if t != u.labels[i] {
				rows, ys, ts = append(rows, i), append(ys, u.labels[i]), append(ts, t)
			}
		}
	}
	xs := make([]float32, len(rows)*d)
	for r, i := range rows {
		copy(xs[r*d:(r+1)*d], u.x[i*d:(i+1)*d])
	}
	// Progress: the attack is the first share of the unit's planned steps.
	pgd := p.attack(c, u.setting, u.seed, nil)
	attackShare, err := pgd.RowSteps(len(rows), k)
	if err != nil {
		return nil, err
	}
	total, err := p.rowSteps(c, u.setting, m, k)
	if err != nil {
		return nil, err
	}
	scaled := func(off, share int64) attack.Progress {
		return func(done, tot int) error {
			if tot == 0 {
				return nil
			}
			return u.progress(int(off+share*int64(done)/int64(tot)), int(total))
		}
	}
	var a *attack.Result
	if c.Defense.Examples != "" {
		a, err = readExamples(c.Defense.Examples, c.Engine.Batch, u, rows, ts, d)
	} else {
		pgd.Progress = scaled(0, int64(attackShare))
		a, err = pgd.Run(ctx, u.exec, xs, ys, ts)
	}
	if err != nil {
		return nil, err
	}
	emb, err := p.defense(c, u.setting, scaled(int64(attackShare), total-int64(attackShare))).Run(ctx, u.exec, a.X)
	if err != nil {
		return nil, err
	}
	points := make([]embeddingPoint, m)
	for i, nat := range u.points {
		points[i] = embeddingPoint{natural: nat, AdvPred: -1, Target: -1}
	}
	ex := examples{x: a.X}
	for r, i := range rows {
		cands := make([]stats.Prediction, emb.Candidates)
		for j := range cands {
			q := r*emb.Candidates + j
			cands[j] = stats.Prediction{Label: emb.Pred[q], Confidence: emb.Conf[q]}
		}
		rank, err := stats.Rank(cands, ys[r])
		if err != nil {
			return nil, err
		}
		points[i].Targets = append(points[i].Targets, targetRecord{
			Target: ts[r], AdvConf: a.Conf[r], AdvPred: a.Pred[r],
			TargetConf:  attack.Prob(a.Logits[r*k:(r+1)*k], ts[r]),
			LabelChange: a.Pred[r] != ys[r], Rank: rank, Defended: emb.Prediction[r],
		})
		ex.add(u.points[i], ts[r], a.Conf[r])
	}
	return &unitOutput{points: points, steps: a.Steps + emb.Steps, examples: ex}, nil
}

func (embedding) report(c *Config, settings []settingBase, raw [][]json.RawMessage) (report, error) {
	points, err := decodePoints[embeddingPoint](raw)
	if err != nil {
		return nil, err
	}
	r := &embeddingReport{points: points}
	for s, base := range settings {
		sr := embeddingResult{settingBase: base}
		for _, pt := range points[s] {
			for _, t := range pt.Targets {
				dst := &sr.ConfidenceReduction
				if t.LabelChange {
					dst = &sr.LabelChange
				}
				if err := dst.Add(t.Rank); err != nil {
					return nil, err
				}
			}
		}
		r.results = append(r.results, sr)
	}
	return r, nil
}

type embeddingReport struct {
	results []embeddingResult
	points  [][]embeddingPoint
}

func (r *embeddingReport) settingsJSON() any { return r.results }
func (r *embeddingReport) pointsJSON() any   { return r.points }

// splits returns the setting's two columns of Table 4.
func (s *embeddingResult) splits() [2]struct {
	name string
	rc   *stats.RankCounts
} {
	return [2]struct {
		name string
		rc   *stats.RankCounts
	}{{"label change", &s.LabelChange}, {"confidence reduction", &s.ConfidenceReduction}}
}

func (r *embeddingReport) csv(w *csvWriter, c *Config) {
	for i := range r.results {
		s := &r.results[i]
		for _, col := range s.splits() {
			n := col.rc.Total()
			for _, q := range []struct {
				name string
				k    int
			}{{"1st", col.rc.First}, {"2nd", col.rc.Second}, {"other", col.rc.Other}, {"missing", col.rc.Missing}} {
				rate := stats.Rate{K: q.k, N: n}
				if n > 0 {
					rate, _ = stats.NewRate(q.k, n)
				}
				w.row(s.Setting, "", col.name+": "+q.name, rate)
			}
		}
	}
}

func (r *embeddingReport) markdown(b *strings.Builder, c *Config) {
	b.WriteString("| model | η | ξ | λ | split | 1st | 2nd | other | missing | total |\n|---|---|---|---|---|---|---|---|---|---|\n")
	for i := range r.results {
		s := &r.results[i]
		for _, col := range s.splits() {
			fmt.Fprintf(b, "| %s | %.3f | %.3f | %g | %s | %d | %d | %d | %d | %d |\n", s.Model, s.Eta, s.Xi, s.Lambda, col.name,
				col.rc.First, col.rc.Second, col.rc.Other, col.rc.Missing, col.rc.Total())
		}
	}
}

func (r *embeddingReport) compare(c *Config, numbers *paper.Numbers, cs *comparisons) error {
	if c.Paper != "table4" {
		return nil
	}
	for i := range r.results {
		s := &r.results[i]
		row := fmt.Sprintf("%s η=%.3f ξ=%.3f λ=%g", s.Model, s.Eta, s.Xi, s.Lambda)
		why := paperMismatch(c, s.Setting)
		if s.Lambda != 0 {
			why = append(why, fmt.Sprintf("defense.lambda = %g (paper: 0)", s.Lambda))
		}
		var t *paper.Table4
		for j := range numbers.Table4 {
			if near(numbers.Table4[j].Eta, s.Eta) && near(numbers.Table4[j].Xi, s.Xi) {
				t = &numbers.Table4[j]
			}
		}
		if t == nil && len(why) == 0 {
			why = append(why, fmt.Sprintf("η = %g, ξ = %g is not a row of Table 4", s.Eta, s.Xi))
		}
		if len(why) > 0 {
			cs.none(row, why)
			continue
		}
		all := s.LabelChange.Total() + s.ConfidenceReduction.Total()
		paperAll := t.LabelChange.Total + t.ConfidenceReduction.Total
		if err := cs.add(row, row, "label change share", t.LabelChange.Total, paperAll, s.LabelChange.Total(), all); err != nil {
			return err
		}
		for _, col := range []struct {
			name  string
			paper paper.RankCounts
			ours  *stats.RankCounts
		}{{"label change", t.LabelChange, &s.LabelChange}, {"confidence reduction", t.ConfidenceReduction, &s.ConfidenceReduction}} {
			if col.ours.Total() == 0 || col.paper.Total == 0 {
				continue
			}
			for _, q := range []struct {
				name        string
				paper, ours int
			}{{"1st", col.paper.First, col.ours.First}, {"2nd", col.paper.Second, col.ours.Second},
				{"other", col.paper.Other, col.ours.Other}, {"missing", col.paper.Missing, col.ours.Missing}} {
				if err := cs.add(row, row, col.name+": "+q.name, q.paper, col.paper.Total, q.ours, col.ours.Total()); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// plots draws the Table 4 stacked bars.
func (r *embeddingReport) plots(dir string, c *Config, numbers *paper.Numbers) error {
	fig := plots.RankFigure{Title: "Where the true label falls among the defense's points", Percent: true}
	for i := range r.results {
		s := &r.results[i]
		for _, col := range s.splits() {
			fig.Groups = append(fig.Groups, plots.RankGroup{
				Label: fmt.Sprintf("%s η=%.3f ξ=%.3f\n%s", s.Model, s.Eta, s.Xi, col.name),
				First: col.rc.First, Second: col.rc.Second, Other: col.rc.Other, Missing: col.rc.Missing})
		}
	}
	if c.Paper == "table4" {
		// The paper's bars only for the radii where a setting is the paper's.
		for i, t := range numbers.Table4 {
			for j := range r.results {
				s := &r.results[j]
				if near(s.Eta, t.Eta) && near(s.Xi, t.Xi) && s.Lambda == 0 && len(paperMismatch(c, s.Setting)) == 0 {
					fig.Groups = append(fig.Groups, plots.PaperRanks(numbers.Table4[i:i+1])...)
					break
				}
			}
		}
	}
	return allFormats(dir, "ranks", func(path string) error { return plots.Ranks(path, fig) })
}
