package train

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"confrobust/model"
	"confrobust/tfckpt"
)

// optimizer updates a model's parameters from their gradients and keeps its
// slots (Adam's moments, the momentum accumulators) under TensorFlow's slot
// names, so that its state can be saved in a bundle and restored exactly.
type optimizer struct {
	kind                  string // "adam" or "momentum"
	beta1, beta2, epsilon float64
	momentum              float64
	specs                 []model.ParamSpec
	// slots[name][0] is Adam's m or the momentum accumulator, slots[name][1]
	// Adam's v.
	slots map[string][2][]float32
}

func newOptimizer(t LoopConfig, specs []model.ParamSpec) *optimizer {
	o := &optimizer{kind: t.Optimizer, beta1: t.Beta1, beta2: t.Beta2, epsilon: t.Epsilon,
		momentum: t.Momentum, specs: specs, slots: map[string][2][]float32{}}
	for _, s := range specs {
		var sl [2][]float32
		sl[0] = make([]float32, s.Size())
		if o.kind == "adam" {
			sl[1] = make([]float32, s.Size())
		}
		o.slots[s.Name] = sl
	}
	return o
}

// slotNames returns the bundle keys of a parameter's slots, TensorFlow's:
// "Variable/Adam" (m) and "Variable/Adam_1" (v), or "Variable/Momentum".
func (o *optimizer) slotNames(name string) []string {
	if o.kind == "adam" {
		return []string{name + "/Adam", name + "/Adam_1"}
	}
	return []string{name + "/Momentum"}
}

// update applies step t (1-based) with learning rate lr to params, the
// gradients being scale·grads (scale turns a summed loss into a mean).
//
// Adam is TensorFlow's: lr_t = lr·sqrt(1−β2^t)/(1−β1^t), m ← β1·m + (1−β1)·g,
// v ← β2·v + (1−β2)·g², θ ← θ − lr_t·m/(sqrt(v) + ε). Momentum is
// TensorFlow's MomentumOptimizer: a ← μ·a + g, θ ← θ − lr·a. The arithmetic is
// float32, in a fixed order, so that the same inputs give the same bits.
func (o *optimizer) update(params, grads map[string][]float32, scale float32, lr float64, t int) {
	switch o.kind {
	case "adam":
		lrt := float32(lr * math.Sqrt(1-math.Pow(o.beta2, float64(t))) / (1 - math.Pow(o.beta1, float64(t))))
		b1, b2, eps := float32(o.beta1), float32(o.beta2), float32(o.epsilon)
		for _, s := range o.specs {
			p, g, sl := params[s.Name], grads[s.Name], o.slots[s.Name]
			m, v := sl[0], sl[1]
			for i := range p {
				gi := g[i] * scale
				m[i] = b1*m[i] + (1-b1)*gi
				v[i] = b2*v[i] + (1-b2)*gi*gi
				p[i] -= lrt * m[i] / (float32(math.Sqrt(float64(v[i]))) + eps)
			}
		}
	default:
		mu, rate := float32(o.momentum), float32(lr)
		for _, s := range o.specs {
			p, g, a := params[s.Name], grads[s.Name], o.slots[s.Name][0]
			for i := range p {
				a[i] = mu*a[i] + g[i]*scale
				p[i] -= rate * a[i]
			}
		}
	}
}

// globalStepKey is the bundle key of the number of steps taken, TensorFlow's.
const globalStepKey = "global_step"

// save writes the optimizer's slots and the global step as a bundle.
func (o *optimizer) save(prefix string, step int) error {
	w, err := tfckpt.CreateBundle(prefix)
	if err != nil {
		return err
	}
	var data [8]byte
	binary.LittleEndian.PutUint64(data[:], uint64(step))
	if err := w.Add(globalStepKey, &tfckpt.Tensor{DType: tfckpt.DTInt64, Data: data[:]}); err != nil {
		w.Abort()
		return err
	}
	for _, s := range o.specs {
		for k, key := range o.slotNames(s.Name) {
			if err := w.AddFloat32(key, s.Shape, o.slots[s.Name][k]); err != nil {
				w.Abort()
				return err
			}
		}
	}
	return w.Close()
}

// load restores the slots saved by save and returns the global step.
func (o *optimizer) load(prefix string) (int, error) {
	b, err := tfckpt.OpenBundle(prefix)
	if err != nil {
		return 0, err
	}
	defer b.Close()
	t, err := b.Tensor(globalStepKey)
	if err != nil {
		return 0, err
	}
	steps, err := t.Int64s()
	if err != nil || len(steps) != 1 {
		return 0, fmt.Errorf("train: %s: %s is not one int64: %v", prefix, globalStepKey, err)
	}
	for _, s := range o.specs {
		for k, key := range o.slotNames(s.Name) {
			e, err := b.Lookup(key)
			if err != nil {
				return 0, fmt.Errorf("train: %s: %w", prefix, err)
			}
			if e.DType != tfckpt.DTFloat || !slices.Equal(e.Shape, s.Shape) {
				return 0, fmt.Errorf("train: %s: slot %s is %s %v, want float32 %v", prefix, key, e.DType, e.Shape, s.Shape)
			}
			if err := b.ReadFloat32(o.slots[s.Name][k], key); err != nil {
				return 0, err
			}
		}
	}
	return int(steps[0]), nil
}
