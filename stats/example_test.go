package stats_test

import (
	"fmt"

	"confrobust/stats"
)

// The two bullets of Proposition 4: 26 and 277 of 300 points, level 0.9, half-width 1/10.
func ExampleProposition4() {
	adv, err := stats.Proposition4(26, 300, 0.9, stats.Upper, stats.PaperStep())
	if err != nil {
		fmt.Println(err)
		return
	}
	nat, err := stats.Proposition4(277, 300, 0.9, stats.Lower, stats.PaperStep())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("adv-trained: q ≤ %s (t = %s, failure ≤ %s; Clopper–Pearson %.4f, Hoeffding %.4f)\n",
		adv.Bound.RatString(), adv.T.RatString(), adv.Failure.RatString(), adv.ClopperPearson, adv.Hoeffding)
	fmt.Printf("natural:     q ≥ %s (Clopper–Pearson %.4f, Hoeffding %.4f)\n",
		nat.Bound.RatString(), nat.ClopperPearson, nat.Hoeffding)
	// Output:
	// adv-trained: q ≤ 14/75 (t = 1/10, failure ≤ 1/12; Clopper–Pearson 0.1113, Hoeffding 0.1486)
	// natural:     q ≥ 247/300 (Clopper–Pearson 0.8998, Hoeffding 0.8614)
}

func ExampleReject() {
	outcomes := []stats.Outcome{
		{Confidence: 0.99, Found: true, AdvConfidence: 0.97},
		{Confidence: 0.93, Found: true, AdvConfidence: 0.62},
		{Confidence: 0.97},
		{Confidence: 0.88},
	}
	r, err := stats.Reject(outcomes, 0.95)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("AWPR:          ", r.AWPR)
	fmt.Println("with rejection:", r.AWPRRejection)
	fmt.Println("recall:        ", r.Recall)
	// Output:
	// AWPR:           2/4 = 50.0% [6.8%, 93.2%]
	// with rejection: 1/4 = 25.0% [0.6%, 80.6%]
	// recall:         2/4 = 50.0% [6.8%, 93.2%]
}

// Confidence as a detector: the defender fixes τ on held-out natural points first, then the
// attack's points are scored at that τ.
func ExampleRobustError() {
	heldOut := []float64{0.99, 0.97, 0.95, 0.93, 0.6}
	tau, err := stats.Threshold(heldOut, 0.8) // keep 80% of natural points
	if err != nil {
		fmt.Println(err)
		return
	}
	auc, _ := stats.AUC([]float64{0.99, 0.95, 0.9}, []float64{0.97, 0.7})
	rerr, _ := stats.RobustError([]stats.Detection{
		{Confidence: 0.99, Correct: true, AdvConfidence: 0.97, AdvWrong: true},
		{Confidence: 0.95, Correct: true, AdvConfidence: 0.70, AdvWrong: true},
		{Confidence: 0.90, Correct: true, AdvConfidence: 0.90, AdvWrong: false},
	}, tau)
	fmt.Printf("τ = %v, AUC = %.4f, robust error at τ: %v\n", tau, auc, rerr)
	// Output:
	// τ = 0.93, AUC = 0.6667, robust error at τ: 1/2 = 50.0% [1.3%, 98.7%]
}
