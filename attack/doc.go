// Package attack implements the confidence-aware attacks and defenses of Wu,
// Jang, Chen, Chen and Jha (ICML 2018), "Reinforcing Adversarial Robustness
// using Model Confidence Induced by Adversarial Training", on any
// engine.Executor.
//
// # Methods
//
//   - PGD: Madry et al.'s projected gradient attack, untargeted or targeted,
//     with cross-entropy, target log-probability or CW-margin loss, random
//     starts and restarts, keeping per input the best iterate by a criterion
//     (KeepConfidentWrong, the paper's most confident misclassified point;
//     KeepHighestLoss; KeepLast). Table 4 attacks are targeted PGD runs.
//   - MaxConfidence: the search of Tables 2 and 3 for the most confident
//     adversarial example (one targeted PGD per wrong label, then the most
//     confident misclassified candidate, or none).
//   - CW: the modified Carlini–Wagner ℓ∞ attack of Table 1, which looks for a
//     p-confident adversarial example.
//   - HCNN, MCN, NCN: the embedding defenses of Definitions 3–5, solved per
//     label by Algorithm 1, returning every label's point (Table 4 ranks them),
//     the chosen one and Γ(x) = C_F(HCNN_ξ(x)).
//   - Entropy: the Shannon and α-Rényi surrogates of Section 4.
//   - Adaptive: attacks on the defended classifier Γ itself (and on the rejection rule),
//     which run the defense's search at every step, judge every iterate by Γ and
//     differentiate through the search: BPDA with the identity or the exact 0/1-mask
//     derivative of the unrolled sign search, the defended margin, the Table 2 objective
//     through the defense, or the whole ξ-neighbourhood; EOT over random inner starts.
//     Evaluation sets the paper's attack on Γ beside adaptive ones, input by input.
//   - Reject, Confidence: the rejection rule ||F(x)||∞ < p and the model
//     confidence.
//
// # Threat model
//
// Every search stays in the ℓ∞ ball N(x, η) intersected with the input box
// [0,1]^d, with η on the [0,1] pixel scale: executors take [0,1] inputs and a
// model with another input scale (Madry's CIFAR-10 network reads [0,255])
// scales inside its graph. The interval of each coordinate is computed once,
// rounded inward, so that every returned or queried point z satisfies
// 0 ≤ z ≤ 1 and |z − x| ≤ η exactly.
//
// # Batching and cost
//
// Each method turns its work into rows — an input, or an (input, label) pair
// for MaxConfidence, CW and Algorithm 1 — and hands up to Batch rows to the
// executor per call (0: all rows at once). A PGD-style step costs one
// InputGrad (forward and backward) plus O(rows·(d + classes)) work: the
// InputGrad at z_t also yields the logits on which z_t is judged, so only the
// last iterate of each start needs one more forward pass. Measured on
// Madry's MNIST CNN at batch 50 with engine/native on 2 shared cores: a bare
// InputGrad took 50–77 ms and a PGD step 37–56 ms in interleaved runs (the
// difference is machine noise); the attack's own work alone, measured with
// an executor that computes nothing, is 0.12–0.15 ms per step, about 0.3% of
// the gradient call (BenchmarkInputGradMNIST, BenchmarkPGDStepMNIST,
// BenchmarkPGDOverheadMNIST).
//
// The objectives of the defenses and of CW (F(z)_ℓ, the entropies, the CW
// p-confidence hinge) are package engine's float64 losses, evaluated in Go
// on the logits inside InputGrad, so they cost no extra pass.
//
// # Compiled searches
//
// When the executor implements engine.Searcher (engine/xla), every search
// hands whole chunks of rows to it instead of stepping through InputGrad:
// the steps, the projection and the keep rule run on the device, and only
// the kept points come back. Random restarts become rows of their own, each
// (row, start) pair with its own random stream, so that a chunk holds up to
// Batch (row, start) pairs and the device sees large batches; CW keeps its
// start-by-start chunks (which inputs remain open depends on the previous
// start) and runs each chunk's Adam steps on the device, stopping once every
// input of the chunk has a p-confident point. The kept point of every pair
// is judged again on the host by the same float64 criterion as on the
// InputGrad path and merged into its row in start order, so that both paths
// keep the same points up to float rounding (on GoMLX's pure-Go backend the
// tests find them bit-identical for the sign-step searches). Steps then
// counts the device's batched gradient steps, which differs from the
// InputGrad path's count of calls when restarts are batched or a CW chunk
// stops early. A search the executor does not recognise
// (engine.ErrUnsupported) falls back to InputGrad.
//
// Every result's confidences and predictions come from the plain forward pass
// (Logits, then softmax in float64) on the returned points.
//
// # Limits, progress, cancellation
//
// The methods follow gonum's optimize: every limit is a field whose zero
// value is documented, parameters are checked before any work (a *ParamError
// names the parameter), and the result carries a Status saying why the search
// stopped: IterationLimit (the budget ran out, the normal end of a search
// without a goal), Success (CW: every input has a p-confident point),
// Canceled (ctx, checked before every step), Stopped (the Progress callback
// returned an error) or Failure (the executor failed, or the objective became
// NaN or Inf). On Canceled and Stopped the returned error wraps the cause and
// the partial result is returned with it: Done says how many inputs were
// finished (CW: Found and Conf are those confirmed so far; NCN returns no
// points).
//
// # Determinism and concurrency
//
// Random starts draw from math/rand/v2's PCG seeded with the method's Seed and
// a stream per row and start, keyed to the input's index in the data set
// (FirstInput), so a result depends neither on Batch nor on how the inputs
// are split into calls (except which p-confident point CW returns, which
// depends on the pairs batched together), and the same configuration gives
// the same result bit for bit on the same executor.
// A method value may be used concurrently, but an executor may not: run
// concurrent searches on distinct executors.
package attack
