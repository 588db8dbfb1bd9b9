package gpucheck

import (
	"context"
	"fmt"
	"math"
	"time"

	"confrobust/attack"
	"confrobust/engine"
)

// Agreement is part 1's outcome for one network.
type Agreement struct {
	Net string `json:"net"`
	// Images is the number of inputs whose logits and input gradients were
	// compared; the differences are max|xla − native| / max|native|.
	Images       int     `json:"images"`
	LogitsRel    float64 `json:"logits_max_rel_diff"`
	InputGradRel float64 `json:"input_grad_max_rel_diff"`
	// Search compares a max-confidence search (MaxConfidence, η = 8/255,
	// one start from x, Iterations steps, every wrong label) on Points
	// inputs: xla float32 against native, and xla bf16 against xla float32.
	Points     int             `json:"points"`
	Iterations int             `json:"iterations"`
	XLA        SearchAgreement `json:"xla_vs_native"`
	BF16       SearchAgreement `json:"bf16_vs_float32"`
	// Precision is the xla executor's (float32 run).
	Executor  string    `json:"executor"`
	Precision string    `json:"precision"`
	Compiles  []Compile `json:"compiles"`
	Seconds   float64   `json:"seconds"`
}

// SearchAgreement counts where two max-confidence searches decide
// differently: the inputs whose outcome (adversarial example found, its
// target, its predicted label) differs, the (input, target) candidates
// whose misclassification differs, and the largest difference of the
// reported confidence ||F(x*)||∞ among inputs with the same outcome.
type SearchAgreement struct {
	Inputs          int     `json:"inputs_differing"`
	Candidates      int     `json:"candidates_differing"`
	CandidatesTotal int     `json:"candidates"`
	Found           [2]int  `json:"found"` // inputs with an adversarial example: reference, other
	MaxConfDiff     float64 `json:"max_conf_diff"`
}

// Agree runs part 1 on every network and writes agreement.json.
func Agree(ctx context.Context, o Options) ([]Agreement, error) {
	nets, err := o.nets()
	if err != nil {
		return nil, err
	}
	var out []Agreement
	for _, n := range nets {
		a, err := o.agree(ctx, n)
		if err != nil {
			return nil, fmt.Errorf("gpucheck: agree %s: %w", n.name, err)
		}
		o.logf("agree %s: logits %.3g, input gradients %.3g; search: %d of %d inputs differ (xla vs native), %d (bf16 vs float32)",
			n.name, a.LogitsRel, a.InputGradRel, a.XLA.Inputs, a.Points, a.BF16.Inputs)
		out = append(out, a)
	}
	return out, o.writeJSON("agreement.json", out)
}

func (o *Options) agree(ctx context.Context, n net) (Agreement, error) {
	start := time.Now()
	g := n.graph
	m, err := randomModel(g, o.Seed)
	if err != nil {
		return Agreement{}, err
	}
	d, k := g.Input.Size(), g.Classes
	rows := o.Points * (k - 1)
	a := Agreement{Net: n.name, Images: 2, Points: o.Points, Iterations: max(o.Steps/2, 1)}
	if n.name == "mnist" {
		a.Images = 8
	}
	nf, err := openNative(rows)
	if err != nil {
		return a, err
	}
	defer nf.Close()
	ne, err := nf.New(m)
	if err != nil {
		return a, err
	}
	defer ne.Close()
	var results [3]*attack.Search // native, xla float32, xla bf16
	x := randomInputs(g, max(o.Points, a.Images), o.Seed+1)
	labels := make([]int, o.Points)
	{
		z := make([]float32, o.Points*k)
		if err := ne.Logits(z, x[:o.Points*d], o.Points); err != nil {
			return a, err
		}
		attack.Confidences(nil, labels, z, o.Points, k)
	}
	search := &attack.MaxConfidence{PGD: attack.PGD{Eps: 8.0 / 255, Iterations: a.Iterations, Batch: rows}}
	// The native search runs on the CPU while xla compiles and runs on the
	// device (distinct executors; the attack itself is safe to share).
	nativeDone := make(chan error, 1)
	go func() {
		var err error
		results[0], err = search.Run(ctx, ne, x[:o.Points*d], labels)
		nativeDone <- err
	}()
	defer func() {
		if nativeDone != nil {
			<-nativeDone
		}
	}()
	for i, prec := range []string{engine.Float32, engine.BF16} {
		f, err := o.openXLA(prec, rows)
		if err != nil {
			return a, err
		}
		xe, err := f.New(m)
		if err != nil {
			f.Close()
			return a, err
		}
		if i == 0 {
			a.Executor, a.Precision = f.Name, f.Precision
			ni := a.Images
			targets := make([]int, ni)
			for j := range targets {
				targets[j] = (j*7 + 3) % k
			}
			loss := engine.TargetLogProb{Targets: targets}
			z1, z2 := make([]float32, ni*k), make([]float32, ni*k)
			g1, g2 := make([]float32, ni*d), make([]float32, ni*d)
			if err := xe.InputGrad(g1, z1, nil, x[:ni*d], ni, loss); err != nil {
				return a, err
			}
			// The native executor is busy with the search: a second one.
			ne2, err := nf.New(m)
			if err != nil {
				return a, err
			}
			err = ne2.InputGrad(g2, z2, nil, x[:ni*d], ni, loss)
			ne2.Close()
			if err != nil {
				return a, err
			}
			a.LogitsRel, a.InputGradRel = maxRelDiff(z1, z2), maxRelDiff(g1, g2)
		}
		if results[i+1], err = search.Run(ctx, xe, x[:o.Points*d], labels); err != nil {
			xe.Close()
			f.Close()
			return a, fmt.Errorf("xla %s search: %w", prec, err)
		}
		a.Compiles = append(a.Compiles, Compile{What: fmt.Sprintf("%s: agreement programs (%s)", n.name, prec), Seconds: compileTime(xe).Seconds()})
		xe.Close()
		f.Close()
	}
	err = <-nativeDone
	nativeDone = nil
	if err != nil {
		return a, fmt.Errorf("native search: %w", err)
	}
	a.XLA = compareSearches(results[0], results[1], o.Points, k)
	a.BF16 = compareSearches(results[1], results[2], o.Points, k)
	a.Seconds = time.Since(start).Seconds()
	return a, nil
}

// compareSearches counts where search b decides differently from a.
func compareSearches(a, b *attack.Search, n, k int) SearchAgreement {
	var s SearchAgreement
	for i := 0; i < n; i++ {
		if a.Wrong[i] {
			s.Found[0]++
		}
		if b.Wrong[i] {
			s.Found[1]++
		}
		if a.Wrong[i] != b.Wrong[i] || a.Target[i] != b.Target[i] || a.Pred[i] != b.Pred[i] {
			s.Inputs++
		} else {
			s.MaxConfDiff = max(s.MaxConfDiff, math.Abs(a.Conf[i]-b.Conf[i]))
		}
	}
	for q := range a.CandWrong { // the true label's slots are false in both
		if a.CandWrong[q] != b.CandWrong[q] {
			s.Candidates++
		}
	}
	s.CandidatesTotal = n * (k - 1)
	return s
}
