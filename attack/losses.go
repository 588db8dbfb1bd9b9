package attack

import "confrobust/engine"

// The objectives that no network loss computes (F(z)_ℓ, the entropies, the
// CW p-confidence hinge) are package engine's float64 losses (engine.Prob,
// engine.NegEntropy, engine.ConfidenceHinge): computed in Go from the logits
// the executor hands to Eval during InputGrad, so that a step still costs one
// forward and backward pass, and recognised by executors that compile whole
// searches (engine.Searcher).

// entropy returns the Shannon (alpha == 1) or α-Rényi entropy of softmax(z).
func entropy(p, q []float64, z []float32, alpha float64) float64 {
	return engine.Entropy(p, q, z, alpha)
}
