package stats

import (
	"fmt"
	"math"
	"slices"
)

// FisherExact returns the two-sided p-value of Fisher's exact test that the
// counts k1 of n1 and k2 of n2 come from one binomial rate: the probability,
// under the hypergeometric law of the 2×2 table with both margins fixed, of
// every table no more likely than the observed one (the rule of R's
// fisher.test and scipy.stats.fisher_exact, with a relative tolerance of
// 1e-7 for ties). Both samples' sampling errors count, so it is the test to
// set a reproduced rate beside a published one.
func FisherExact(k1, n1, k2, n2 int) (float64, error) {
	if n1 < 1 || n2 < 1 || k1 < 0 || k1 > n1 || k2 < 0 || k2 > n2 {
		return 0, fmt.Errorf("stats: Fisher's exact test of %d/%d against %d/%d: want 0 ≤ k ≤ n and n ≥ 1", k1, n1, k2, n2)
	}
	// Table [[k1, n1−k1], [k2, n2−k2]]; x = the top-left cell given the
	// margins: column total c = k1+k2, rows n1 and n2.
	c := k1 + k2
	lo, hi := max(0, c-n2), min(c, n1)
	logP := func(x int) float64 {
		return lchoose(n1, x) + lchoose(n2, c-x) - lchoose(n1+n2, c)
	}
	obs := logP(k1)
	p := 0.0
	for x := lo; x <= hi; x++ {
		if lx := logP(x); lx <= obs+1e-7*math.Abs(obs) || lx <= obs {
			p += math.Exp(lx)
		}
	}
	return min(p, 1), nil
}

// lchoose returns log C(n, k).
func lchoose(n, k int) float64 {
	a, _ := math.Lgamma(float64(n + 1))
	b, _ := math.Lgamma(float64(k + 1))
	c, _ := math.Lgamma(float64(n - k + 1))
	return a - b - c
}

// Holm returns the Holm–Bonferroni adjusted p-values of a family of tests,
// in the order given: with the p-values sorted ascending, the i-th (from 0)
// becomes max over j ≤ i of min(1, (m−j)·p_(j)). Rejecting the tests whose
// adjusted p-value is below α keeps the family-wise error rate at α whatever
// the dependence between the tests.
func Holm(p []float64) []float64 {
	m := len(p)
	order := make([]int, m)
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		switch {
		case p[a] < p[b]:
			return -1
		case p[a] > p[b]:
			return 1
		}
		return 0
	})
	adj := make([]float64, m)
	run := 0.0
	for j, i := range order {
		run = max(run, min(1, float64(m-j)*p[i]))
		adj[i] = run
	}
	return adj
}
