package experiments

import (
	"context"
	"encoding/binary"
	"fmt"
	"path/filepath"

	"confrobust/attack"
	"confrobust/dataset"
	"confrobust/engine"
	"confrobust/stats"
	"confrobust/tfmodel"
)

// unitRecord is what the journal keeps of one finished unit.
type unitRecord struct {
	Unit    int           `json:"unit"`
	Setting int           `json:"setting"`
	Steps   int           `json:"steps"`
	Points  []pointRecord `json:"points"`
}

// pointRecord is one test point of a unit.
type pointRecord struct {
	// Index is the point's index in the test split; Label its true label;
	// Conf and Pred the model's confidence ||F(x)||∞ and prediction on it.
	Index int     `json:"index"`
	Label int     `json:"label"`
	Conf  float64 `json:"conf"`
	Pred  int     `json:"pred"`
	// Found reports an adversarial point: Separation, a wrong label of
	// confidence ≥ p; Rejection, a misclassified point. AdvConf, AdvPred and
	// Target describe it (Separation: the wrong label's confidence and the
	// label; Rejection: ||F(x*)||∞, C_F(x*) and the target whose search
	// produced it).
	Found   bool    `json:"found"`
	AdvConf float64 `json:"adv_conf"`
	AdvPred int     `json:"adv_pred"`
	Target  int     `json:"target"`
	// Targets holds the Embedding experiment's nine adversarial examples.
	Targets []targetRecord `json:"targets,omitempty"`
}

// targetRecord is one targeted adversarial example of the Embedding
// experiment and what the defense made of it.
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

// unitWork runs one unit.
type unitWork struct {
	plan     *Plan
	unit     unit
	setting  Setting
	data     *dataset.Set
	exec     engine.Executor
	points   []int
	seed     uint64
	progress attack.Progress
}

func (w *unitWork) run(ctx context.Context) (*unitRecord, error) {
	c := w.plan.Config
	x := w.data.Batch(nil, w.points)
	labels := w.data.BatchLabels(w.points)
	m, k := len(w.points), w.exec.Model().Graph.Classes
	rec := &unitRecord{Unit: w.unit.ID, Setting: w.unit.Setting, Points: make([]pointRecord, m)}
	logits := make([]float32, m*k)
	if err := w.exec.Logits(logits, x, m); err != nil {
		return nil, err
	}
	for i := range rec.Points {
		conf, pred := attack.Confidence(logits[i*k : (i+1)*k])
		rec.Points[i] = pointRecord{Index: w.points[i], Label: labels[i], Conf: conf, Pred: pred, AdvPred: -1, Target: -1}
	}
	var adv []float32
	var err error
	switch c.Experiment {
	case Separation:
		adv, err = w.separation(ctx, rec, x, labels)
	case Rejection:
		adv, err = w.rejection(ctx, rec, x, labels)
	case Embedding:
		adv, err = w.embedding(ctx, rec, x, labels)
	}
	if err != nil {
		return nil, err
	}
	if err := w.saveExamples(rec, adv); err != nil {
		return nil, err
	}
	return rec, nil
}

// separation is Table 1: the modified CW-ℓ∞ attack looks for a wrong label
// of confidence ≥ p within η.
func (w *unitWork) separation(ctx context.Context, rec *unitRecord, x []float32, labels []int) ([]float32, error) {
	c := w.plan.Config
	cw := attack.CW{Eps: w.setting.Eta, P: c.Attack.P, Iterations: c.Attack.Iterations, Restarts: c.Attack.Restarts,
		LearningRate: c.Attack.LearningRate, Batch: c.Engine.Batch, Seed: w.seed, Progress: w.progress}
	r, err := cw.Run(ctx, w.exec, x, labels)
	if err != nil {
		return nil, err
	}
	rec.Steps = r.Steps
	for i := range rec.Points {
		p := &rec.Points[i]
		p.Found, p.AdvConf, p.AdvPred = r.Found[i], r.Conf[i], r.Label[i]
	}
	return r.X, nil
}

// rejection is Tables 2 and 3: the most confident adversarial example of
// each point, from a targeted PGD per wrong label.
func (w *unitWork) rejection(ctx context.Context, rec *unitRecord, x []float32, labels []int) ([]float32, error) {
	c := w.plan.Config
	mc := attack.MaxConfidence{PGD: attack.PGD{Eps: w.setting.Eta, Iterations: c.Attack.Iterations, Step: c.Attack.Step,
		Restarts: c.Attack.Restarts, RandomStart: *c.Attack.RandomStart, Batch: c.Engine.Batch, Seed: w.seed, Progress: w.progress}}
	r, err := mc.Run(ctx, w.exec, x, labels)
	if err != nil {
		return nil, err
	}
	rec.Steps = r.Steps
	for i := range rec.Points {
		p := &rec.Points[i]
		p.Found = r.Wrong[i]
		if p.Found {
			p.AdvConf, p.AdvPred, p.Target = r.Conf[i], r.Pred[i], r.Target[i]
		}
	}
	return r.X, nil
}

// embedding is Table 4: a targeted PGD per wrong label raises the target's
// confidence; the defense then embeds each adversarial example, and the
// true label's rank among its points is counted.
func (w *unitWork) embedding(ctx context.Context, rec *unitRecord, x []float32, labels []int) ([]float32, error) {
	c := w.plan.Config
	m, d, k := len(labels), w.data.Shape.Size(), w.exec.Model().Graph.Classes
	var rows []int
	var ys, ts []int
	for i := 0; i < m; i++ {
		for t := 0; t < k; t++ {
			if t != labels[i] {
				rows, ys, ts = append(rows, i), append(ys, labels[i]), append(ts, t)
			}
		}
	}
	xs := make([]float32, len(rows)*d)
	for r, i := range rows {
		copy(xs[r*d:(r+1)*d], x[i*d:(i+1)*d])
	}
	// Progress: the attack is the first share of the unit's planned steps.
	total := w.plan.rowSteps(m)
	attackShare := int64(m) * int64(k-1) * int64(c.Attack.Iterations) * int64(c.Attack.Restarts)
	scaled := func(off, share int64) attack.Progress {
		return func(done, tot int) error {
			if tot == 0 {
				return nil
			}
			return w.progress(int(off+share*int64(done)/int64(tot)), int(total))
		}
	}
	var a *attack.Result
	var err error
	if c.Defense.Examples != "" {
		a, err = w.savedExamples(rows, ts, len(xs)/len(rows))
	} else {
		pgd := attack.PGD{Eps: w.setting.Eta, Iterations: c.Attack.Iterations, Step: c.Attack.Step, Restarts: c.Attack.Restarts,
			RandomStart: *c.Attack.RandomStart, Loss: attack.TargetLogProb, Keep: attack.KeepHighestLoss,
			Batch: c.Engine.Batch, Seed: w.seed, Progress: scaled(0, attackShare)}
		a, err = pgd.Run(ctx, w.exec, xs, ys, ts)
	}
	if err != nil {
		return nil, err
	}
	emb, err := w.defend(ctx, a.X, scaled(attackShare, total-attackShare))
	if err != nil {
		return nil, err
	}
	rec.Steps = a.Steps + emb.Steps
	for r, i := range rows {
		p := &rec.Points[i]
		cands := make([]stats.Prediction, emb.Candidates)
		for j := range cands {
			q := r*emb.Candidates + j
			cands[j] = stats.Prediction{Label: emb.Pred[q], Confidence: emb.Conf[q]}
		}
		rank, err := stats.Rank(cands, ys[r])
		if err != nil {
			return nil, err
		}
		p.Targets = append(p.Targets, targetRecord{
			Target: ts[r], AdvConf: a.Conf[r], AdvPred: a.Pred[r],
			TargetConf:  attack.Prob(a.Logits[r*k:(r+1)*k], ts[r]),
			LabelChange: a.Pred[r] != ys[r], Rank: rank, Defended: emb.Prediction[r],
		})
	}
	return a.X, nil
}

// savedExamples reads this unit's adversarial examples from the examples
// directory of an earlier Embedding run (see saveExamples), checks that they
// belong to the same points and targets, and evaluates them with the plain
// forward pass.
func (w *unitWork) savedExamples(rows, targets []int, d int) (*attack.Result, error) {
	prefix := filepath.Join(w.plan.Config.Defense.Examples, fmt.Sprintf("unit-%06d", w.unit.ID))
	b, err := tfmodel.OpenBundle(prefix)
	if err != nil {
		return nil, fmt.Errorf("saved examples: %w", err)
	}
	defer b.Close()
	x := make([]float32, len(rows)*d)
	if err := b.ReadFloat32(x, "x"); err != nil {
		return nil, fmt.Errorf("saved examples %s: %w", prefix, err)
	}
	for _, key := range []string{"index", "target"} {
		t, err := b.Tensor(key)
		if err != nil {
			return nil, fmt.Errorf("saved examples %s: %w", prefix, err)
		}
		v, err := t.Int64s()
		if err != nil || len(v) != len(rows) {
			return nil, fmt.Errorf("saved examples %s: %s holds %d values, want %d int64s", prefix, key, len(v), len(rows))
		}
		for r := range rows {
			want := targets[r]
			if key == "index" {
				want = w.points[rows[r]]
			}
			if v[r] != int64(want) {
				return nil, fmt.Errorf("saved examples %s: row %d has %s %d, this run needs %d: they were made by a run with other data, points or unit_points", prefix, r, key, v[r], want)
			}
		}
	}
	k := w.exec.Model().Graph.Classes
	a := &attack.Result{X: x, Logits: make([]float32, len(rows)*k), Conf: make([]float64, len(rows)), Pred: make([]int, len(rows))}
	for lo := 0; lo < len(rows); lo += w.plan.Config.Engine.Batch {
		hi := min(lo+w.plan.Config.Engine.Batch, len(rows))
		if err := w.exec.Logits(a.Logits[lo*k:hi*k], x[lo*d:hi*d], hi-lo); err != nil {
			return nil, err
		}
	}
	for r := range rows {
		a.Conf[r], a.Pred[r] = attack.Confidence(a.Logits[r*k : (r+1)*k])
	}
	return a, nil
}

// defend runs the config's embedding defense on the adversarial examples.
func (w *unitWork) defend(ctx context.Context, xs []float32, progress attack.Progress) (*attack.Embedding, error) {
	c := w.plan.Config
	norm := attack.LInf
	if c.Defense.Norm == "l2" {
		norm = attack.L2
	}
	s, b := w.setting, c.Engine.Batch
	switch c.Defense.Method {
	case "ncn":
		a := attack.NCN{Xi: s.Xi, P: c.Defense.P, Norm: norm, Iterations: c.Defense.Iterations, Batch: b, Progress: progress}
		return a.Run(ctx, w.exec, xs)
	case "shannon", "renyi":
		kind := attack.Shannon
		if c.Defense.Method == "renyi" {
			kind = attack.Renyi
		}
		a := attack.Entropy{Xi: s.Xi, Kind: kind, Alpha: c.Defense.Alpha, Iterations: c.Defense.Iterations, Batch: b, Progress: progress}
		return a.Run(ctx, w.exec, xs)
	default: // mcn, hcnn
		a := attack.HCNN{Xi: s.Xi, Lambda: s.Lambda, Norm: norm, Iterations: c.Defense.Iterations, Batch: b, Progress: progress}
		return a.Run(ctx, w.exec, xs)
	}
}

// saveExamples writes the unit's adversarial examples as a tensor bundle
// examples/unit-NNNNNN: "x" [rows, H, W, C] float32 (the points as the
// attack returned them; for a point with none found, the attack's best
// try), "index", "label", "target" int64 [rows] and "conf" float32 [rows]
// (||F(x*)||∞). Rejection and Separation have one row per point, Embedding
// one per (point, target) pair in point-major order.
func (w *unitWork) saveExamples(rec *unitRecord, adv []float32) error {
	var index, label, target []int64
	var conf []float32
	for _, p := range rec.Points {
		if len(p.Targets) == 0 {
			index, label, target = append(index, int64(p.Index)), append(label, int64(p.Label)), append(target, int64(p.Target))
			conf = append(conf, float32(p.AdvConf))
			continue
		}
		for _, t := range p.Targets {
			index, label, target = append(index, int64(p.Index)), append(label, int64(p.Label)), append(target, int64(t.Target))
			conf = append(conf, float32(t.AdvConf))
		}
	}
	sh := w.data.Shape
	prefix := filepath.Join(examplesDir(w.plan.Config), fmt.Sprintf("unit-%06d", w.unit.ID))
	bw, err := tfmodel.CreateBundle(prefix)
	if err != nil {
		return err
	}
	n := len(index)
	err = bw.AddFloat32("x", []int{n, sh[0], sh[1], sh[2]}, adv)
	for _, t := range []struct {
		key string
		v   []int64
	}{{"index", index}, {"label", label}, {"target", target}} {
		if err == nil {
			err = bw.Add(t.key, int64Tensor(t.v))
		}
	}
	if err == nil {
		err = bw.AddFloat32("conf", []int{n}, conf)
	}
	if cerr := bw.Close(); err == nil {
		err = cerr
	}
	return err
}

func int64Tensor(v []int64) *tfmodel.Tensor {
	t := &tfmodel.Tensor{DType: tfmodel.DTInt64, Shape: []int{len(v)}, Data: make([]byte, 8*len(v))}
	for i, x := range v {
		binary.LittleEndian.PutUint64(t.Data[8*i:], uint64(x))
	}
	return t
}
