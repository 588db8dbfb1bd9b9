package model

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"confrobust/tfckpt"
)

// LoadModel returns the model of g with its variables read from the
// checkpoint that path names (see CheckpointPrefix), as Load does.
//
// When the only problem is that some variables hold NaN or infinite values,
// LoadModel returns the fully loaded model together with an error wrapping
// ErrNonFinite (errors.As gives the *NonFiniteError naming each variable and
// its counts), so that a caller that allows such weights can go on:
//
//	m, err := model.LoadModel(g, path)
//	if errors.Is(err, model.ErrNonFinite) && allowNonFinite {
//		log.Print(err) // and use m
//	} else if err != nil {
//		return err
//	}
//
// On any other error the model is nil.
func LoadModel(g *Graph, path string) (*Model, error) {
	b, err := tfckpt.OpenCheckpoint(path)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	m, err := NewModel(g)
	if err != nil {
		return nil, err
	}
	if err := m.Load(b); err != nil {
		if errors.Is(err, ErrNonFinite) {
			return m, err
		}
		return nil, err
	}
	return m, nil
}

// Load overwrites every variable of m with the tensor of the same name in
// b, which must be float32 and have the variable's shape. A variable
// missing under its own name is looked for under its TensorFlow 2 name
// (name + "/.ATTRIBUTES/VARIABLE_VALUE"). The bundle's other tensors (a
// global step, optimizer slots) are ignored. Load reports every problem at
// once, each wrapping tfckpt.ErrNotFound, ErrDType, ErrChecksum or ErrFormat; after
// such an error m's variables are partly overwritten.
//
// If every variable was read but some hold NaN or infinite values, m holds
// them all and Load returns an error wrapping ErrNonFinite, and nothing
// else: a *NonFiniteError (see CheckFinite) naming each such variable with
// its count of NaN and of infinite values. A caller that allows non-finite
// weights may use m then.
func (m *Model) Load(b *tfckpt.Bundle) error {
	var errs []error
	for _, s := range m.Specs {
		e, err := b.LookupVariable(s.Name)
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: variable %s %v", tfckpt.ErrNotFound, s.Name, s.Shape))
			continue
		}
		key := e.Key
		if e.DType != tfckpt.DTFloat {
			errs = append(errs, fmt.Errorf("%w: variable %s is %s, want float32", tfckpt.ErrDType, key, e.DType))
			continue
		}
		if !slices.Equal(e.Shape, s.Shape) {
			errs = append(errs, fmt.Errorf("%w: variable %s has shape %v, want %v", tfckpt.ErrFormat, key, e.Shape, s.Shape))
			continue
		}
		v := m.Params[s.Name]
		if len(v) != s.Size() {
			v = make([]float32, s.Size())
			m.Params[s.Name] = v
		}
		if err := b.ReadFloat32(v, key); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		if err := m.CheckFinite(); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("model: load %s from %s: %w", m.Graph.Name, b.Prefix(), errors.Join(errs...))
	}
	return nil
}

// Save writes m's variables as a one-shard bundle with the given prefix,
// each a float32 tensor of its ParamSpec's shape, in the order of m.Specs.
// TensorFlow's Saver can restore it into the graph that MadryLab's model.py
// builds. The files appear only when complete.
func (m *Model) Save(prefix string) error {
	if err := m.Validate(); err != nil {
		return err
	}
	w, err := tfckpt.CreateBundle(prefix)
	if err != nil {
		return err
	}
	for _, s := range m.Specs {
		if err := w.AddFloat32(s.Name, s.Shape, m.Params[s.Name]); err != nil {
			w.Abort()
			return err
		}
	}
	return w.Close()
}

// Fit checks that b holds every variable of g with its dtype and shape, and
// writes to w whether it does, which variables hold NaN or infinite values
// and which tensors g does not use. It returns the problems found (see
// Model.Load), non-finite values included.
func Fit(w io.Writer, b *tfckpt.Bundle, g *Graph) error {
	m, err := NewModel(g)
	if err != nil {
		return err
	}
	total := 0
	for _, s := range m.Specs {
		total += s.Size()
	}
	err = m.Load(b)
	var nf *NonFiniteError
	switch {
	case errors.As(err, &nf):
		fmt.Fprintf(w, "\ngraph %s: all %d variables fit (%d float32 values), but %d hold NaN or Inf\n", g.Name, len(m.Specs), total, len(nf.Vars))
		for _, v := range nf.Vars {
			fmt.Fprintf(w, "  %s: %d NaN, %d Inf of %d values\n", v.Name, v.NaN, v.Inf, v.Size)
		}
	case err != nil:
		fmt.Fprintf(w, "\ngraph %s: does NOT fit\n", g.Name)
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintf(w, "  %s\n", line)
		}
	default:
		fmt.Fprintf(w, "\ngraph %s: all %d variables fit (%d float32 values)\n", g.Name, len(m.Specs), total)
	}
	if unused := unusedKeys(b, m.Specs); len(unused) > 0 {
		fmt.Fprintf(w, "tensors the graph does not use (%d): %s\n", len(unused), strings.Join(unused, ", "))
	}
	return err
}

// unusedKeys returns the keys of b that no variable of specs names, sorted.
func unusedKeys(b *tfckpt.Bundle, specs []ParamSpec) []string {
	used := map[string]bool{}
	for _, s := range specs {
		used[s.Name] = true
	}
	var out []string
	for _, key := range b.Keys() {
		if !used[tfckpt.VariableName(key)] {
			out = append(out, key)
		}
	}
	slices.Sort(out)
	return out
}
