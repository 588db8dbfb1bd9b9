package train

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"confrobust/engine"
	"confrobust/internal/job"
)

// DryRun prints the schedule of the config and an estimate of its cost from
// timing a few training steps (after one warm-up step) and a few evaluation
// gradient calls on the executor. It writes nothing but w.
func DryRun(ctx context.Context, w io.Writer, c *Config, env Env) error {
	const timed = 5
	set, err := loadTrain(c)
	if err != nil {
		return err
	}
	perEpoch, total := c.Schedule(set.Len())
	fmt.Fprintf(w, "%s: %s\n", c.Title, recipe(c))
	fmt.Fprintf(w, "data: %d training images, %d steps per epoch, %d steps (%.2f epochs); output %s\n",
		set.Len(), perEpoch, total, float64(total)/float64(max(perEpoch, 1)), c.Output)
	tmp, err := os.MkdirTemp("", "train-dry-run")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	probe := *c
	probe.Output = filepath.Join(tmp, "out")
	probe.Train.CheckpointEvery = 1 << 30
	var start time.Time
	perStep := 0.0
	t, err := newTrainer(&probe, set, Env{NewExecutor: env.NewExecutor, Progress: func(r job.Report) error {
		switch r.Done {
		case 1: // the first step warms the executor up
			start = time.Now()
		case 1 + timed:
			perStep = time.Since(start).Seconds() / timed
		}
		return nil
	}})
	if err != nil {
		return err
	}
	defer t.exec.Close()
	t.total = 1 + timed
	if err := t.loop(ctx); err != nil {
		return err
	}

	// Evaluation: PGD costs (iterations+1) gradient-sized calls per image,
	// radius and restart; time InputGrad at the evaluation batch.
	B := c.Engine.Batch
	d, k := set.Shape.Size(), set.Classes
	x := set.Images[:min(B, set.Len())*d]
	n := len(x) / d
	dx, logits := make([]float32, len(x)), make([]float32, n*k)
	loss := engine.CrossEntropy{Labels: set.Labels[:n]}
	if err := t.exec.InputGrad(dx, logits, nil, x, n, loss); err != nil {
		return err
	}
	start = time.Now()
	for i := 0; i < 3; i++ {
		if err := t.exec.InputGrad(dx, logits, nil, x, n, loss); err != nil {
			return err
		}
	}
	perImage := time.Since(start).Seconds() / float64(3*n)
	evalRows := len(c.Eval.Eps) * c.Eval.PGDPoints * c.Eval.Restarts * (c.Eval.Iterations + 1)
	trainSec, evalSec := perStep*float64(total), perImage*float64(evalRows)
	fmt.Fprintf(w, "calibration on %s: %.3f s per training step of batch %d (%.0f images/s), %.0f input gradients/s at batch %d\n",
		env.Executor, perStep, c.Train.Batch, float64(c.Train.Batch)/perStep, 1/perImage, n)
	fmt.Fprintf(w, "estimated time: training %s, evaluation %s (%d PGD image-steps) on this machine\n",
		round(trainSec), round(evalSec), evalRows)
	return nil
}

func round(sec float64) time.Duration {
	return time.Duration(sec * float64(time.Second)).Round(time.Second)
}
