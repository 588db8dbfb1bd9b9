package dataset

import (
	"context"
	"fmt"
	"math/bits"
	"math/rand/v2"
)

// sampleStream is the PCG stream (the generator's second seed word) of all
// samples, so that a seed means the same thing everywhere in the project.
const sampleStream = 0x64617461736574 // "dataset"

// permutation yields a seeded random permutation of [0, total) one index at a
// time, by a Fisher–Yates shuffle run lazily from the front: the first n
// indices do not depend on how many more are drawn later.
//
// The random numbers come straight from math/rand/v2's PCG generator (whose
// output is specified: PCG-DXSM with a 128-bit state), bounded by Lemire's
// multiply-and-reject method written out here, so the permutation for a seed
// does not depend on the Go release's rand.Rand helpers.
type permutation struct {
	src *rand.PCG
	a   []int
	i   int // a[:i] is the permutation's prefix drawn so far
}

func newPermutation(seed uint64, total int) *permutation {
	a := make([]int, total)
	for i := range a {
		a[i] = i
	}
	return &permutation{src: rand.NewPCG(seed, sampleStream), a: a}
}

// next returns the next index and false when all total were drawn.
func (p *permutation) next() (int, bool) {
	if p.i >= len(p.a) {
		return 0, false
	}
	j := p.i + int(p.uintn(uint64(len(p.a)-p.i)))
	p.a[p.i], p.a[j] = p.a[j], p.a[p.i]
	p.i++
	return p.a[p.i-1], true
}

// uintn returns a uniform number in [0, n), n > 0 (Lemire, "Fast Random
// Integer Generation in an Interval", 2019).
func (p *permutation) uintn(n uint64) uint64 {
	hi, lo := bits.Mul64(p.src.Uint64(), n)
	if lo < n {
		thresh := -n % n
		for lo < thresh {
			hi, lo = bits.Mul64(p.src.Uint64(), n)
		}
	}
	return hi
}

// Sample returns min(n, total) distinct indices in [0, total), drawn
// uniformly at random without replacement from the given seed: the first
// indices of a seeded random permutation of [0, total), in permutation order.
// The same (seed, total) always gives the same permutation, so Sample(n, …)
// is a prefix of Sample(m, …) for n ≤ m. It returns an empty slice for
// n ≤ 0 or total ≤ 0.
func Sample(n int, seed uint64, total int) []int {
	n = min(n, total)
	if n <= 0 {
		return []int{}
	}
	p := newPermutation(seed, total)
	out := make([]int, n)
	for k := range out {
		out[k], _ = p.next()
	}
	return out
}

// Classifier returns the predicted labels of the n images in x (n·H·W·C
// values, NHWC on [0,1]). It must not keep x, which the caller reuses.
type Classifier func(x []float32, n int) ([]int, error)

// SampleCorrect returns the first n indices of s, in the order of the seeded
// permutation that Sample(·, seed, s.Len()) draws from, whose examples
// classify labels correctly. It classifies the permutation in batches of
// batch examples, stops as soon as it has n, and checks ctx between batches.
// With a classifier that is always right it returns Sample(n, seed, s.Len()).
// It fails if fewer than n examples of s are classified correctly, if
// classify fails or returns the wrong number of labels, or if ctx is done.
func SampleCorrect(ctx context.Context, s *Set, n int, seed uint64, classify Classifier, batch int) ([]int, error) {
	switch {
	case n < 0:
		return nil, fmt.Errorf("dataset: SampleCorrect: n = %d is negative", n)
	case batch <= 0:
		return nil, fmt.Errorf("dataset: SampleCorrect: batch size %d is not positive", batch)
	case classify == nil:
		return nil, fmt.Errorf("dataset: SampleCorrect: no classifier")
	case n > s.Len():
		return nil, fmt.Errorf("dataset: SampleCorrect: want %d correctly classified examples, %s has only %d examples", n, s.Name, s.Len())
	}
	out := make([]int, 0, n)
	p := newPermutation(seed, s.Len())
	idx := make([]int, 0, batch)
	var x []float32
	for len(out) < n {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("dataset: SampleCorrect: stopped after %d of %d examples: %w", len(out), n, err)
		}
		idx = idx[:0]
		for len(idx) < batch {
			i, ok := p.next()
			if !ok {
				break
			}
			idx = append(idx, i)
		}
		if len(idx) == 0 {
			return nil, fmt.Errorf("dataset: SampleCorrect: only %d of the %d examples of %s are classified correctly, want %d",
				len(out), s.Len(), s.Name, n)
		}
		x = s.Batch(x, idx)
		pred, err := classify(x, len(idx))
		if err != nil {
			return nil, fmt.Errorf("dataset: SampleCorrect: classify %d examples of %s: %w", len(idx), s.Name, err)
		}
		if len(pred) != len(idx) {
			return nil, fmt.Errorf("dataset: SampleCorrect: classifier returned %d labels for %d examples", len(pred), len(idx))
		}
		for k, i := range idx {
			if pred[k] == s.Labels[i] {
				out = append(out, i)
				if len(out) == n {
					break
				}
			}
		}
	}
	return out, nil
}
