package dataset

import (
	"fmt"
)

// Split names one part of a data set: the training or the test examples.
type Split int

// The splits every loader knows.
const (
	Train Split = iota
	Test
)

// String returns "train" or "test".
func (s Split) String() string {
	switch s {
	case Train:
		return "train"
	case Test:
		return "test"
	}
	return fmt.Sprintf("split(%d)", int(s))
}

// Shape is the shape [H, W, C] of one image.
type Shape [3]int

// Size returns H·W·C.
func (s Shape) Size() int { return s[0] * s[1] * s[2] }

// Set is a labelled set of images held in memory: Len() examples of shape
// Shape ([H, W, C]) stored one after the other in NHWC order, float32 on the
// [0,1] pixel scale (byte value / 255), with integer labels in [0, Classes).
type Set struct {
	Name    string    // for messages, e.g. "mnist-test"
	Shape   Shape     // one image: [H, W, C]
	Classes int       // labels lie in [0, Classes)
	Images  []float32 // Len()·H·W·C values
	Labels  []int     // one per image
}

// Len returns the number of examples.
func (s *Set) Len() int { return len(s.Labels) }

// Image returns the H·W·C values of example i. The slice shares memory with
// s.Images: writing to it changes the set. It panics if i is out of range.
func (s *Set) Image(i int) []float32 {
	size := s.Shape.Size()
	return s.Images[i*size : (i+1)*size : (i+1)*size]
}

// Batch copies the images of the examples idx, in that order, into dst
// (grown if shorter than len(idx)·H·W·C) and returns dst resliced to exactly
// that length. It panics if an index is out of range.
func (s *Set) Batch(dst []float32, idx []int) []float32 {
	size := s.Shape.Size()
	n := len(idx) * size
	if cap(dst) < n {
		dst = make([]float32, n)
	}
	dst = dst[:n]
	for k, i := range idx {
		copy(dst[k*size:(k+1)*size], s.Image(i))
	}
	return dst
}

// BatchLabels returns the labels of the examples idx, in that order, in a new
// slice. It panics if an index is out of range.
func (s *Set) BatchLabels(idx []int) []int {
	out := make([]int, len(idx))
	for k, i := range idx {
		out[k] = s.Labels[i]
	}
	return out
}

// Subset returns a new set holding copies of the examples idx, in that order
// (an index may repeat). It shares no memory with s. It panics if an index is
// out of range.
func (s *Set) Subset(idx []int) *Set {
	return &Set{
		Name:    s.Name,
		Shape:   s.Shape,
		Classes: s.Classes,
		Images:  s.Batch(nil, idx),
		Labels:  s.BatchLabels(idx),
	}
}

// Validate checks that the set is consistent: a positive shape and class
// count, len(Images) = Len()·H·W·C, and every label in [0, Classes).
func (s *Set) Validate() error {
	if s.Shape[0] <= 0 || s.Shape[1] <= 0 || s.Shape[2] <= 0 {
		return fmt.Errorf("dataset: set %s: bad image shape %v", s.Name, s.Shape)
	}
	if s.Classes <= 0 {
		return fmt.Errorf("dataset: set %s: %d classes", s.Name, s.Classes)
	}
	if want := s.Len() * s.Shape.Size(); len(s.Images) != want {
		return fmt.Errorf("dataset: set %s: %d image values, want %d for %d images of shape %v",
			s.Name, len(s.Images), want, s.Len(), s.Shape)
	}
	for i, l := range s.Labels {
		if l < 0 || l >= s.Classes {
			return fmt.Errorf("dataset: set %s: label %d of example %d outside [0, %d)", s.Name, l, i, s.Classes)
		}
	}
	return nil
}

// pixelScale maps a byte to the [0,1] pixel scale.
var pixelScale = func() (t [256]float32) {
	for i := range t {
		t[i] = float32(i) / 255
	}
	return t
}()
