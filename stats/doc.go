// Package stats computes the statistics the paper reports and the intervals that qualify them.
//
// Four groups of functions:
//
//   - Binomial confidence intervals for k successes in n trials: [ClopperPearson] (exact, from
//     the beta quantile), [Wilson] and [Hoeffding], two-sided; [ClopperPearsonBound] and
//     [HoeffdingBound] give the one-sided bounds.
//   - [Proposition4] bounds the probability q of the bad event B from k of n sampled points the
//     way the paper does (Chebyshev with variance at most 1/4, so Pr[|p̂ − q| ≥ t] ≤ 1/(4nt²)),
//     in exact rationals, with the Clopper–Pearson and Hoeffding bounds beside it.
//   - The metrics of Tables 2–4: [AWPR], [Reject] and [Curve] turn per-point confidences into
//     the adversarially wrong prediction ratio before and after the rejection rule and the
//     recall of natural points, each a [Rate] with a 95% Clopper–Pearson interval; [RankCounts]
//     tallies where the true label falls among the MCN-perturbed points.
//   - Confidence as a detector of adversarial examples: [ROC] and [AUC] (the Mann–Whitney
//     statistic, ties counted one half) from natural and adversarial confidences, [Threshold]
//     (the τ that keeps a share of held-out natural points) and [RobustError], Stutz et al.'s
//     confidence-thresholded robust test error at τ.
//
// The rejection rule is the paper's: a point x is rejected when ||F(x)||∞ < p, so a point
// whose confidence equals p exactly is kept.
//
// Levels are confidence levels in (0, 1), such as 0.95. Functions return an error on bad
// input (n ≤ 0, k outside [0, n], a level outside (0, 1), NaN confidences) and never panic.
// All functions are safe for concurrent use; a [RankCounts] is not.
package stats
