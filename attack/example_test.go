package attack_test

import (
	"context"
	"fmt"
	"log"

	"confrobust/attack"
	"confrobust/engine/native"
	"confrobust/model"
)

// Example runs the paper's three experiments on a small MNIST CNN: the
// Table 2 search for the most confident adversarial example and the
// rejection rule, the Table 1 p-confident CW attack, and the MCN_ξ defense
// of Table 4.
func Example() {
	m, err := model.NewModel(model.MNISTCNN(model.MNISTConfig{Conv1: 4, Conv2: 8, Hidden: 16}))
	if err != nil {
		log.Fatal(err)
	}
	m.InitRandom(1)
	ex, err := native.New(m)
	if err != nil {
		log.Fatal(err)
	}
	defer ex.Close()
	const n, d = 2, 28 * 28
	x := make([]float32, n*d)
	for i := range x {
		x[i] = float32(i%7) / 6
	}
	labels := []int{3, 7}
	ctx := context.Background()

	// Table 2: for each wrong label a targeted PGD (paper: 10 starts × 100
	// iterations), keeping the most confident misclassified candidate.
	mc := &attack.MaxConfidence{PGD: attack.PGD{Eps: 0.03, Iterations: 10, Restarts: 2, RandomStart: true, Seed: 1}}
	s, err := mc.Run(ctx, ex, x, labels)
	if err != nil {
		log.Fatal(err)
	}
	kept := 0 // adversarial examples that survive the rejection rule at p = 0.9
	for i := range labels {
		if s.Wrong[i] && !attack.Reject(s.Conf[i], 0.9) {
			kept++
		}
	}
	_ = kept // AWPR after rejection: kept / n
	fmt.Println("max-confidence search:", s.Status)

	// Table 1: a p-confident CW attack within η = δ = 0.03.
	cw := &attack.CW{Eps: 0.03, P: 0.9, Iterations: 20, Restarts: 2, Seed: 1}
	c, err := cw.Run(ctx, ex, x, labels)
	if err != nil {
		log.Fatal(err)
	}
	_ = c.Found // Found[i]: F(x')_{y'} ≥ 0.9 for some y' ≠ labels[i]

	// Table 4: MCN_ξ, one search per label, ranked by confidence.
	e, err := attack.MCN(0.03, 20).Run(ctx, ex, x)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("MCN:", e.Candidates, "points per input,", e.Status)
	_ = e.Prediction // Γ(x) = C_F(MCN_ξ(x))
	// Output:
	// max-confidence search: iteration limit
	// MCN: 10 points per input, iteration limit
}
