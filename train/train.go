package train

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"confrobust/attack"
	"confrobust/dataset"
	"confrobust/engine"
	"confrobust/internal/atomicfile"
	"confrobust/internal/job"
	"confrobust/model"
	"confrobust/tfckpt"
)

// Env is what a run needs from its caller: the executor constructor (the
// runner supplies engine/native or engine/xla), progress and a log. Progress
// is told after every training step ("train", steps, with the epoch and the
// exponential moving averages (weight 0.02 per step) of the minibatches'
// loss and accuracy in Detail and Metrics, measured on the adversarial
// examples for adversarial training) and every evaluation batch
// or attack step ("eval clean" in images, "eval pgd ε=0.300" in
// image-steps); an error it returns stops the run (a stop during training
// first writes a checkpoint). Log receives a line per train.log_every steps
// and per checkpoint.
type Env = job.Env

// Files in the output directory.
const (
	// FinalPrefix is the trained model's bundle prefix in the output
	// directory; tfckpt.StateFile ("checkpoint") names it.
	FinalPrefix = "checkpoint"
	stateName   = "train-state.json"
	ckptBase    = "checkpoint-"
	optBase     = "optimizer-"
)

// state is the resumable state of a run, written atomically after the
// bundles of a checkpoint: it is the commit point.
type state struct {
	Fingerprint string  `json:"fingerprint"`
	Step        int     `json:"step"`
	Steps       int     `json:"steps"`
	Checkpoint  string  `json:"checkpoint"`
	Optimizer   string  `json:"optimizer,omitempty"`
	Seconds     float64 `json:"seconds"`
	Loss        float64 `json:"loss"`
	Accuracy    float64 `json:"accuracy"`
	Done        bool    `json:"done"`
	// SHA256 is the hex SHA-256 of the state's JSON with SHA256 empty, so
	// that a damaged state file is never trusted (files written before it
	// existed have none and are read as they are).
	SHA256 string `json:"sha256,omitempty"`
}

// sum returns the SHA-256 of st's JSON with its SHA256 field empty.
func (st state) sum() string {
	st.SHA256 = ""
	data, _ := json.Marshal(st)
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:])
}

// errStop marks a stop requested by the progress callback.
var errStop = errors.New("train: stopped by progress callback")

// Schedule returns the number of steps per epoch and in all for the config
// and a training set of n images.
func (c *Config) Schedule(n int) (perEpoch, total int) {
	if c.Data.Points > 0 {
		n = min(n, c.Data.Points)
	}
	perEpoch = n / c.Train.Batch
	total = c.Train.Epochs * perEpoch
	if c.Train.Steps > 0 {
		total = c.Train.Steps
	}
	return perEpoch, total
}

// Run trains the model the config describes, or resumes it from the output
// directory's last checkpoint, then evaluates it and writes the model card.
// A run that already finished with the same config returns its card without
// work. On cancellation it writes a checkpoint and returns the context's
// error wrapped: rerunning resumes bit-identically.
func Run(ctx context.Context, c *Config, env Env) (*Card, error) {
	if env.NewExecutor == nil {
		return nil, errors.New("train: Env.NewExecutor is nil")
	}
	if err := os.MkdirAll(c.Output, 0o755); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	if card, err := readCard(c); err == nil && card.Fingerprint == c.evalFingerprint() {
		env.Logf("%s: already trained and evaluated (%s)", c.Title, filepath.Join(c.Output, "card.json"))
		return card, nil
	}
	set, err := loadTrain(c)
	if err != nil {
		return nil, err
	}
	t, err := newTrainer(c, set, env)
	if err != nil {
		return nil, err
	}
	defer t.exec.Close()
	if !t.st.Done {
		if err := t.loop(ctx); err != nil {
			return nil, err
		}
	}
	return evaluate(ctx, c, t, env)
}

// loadData loads a split of a data set; tests replace it with a cached
// loader. The sets it returns are only read.
var loadData = dataset.Load

// loadTrain returns the training images: the first data.points of the
// training split, or all of them.
func loadTrain(c *Config) (*dataset.Set, error) {
	set, err := loadData(c.Data.Set, c.Data.Dir, dataset.Train)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	if c.Data.Points > 0 && c.Data.Points < set.Len() {
		idx := make([]int, c.Data.Points)
		for i := range idx {
			idx[i] = i
		}
		set = set.Subset(idx)
	}
	return set, nil
}

// trainer holds a run in progress.
type trainer struct {
	c         *Config
	env       Env
	set       *dataset.Set
	model     *model.Model
	exec      engine.Executor
	opt       *optimizer
	st        state
	perEpoch  int
	total     int
	rampSteps int
}

// newTrainer initializes the model or restores it from the last checkpoint.
func newTrainer(c *Config, set *dataset.Set, env Env) (*trainer, error) {
	perEpoch, total := c.Schedule(set.Len())
	if perEpoch < 1 {
		return nil, fmt.Errorf("train: %d training images make no batch of %d", set.Len(), c.Train.Batch)
	}
	if total < 1 {
		return nil, fmt.Errorf("train: the schedule has no steps")
	}
	t := &trainer{c: c, env: env, set: set, perEpoch: perEpoch, total: total,
		rampSteps: int(math.Round(c.Adversarial.RampEpochs * float64(perEpoch)))}
	model, err := model.NewModel(c.Graph())
	if err != nil {
		return nil, err
	}
	t.model = model
	t.opt = newOptimizer(c.Train, model.Specs)
	fp := c.trainFingerprint()
	t.st = state{Fingerprint: fp, Steps: total}
	data, err := os.ReadFile(filepath.Join(c.Output, stateName))
	switch {
	case errors.Is(err, os.ErrNotExist):
		model.InitRandom(c.Seed)
		madryBiases(model)
	case err != nil:
		return nil, fmt.Errorf("train: %w", err)
	default:
		var st state
		if err := json.Unmarshal(data, &st); err != nil {
			return nil, fmt.Errorf("train: %s: %w (a damaged state file: remove it to train from the last checkpoint's step again, or the directory to start over)", filepath.Join(c.Output, stateName), err)
		}
		if st.SHA256 != "" && st.SHA256 != st.sum() {
			return nil, fmt.Errorf("train: %s does not match its SHA-256: a damaged state file: remove the directory to start over", filepath.Join(c.Output, stateName))
		}
		if st.Fingerprint != fp {
			return nil, fmt.Errorf("train: %s belongs to another training run (fingerprint %s, this config %s): remove the directory or choose another output",
				c.Output, st.Fingerprint, fp)
		}
		if err := t.restore(st); err != nil {
			return nil, err
		}
		t.st = st
		env.Logf("%s: resuming at step %d of %d from %s", c.Title, st.Step, total, filepath.Join(c.Output, st.Checkpoint))
	}
	exec, err := env.NewExecutor(model)
	if err != nil {
		return nil, fmt.Errorf("train: executor: %w", err)
	}
	t.exec = exec
	return t, nil
}

// madryBiases sets the biases to 0.1 as Madry's MNIST model.py initializes
// them (tf.constant(0.1)); weights keep InitRandom's He-normal values (Madry:
// truncated normal with std 0.1).
func madryBiases(m *model.Model) {
	for _, n := range m.Graph.Nodes {
		if n.Bias != "" {
			for i := range m.Params[n.Bias] {
				m.Params[n.Bias][i] = 0.1
			}
		}
	}
}

// restore loads the model and optimizer state that st names.
func (t *trainer) restore(st state) error {
	dir := t.c.Output
	b, err := tfckpt.OpenBundle(filepath.Join(dir, st.Checkpoint))
	if err != nil {
		return fmt.Errorf("train: resume: %w", err)
	}
	err = t.model.Load(b)
	b.Close()
	if err != nil {
		return fmt.Errorf("train: resume: %w", err)
	}
	if st.Done {
		return nil
	}
	step, err := t.opt.load(filepath.Join(dir, st.Optimizer))
	if err != nil {
		return fmt.Errorf("train: resume: %w", err)
	}
	if step != st.Step {
		return fmt.Errorf("train: resume: %s holds step %d, %s says %d", st.Optimizer, step, stateName, st.Step)
	}
	return nil
}

// epochOrder returns the seeded shuffle of epoch e: a permutation drawn from
// the run's seed and the epoch alone, so that a resumed run draws it again.
func (t *trainer) epochOrder(e int) []int {
	n := t.set.Len()
	return dataset.Sample(n, t.c.Seed^(uint64(e+1)*0x9e3779b97f4a7c15), n)
}

// learningRate returns the rate of step s (0-based).
func (t *trainer) learningRate(s int) float64 {
	lr := t.c.Train.LearningRate
	if t.c.Train.Schedule == "cosine" {
		lr *= 0.5 * (1 + math.Cos(math.Pi*float64(s)/float64(t.total)))
	}
	return lr
}

// radius returns the PGD radius of step s (0-based), ramped over rampSteps.
func (t *trainer) radius(s int) float64 {
	eps := t.c.Adversarial.Eps
	if t.rampSteps > 0 && s < t.rampSteps {
		eps *= float64(s+1) / float64(t.rampSteps)
	}
	return eps
}

// loop runs the steps from t.st.Step to t.total.
func (t *trainer) loop(ctx context.Context) error {
	c := t.c
	B, k := c.Train.Batch, t.set.Classes
	grads := map[string][]float32{}
	logits := make([]float32, B*k)
	losses := make([]float32, B)
	var x []float32
	order, orderEpoch := []int(nil), -1
	start := time.Now()
	base := t.st.Seconds
	elapsed := func() float64 { return base + time.Since(start).Seconds() }
	saved := t.st.Step
	first := t.st.Step // the step this process started from, for the rate
	for t.st.Step < t.total {
		s := t.st.Step
		if err := ctx.Err(); err != nil {
			return t.interrupt(ctx.Err(), saved, elapsed())
		}
		epoch, b := s/t.perEpoch, s%t.perEpoch
		if epoch != orderEpoch {
			order, orderEpoch = t.epochOrder(epoch), epoch
		}
		idx := order[b*B : (b+1)*B]
		x = t.set.Batch(x, idx)
		labels := t.set.BatchLabels(idx)
		in := x
		if c.Adversarial.Method == "pgd" {
			eps := t.radius(s)
			step := c.Adversarial.Step
			if step == 0 {
				step = 2.5 * c.Adversarial.Eps / float64(c.Adversarial.Iterations)
			}
			step *= eps / c.Adversarial.Eps
			pgd := attack.PGD{Eps: eps, Iterations: c.Adversarial.Iterations, Step: step,
				RandomStart: *c.Adversarial.RandomStart, Loss: attack.CrossEntropy, Keep: attack.KeepLast,
				Seed: c.Seed, FirstInput: s * B}
			res, err := pgd.Run(ctx, t.exec, x, labels, nil)
			if err != nil {
				if ctx.Err() != nil {
					return t.interrupt(ctx.Err(), saved, elapsed())
				}
				return fmt.Errorf("train: step %d: adversarial examples: %w", s+1, err)
			}
			in = res.X
		}
		if err := t.exec.ParamGrad(grads, logits, losses, in, B, engine.CrossEntropy{Labels: labels}); err != nil {
			return fmt.Errorf("train: step %d: gradient: %w", s+1, err)
		}
		sum, correct := 0.0, 0
		for i := 0; i < B; i++ {
			sum += float64(losses[i])
			if argmax(logits[i*k:(i+1)*k]) == labels[i] {
				correct++
			}
		}
		if math.IsNaN(sum) || math.IsInf(sum, 0) {
			return fmt.Errorf("train: step %d: loss is %v; nothing of this step was saved (last checkpoint: step %d)", s+1, sum, saved)
		}
		t.opt.update(t.model.Params, grads, 1/float32(B), t.learningRate(s), s+1)
		if err := t.exec.Sync(); err != nil {
			return fmt.Errorf("train: step %d: %w", s+1, err)
		}
		t.st.Step++
		loss, acc := sum/float64(B), float64(correct)/float64(B)
		if s == 0 {
			t.st.Loss, t.st.Accuracy = loss, acc
		} else {
			t.st.Loss += 0.02 * (loss - t.st.Loss)
			t.st.Accuracy += 0.02 * (acc - t.st.Accuracy)
		}
		if t.st.Step%c.Train.LogEvery == 0 {
			t.env.Logf("step %d/%d epoch %d: loss %.4f accuracy %.2f%% (%.1f steps/s)", t.st.Step, t.total, epoch+1,
				t.st.Loss, 100*t.st.Accuracy, float64(t.st.Step-first)/max(time.Since(start).Seconds(), 1e-9))
		}
		if t.st.Step%c.Train.CheckpointEvery == 0 && t.st.Step < t.total {
			if err := t.checkpoint(elapsed()); err != nil {
				return err
			}
			saved = t.st.Step
		}
		if t.env.Progress != nil {
			r := job.Report{Phase: "train", Done: int64(t.st.Step), Total: int64(t.total), Unit: "steps",
				Detail:  fmt.Sprintf("epoch %d loss %.4f acc %.2f%%", epoch+1, t.st.Loss, 100*t.st.Accuracy),
				Metrics: map[string]float64{"epoch": float64(epoch + 1), "loss": t.st.Loss, "accuracy": t.st.Accuracy}}
			if err := t.env.Progress(r); err != nil {
				return t.interrupt(fmt.Errorf("%w: %w", errStop, err), saved, elapsed())
			}
		}
	}
	t.st.Seconds = elapsed()
	return t.finish()
}

// interrupt writes a checkpoint of the current step (a consistent state:
// steps are atomic) unless it is already saved, and returns cause wrapped.
func (t *trainer) interrupt(cause error, saved int, seconds float64) error {
	if t.st.Step > saved {
		if err := t.checkpoint(seconds); err != nil {
			return errors.Join(cause, err)
		}
	}
	return fmt.Errorf("train: interrupted at step %d of %d; checkpoint in %s: rerun the same command to resume: %w",
		t.st.Step, t.total, t.c.Output, cause)
}

// checkpoint writes checkpoint-STEP and optimizer-STEP, then the state file
// (the commit point) and TensorFlow's checkpoint state file, then removes
// the periodic checkpoints beyond train.keep.
func (t *trainer) checkpoint(seconds float64) error {
	if err := t.model.Validate(); err != nil {
		return err
	}
	if !finiteParams(t.model) {
		return fmt.Errorf("train: step %d: parameters are NaN or Inf; not saved", t.st.Step)
	}
	dir, step := t.c.Output, strconv.Itoa(t.st.Step)
	ckpt, opt := ckptBase+step, optBase+step
	if err := t.model.Save(filepath.Join(dir, ckpt)); err != nil {
		return fmt.Errorf("train: checkpoint: %w", err)
	}
	if err := t.opt.save(filepath.Join(dir, opt), t.st.Step); err != nil {
		return fmt.Errorf("train: checkpoint: %w", err)
	}
	t.st.Checkpoint, t.st.Optimizer, t.st.Seconds = ckpt, opt, seconds
	if err := t.writeState(); err != nil {
		return err
	}
	if err := tfckpt.WriteCheckpointState(dir, filepath.Join(dir, ckpt)); err != nil {
		return err
	}
	t.env.Logf("step %d/%d: checkpoint %s", t.st.Step, t.total, filepath.Join(dir, ckpt))
	return t.prune(t.c.Train.Keep)
}

// finish saves the final model under FinalPrefix, marks the state done and
// removes the periodic checkpoints.
func (t *trainer) finish() error {
	dir := t.c.Output
	if !finiteParams(t.model) {
		return fmt.Errorf("train: final parameters are NaN or Inf; not saved")
	}
	if err := t.model.Save(filepath.Join(dir, FinalPrefix)); err != nil {
		return fmt.Errorf("train: save: %w", err)
	}
	t.st.Checkpoint, t.st.Optimizer, t.st.Done = FinalPrefix, "", true
	if err := t.writeState(); err != nil {
		return err
	}
	if err := tfckpt.WriteCheckpointState(dir, filepath.Join(dir, FinalPrefix)); err != nil {
		return err
	}
	t.env.Logf("trained %d steps in %s; model %s", t.total, time.Duration(t.st.Seconds*float64(time.Second)).Round(time.Second), filepath.Join(dir, FinalPrefix))
	return t.prune(0)
}

func (t *trainer) writeState() error {
	st := t.st
	st.SHA256 = st.sum()
	data, _ := json.MarshalIndent(st, "", "  ")
	if err := atomicfile.Write(filepath.Join(t.c.Output, stateName), append(data, '\n')); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	return nil
}

// prune removes the files of all periodic checkpoints but the newest keep.
func (t *trainer) prune(keep int) error {
	entries, err := os.ReadDir(t.c.Output)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	steps := map[int][]string{}
	for _, e := range entries {
		name := e.Name()
		for _, base := range []string{ckptBase, optBase} {
			rest, ok := strings.CutPrefix(name, base)
			if !ok {
				continue
			}
			num, _, _ := strings.Cut(rest, ".")
			if n, err := strconv.Atoi(num); err == nil {
				steps[n] = append(steps[n], name)
			}
		}
	}
	var order []int
	for n := range steps {
		order = append(order, n)
	}
	sort.Sort(sort.Reverse(sort.IntSlice(order)))
	for i, n := range order {
		if i < keep {
			continue
		}
		for _, name := range steps[n] {
			if err := os.Remove(filepath.Join(t.c.Output, name)); err != nil {
				return fmt.Errorf("train: %w", err)
			}
		}
	}
	return nil
}

func finiteParams(m *model.Model) bool {
	for _, v := range m.Params {
		for _, x := range v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return false
			}
		}
	}
	return true
}

func argmax(z []float32) int {
	best := 0
	for j, v := range z {
		if v > z[best] {
			best = j
		}
	}
	return best
}
