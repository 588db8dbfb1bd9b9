package train

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"confrobust/attack"
	"confrobust/dataset"
	"confrobust/internal/atomicfile"
	"confrobust/internal/job"
	"confrobust/stats"
	"confrobust/tfckpt"
)

// Card is a trained model's card: how it was made and what it measures.
// It is written as CARD.md (people) and card.json (machines).
type Card struct {
	Title       string `json:"title"`
	Fingerprint string `json:"fingerprint"` // of the training and evaluation config
	Finished    string `json:"finished"`    // RFC 3339, UTC

	Data      string `json:"data"`
	TrainSize int    `json:"train_size"`
	Arch      string `json:"arch"`
	Widths    []int  `json:"widths"`
	Variables int    `json:"variables"`
	Floats    int    `json:"floats"`

	Recipe      string  `json:"recipe"`
	Seed        uint64  `json:"seed"`
	Steps       int     `json:"steps"`
	Epochs      float64 `json:"epochs"`
	Batch       int     `json:"batch"`
	Seconds     float64 `json:"training_seconds"`
	FinalLoss   float64 `json:"final_loss"`     // moving average of the last steps' minibatch loss
	FinalTrainA float64 `json:"final_accuracy"` // the same for minibatch accuracy
	Executor    string  `json:"executor"`
	Go          string  `json:"go"`
	GOMAXPROCS  int     `json:"gomaxprocs"`

	Clean Accuracy    `json:"clean"`
	PGD   []PGDResult `json:"pgd"`
	// Strong is the stronger evaluation (eval.strong), when configured.
	Strong []StrongResult `json:"strong,omitempty"`

	Files []FileSum `json:"files"`
	// Config is the config as the run used it (defaults applied).
	Config *Config `json:"config"`
}

// Accuracy is a count of correctly classified test images.
type Accuracy struct {
	Correct int     `json:"correct"`
	Total   int     `json:"total"`
	Rate    float64 `json:"rate"`
}

// PGDResult is the accuracy under one PGD evaluation.
type PGDResult struct {
	Eps         float64  `json:"eps"`
	Iterations  int      `json:"iterations"`
	Step        float64  `json:"step"`
	Restarts    int      `json:"restarts"`
	RandomStart bool     `json:"random_start"`
	Accuracy    Accuracy `json:"accuracy"`
	Seconds     float64  `json:"seconds"`
}

// StrongResult is one row of the stronger evaluation: PGD with restarts on
// one loss at one radius, or (Loss "union") the images robust under PGD-40
// and both losses together.
type StrongResult struct {
	Eps        float64    `json:"eps"`
	Iterations int        `json:"iterations"`
	Restarts   int        `json:"restarts"`
	Loss       string     `json:"loss"`
	Robust     stats.Rate `json:"robust"`
	Seconds    float64    `json:"seconds"`
}

// FileSum is the SHA-256 of one file of the final checkpoint.
type FileSum struct {
	Name   string `json:"name"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

func readCard(c *Config) (*Card, error) {
	data, err := os.ReadFile(filepath.Join(c.Output, "card.json"))
	if err != nil {
		return nil, err
	}
	var card Card
	if err := json.Unmarshal(data, &card); err != nil {
		return nil, err
	}
	return &card, nil
}

// evaluate measures the trained model on the test split and writes the card.
func evaluate(ctx context.Context, c *Config, t *trainer, env Env) (*Card, error) {
	test, err := loadData(c.Data.Set, c.Data.Dir, dataset.Test)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	d, k, B := test.Shape.Size(), test.Classes, c.Engine.Batch
	progress := func(r job.Report) error {
		if env.Progress == nil {
			return nil
		}
		return env.Progress(r)
	}
	card := &Card{Title: c.Title, Fingerprint: c.evalFingerprint(), Data: "MNIST (LeCun et al.), 28×28×1 on [0,1]",
		TrainSize: t.set.Len(), Arch: c.Model.Arch, Widths: c.Model.Widths, Variables: len(t.model.Specs),
		Recipe: recipe(c), Seed: c.Seed, Steps: t.total, Epochs: float64(t.total) / float64(t.perEpoch),
		Batch: c.Train.Batch, Seconds: t.st.Seconds, FinalLoss: t.st.Loss, FinalTrainA: t.st.Accuracy,
		Executor: env.Executor, Go: runtime.Version(), GOMAXPROCS: runtime.GOMAXPROCS(0), Config: c}
	for _, s := range t.model.Specs {
		card.Floats += s.Size()
	}

	// Clean accuracy on the first eval.points test images.
	n := min(c.Eval.Points, test.Len())
	logits := make([]float32, B*k)
	for a := 0; a < n; a += B {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("train: evaluation: %w", err)
		}
		b := min(a+B, n)
		if err := t.exec.Logits(logits[:(b-a)*k], test.Images[a*d:b*d], b-a); err != nil {
			return nil, fmt.Errorf("train: evaluation: %w", err)
		}
		for i := a; i < b; i++ {
			if argmax(logits[(i-a)*k:(i-a+1)*k]) == test.Labels[i] {
				card.Clean.Correct++
			}
		}
		if err := progress(job.Report{Phase: "eval clean", Done: int64(b), Total: int64(n), Unit: "images"}); err != nil {
			return nil, fmt.Errorf("train: evaluation: %w", err)
		}
	}
	card.Clean.Total = n
	card.Clean.Rate = float64(card.Clean.Correct) / float64(n)
	env.Logf("clean accuracy %d/%d = %.2f%%", card.Clean.Correct, n, 100*card.Clean.Rate)

	// PGD accuracy on the first eval.pgd_points test images: an image counts
	// as robust when no iterate of any start is misclassified
	// (attack.KeepConfidentWrong keeps a wrong iterate if there is one).
	m := min(c.Eval.PGDPoints, test.Len())
	xs, labels := test.Images[:m*d], test.Labels[:m]
	for _, eps := range c.Eval.Eps {
		phase := fmt.Sprintf("eval pgd ε=%.3f", eps)
		start := time.Now()
		pgd := attack.PGD{Eps: eps, Iterations: c.Eval.Iterations, Step: c.Eval.Step, Restarts: c.Eval.Restarts,
			RandomStart: *c.Eval.RandomStart, Loss: attack.CrossEntropy, Batch: B, Seed: c.Seed,
			Progress: func(done, total int) error {
				return progress(job.Report{Phase: phase, Done: int64(done), Total: int64(total), Unit: "image-steps"})
			}}
		res, err := pgd.Run(ctx, t.exec, xs, labels, nil)
		if err != nil {
			return nil, fmt.Errorf("train: evaluation at ε=%g: %w", eps, err)
		}
		r := PGDResult{Eps: eps, Iterations: c.Eval.Iterations, Step: c.Eval.Step, Restarts: c.Eval.Restarts,
			RandomStart: *c.Eval.RandomStart, Accuracy: Accuracy{Total: m}, Seconds: time.Since(start).Seconds()}
		for _, w := range res.Wrong {
			if !w {
				r.Accuracy.Correct++
			}
		}
		if m > 0 {
			r.Accuracy.Rate = float64(r.Accuracy.Correct) / float64(m)
		}
		card.PGD = append(card.PGD, r)
		env.Logf("PGD-%d accuracy at ε=%g: %d/%d = %.2f%%", r.Iterations, eps, r.Accuracy.Correct, m, 100*r.Accuracy.Rate)
	}

	if card.Strong, err = strongEval(ctx, c, t, test, progress, env); err != nil {
		return nil, err
	}

	prefix := filepath.Join(c.Output, FinalPrefix)
	for _, p := range []string{tfckpt.IndexPath(prefix), tfckpt.ShardPath(prefix, 0, 1)} {
		sum, err := fileSum(p)
		if err != nil {
			return nil, fmt.Errorf("train: card: %w", err)
		}
		card.Files = append(card.Files, sum)
	}
	card.Finished = time.Now().UTC().Format(time.RFC3339)
	var md strings.Builder
	card.Markdown(&md)
	if err := atomicfile.Write(filepath.Join(c.Output, "CARD.md"), []byte(md.String())); err != nil {
		return nil, fmt.Errorf("train: card: %w", err)
	}
	data, _ := json.MarshalIndent(card, "", "  ")
	if err := atomicfile.Write(filepath.Join(c.Output, "card.json"), append(data, '\n')); err != nil {
		return nil, fmt.Errorf("train: card: %w", err)
	}
	return card, nil
}

// strongEval runs eval.strong: at each radius, PGD-40 (the card's), then
// PGD with restarts on the cross-entropy and on the CW margin, on the first
// eval.strong.points test images; an image is robust under an attack when
// it is classified correctly and no iterate of any start is misclassified,
// and under the union when robust under all three.
func strongEval(ctx context.Context, c *Config, t *trainer, test *dataset.Set, progress func(job.Report) error, env Env) ([]StrongResult, error) {
	st := c.Eval.Strong
	n := min(st.Points, test.Len())
	if n == 0 {
		return nil, nil
	}
	d := test.Shape.Size()
	xs, labels := test.Images[:n*d], test.Labels[:n]
	var out []StrongResult
	for _, eps := range st.Eps {
		robust := make([]bool, n)
		for i := range robust {
			robust[i] = true
		}
		for _, e := range []struct {
			iters, restarts int
			loss            attack.Loss
		}{{c.Eval.Iterations, 1, attack.CrossEntropy}, {st.Iterations, st.Restarts, attack.CrossEntropy}, {st.Iterations, st.Restarts, attack.CWMargin}} {
			phase := fmt.Sprintf("eval PGD-%d × %d %s ε=%.3f", e.iters, e.restarts, e.loss, eps)
			start := time.Now()
			pgd := attack.PGD{Eps: eps, Iterations: e.iters, Step: c.Eval.Step, Restarts: e.restarts, RandomStart: *c.Eval.RandomStart || e.restarts > 1,
				Loss: e.loss, Kappa: 1e30, Batch: c.Engine.Batch, Seed: c.Seed,
				Progress: func(done, total int) error {
					return progress(job.Report{Phase: phase, Done: int64(done), Total: int64(total), Unit: "image-steps"})
				}}
			res, err := pgd.Run(ctx, t.exec, xs, labels, nil)
			if err != nil {
				return nil, fmt.Errorf("train: %s: %w", phase, err)
			}
			k := 0
			for i, w := range res.Wrong {
				robust[i] = robust[i] && !w
				if !w {
					k++
				}
			}
			r := StrongResult{Eps: eps, Iterations: e.iters, Restarts: e.restarts, Loss: e.loss.String(), Seconds: time.Since(start).Seconds()}
			if r.Robust, err = stats.NewRate(k, n); err != nil {
				return nil, err
			}
			out = append(out, r)
			env.Logf("%s: robust %d/%d", phase, k, n)
		}
		k := 0
		for _, r := range robust {
			if r {
				k++
			}
		}
		u := StrongResult{Eps: eps, Loss: "union"}
		var err error
		if u.Robust, err = stats.NewRate(k, n); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}

func fileSum(path string) (FileSum, error) {
	f, err := os.Open(path)
	if err != nil {
		return FileSum{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return FileSum{}, err
	}
	return FileSum{Name: filepath.Base(path), Bytes: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// recipe describes the training in one line.
func recipe(c *Config) string {
	t, a := c.Train, c.Adversarial
	var b strings.Builder
	if a.Method == "pgd" {
		step := a.Step
		if step == 0 {
			step = 2.5 * a.Eps / float64(a.Iterations)
		}
		start := "random start"
		if !*a.RandomStart {
			start = "no random start"
		}
		fmt.Fprintf(&b, "PGD adversarial training on the adversarial examples only: ε = %g, %d steps of %g, %s", a.Eps, a.Iterations, step, start)
		if a.RampEpochs > 0 {
			fmt.Fprintf(&b, ", ε ramped linearly over the first %g epochs", a.RampEpochs)
		}
		b.WriteString("; ")
	} else {
		b.WriteString("natural training; ")
	}
	switch t.Optimizer {
	case "adam":
		fmt.Fprintf(&b, "Adam (lr %g, β1 %g, β2 %g, ε %g)", t.LearningRate, t.Beta1, t.Beta2, t.Epsilon)
	default:
		fmt.Fprintf(&b, "SGD with momentum %g (lr %g)", t.Momentum, t.LearningRate)
	}
	fmt.Fprintf(&b, ", %s schedule, batch %d, mean cross-entropy", t.Schedule, t.Batch)
	return b.String()
}

// Markdown writes the card for people.
func (card *Card) Markdown(w io.Writer) {
	fmt.Fprintf(w, "# Model card: %s\n\n", card.Title)
	fmt.Fprintf(w, "Trained and measured by the harness (`go run ./runner -config ...`, package train).\n\n")
	fmt.Fprintf(w, "| | |\n|---|---|\n")
	if card.TrainSize >= 60000 {
		fmt.Fprintf(w, "| Data | %s; all 60,000 training images |\n", card.Data)
	} else {
		fmt.Fprintf(w, "| Data | %s; the first %d of the 60,000 training images |\n", card.Data, card.TrainSize)
	}
	fmt.Fprintf(w, "| Architecture | Madry et al.'s MNIST CNN (%s), widths conv1 %d, conv2 %d, hidden %d; %d variables (Variable … Variable_%d), %d floats |\n",
		card.Arch, card.Widths[0], card.Widths[1], card.Widths[2], card.Variables, card.Variables-1, card.Floats)
	fmt.Fprintf(w, "| Recipe | %s |\n", card.Recipe)
	fmt.Fprintf(w, "| Seed | %d |\n", card.Seed)
	fmt.Fprintf(w, "| Steps | %d (%.2f epochs of batch %d) |\n", card.Steps, card.Epochs, card.Batch)
	fmt.Fprintf(w, "| Training time | %s on %s, GOMAXPROCS %d, %s |\n",
		time.Duration(card.Seconds*float64(time.Second)).Round(time.Second), card.Executor, card.GOMAXPROCS, card.Go)
	fmt.Fprintf(w, "| Final minibatch loss / accuracy (moving average) | %.4f / %.2f%% |\n", card.FinalLoss, 100*card.FinalTrainA)
	fmt.Fprintf(w, "| Finished | %s |\n\n", card.Finished)
	fmt.Fprintf(w, "## Test accuracy\n\n| Evaluation | Correct | Total | Accuracy |\n|---|---:|---:|---:|\n")
	fmt.Fprintf(w, "| clean | %d | %d | %.2f%% |\n", card.Clean.Correct, card.Clean.Total, 100*card.Clean.Rate)
	for _, r := range card.PGD {
		start := "random start"
		if !r.RandomStart {
			start = "no random start"
		}
		fmt.Fprintf(w, "| PGD-%d, ε = %g, step %g, %s, %d restart(s) | %d | %d | %.2f%% |\n",
			r.Iterations, r.Eps, r.Step, start, r.Restarts, r.Accuracy.Correct, r.Accuracy.Total, 100*r.Accuracy.Rate)
	}
	fmt.Fprintf(w, "\nThe test images are the first ones of the 10,000 of the test split. An image counts as robust when no\n"+
		"PGD iterate of any start is misclassified (cross-entropy ascent, ℓ∞ ball ∩ [0,1]).\n\n")
	if len(card.Strong) > 0 {
		fmt.Fprintf(w, "## Stronger evaluation\n\nPGD-40 beside PGD with random restarts on the cross-entropy and on the CW margin (max_{j≠y} Z_j − Z_y), and the\n"+
			"union (robust under all three), on the first %d test images; 95%% Clopper–Pearson intervals.\n\n", card.Strong[0].Robust.N)
		fmt.Fprintf(w, "| Evaluation | Robust | Total | Accuracy [95%% CI] |\n|---|---:|---:|---:|\n")
		for _, r := range card.Strong {
			name := fmt.Sprintf("PGD-%d × %d restart(s), %s, ε = %g", r.Iterations, r.Restarts, r.Loss, r.Eps)
			if r.Loss == "union" {
				name = fmt.Sprintf("union of the above, ε = %g", r.Eps)
			}
			fmt.Fprintf(w, "| %s | %d | %d | %.1f%% [%.1f, %.1f] |\n", name, r.Robust.K, r.Robust.N, 100*r.Robust.Value, 100*r.Robust.Lo, 100*r.Robust.Hi)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "## Files\n\n| File | Bytes | SHA-256 |\n|---|---:|---|\n")
	for _, f := range card.Files {
		fmt.Fprintf(w, "| %s | %d | %s |\n", f.Name, f.Bytes, f.SHA256)
	}
	fmt.Fprintf(w, "\nThe checkpoint is a TensorFlow V2 bundle with Madry's variable names; `go run ./runner -inspect %s` lists it.\n", FinalPrefix)
}
