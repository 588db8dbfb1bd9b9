package experiments

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"confrobust/attack"
	"confrobust/tfckpt"
)

// examples are a unit's adversarial examples, one row per attacked input:
// Separation and Rejection one per point, Embedding one per (point, target)
// pair in point-major order. x holds the rows as the attack returned them
// (for a point with none found, the attack's best try).
type examples struct {
	x                    []float32
	index, label, target []int64
	conf                 []float32 // ||F(x*)||∞
}

// add appends the description of the next row: the point it attacks, the
// target whose search made it (-1 for none) and its confidence.
func (e *examples) add(p natural, target int, conf float64) {
	e.index = append(e.index, int64(p.Index))
	e.label = append(e.label, int64(p.Label))
	e.target = append(e.target, int64(target))
	e.conf = append(e.conf, float32(conf))
}

// examplesPrefix is the bundle prefix, in dir, of the examples of the unit
// whose first point is lo.
func examplesPrefix(dir string, lo int) string {
	return filepath.Join(dir, fmt.Sprintf("unit-%06d", lo))
}

// save writes the examples as the tensor bundle
// examples/a-<attack key>/unit-NNNNNN (NNNNNN: the unit's first point): "x"
// [rows, H, W, C] float32, "index", "label", "target" int64 [rows] and
// "conf" float32 [rows].
func (e *examples) save(prefix string, shape [3]int) error {
	bw, err := tfckpt.CreateBundle(prefix)
	if err != nil {
		return err
	}
	n := len(e.index)
	err = bw.AddFloat32("x", []int{n, shape[0], shape[1], shape[2]}, e.x)
	for _, t := range []struct {
		key string
		v   []int64
	}{{"index", e.index}, {"label", e.label}, {"target", e.target}} {
		if err == nil {
			err = bw.Add(t.key, int64Tensor(t.v))
		}
	}
	if err == nil {
		err = bw.AddFloat32("conf", []int{n}, e.conf)
	}
	if err != nil {
		bw.Abort()
		return err
	}
	return bw.Close()
}

func int64Tensor(v []int64) *tfckpt.Tensor {
	t := &tfckpt.Tensor{DType: tfckpt.DTInt64, Shape: []int{len(v)}, Data: make([]byte, 8*len(v))}
	for i, x := range v {
		binary.LittleEndian.PutUint64(t.Data[8*i:], uint64(x))
	}
	return t
}

// readExamples reads a unit's adversarial examples from the examples
// directory dir of an earlier Embedding run (defense.examples) that ran the
// same attack on the same model, data and points, checks that they belong
// to the unit's points and targets, and evaluates them with the plain
// forward pass in batches.
func readExamples(dir string, batch int, u *unitRun, rows, targets []int, d int) (*attack.Result, error) {
	prefix := examplesPrefix(filepath.Join(dir, "a-"+u.attackKey.hash), u.unit.Lo)
	b, err := tfckpt.OpenBundle(prefix)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("saved examples: %s has none of this attack (%s): they were made by a run with another model, data, seed, executor or attack", dir, prefix)
	}
	if err != nil {
		return nil, fmt.Errorf("saved examples: %w", err)
	}
	defer b.Close()
	x := make([]float32, len(rows)*d)
	if err := b.ReadFloat32(x, "x"); err != nil {
		return nil, fmt.Errorf("saved examples %s: %w", prefix, err)
	}
	for _, key := range []string{"index", "target"} {
		t, err := b.Tensor(key)
		if err != nil {
			return nil, fmt.Errorf("saved examples %s: %w", prefix, err)
		}
		v, err := t.Int64s()
		if err != nil || len(v) != len(rows) {
			return nil, fmt.Errorf("saved examples %s: %s holds %d values, want %d int64s", prefix, key, len(v), len(rows))
		}
		for r := range rows {
			want := targets[r]
			if key == "index" {
				want = u.points[rows[r]].Index
			}
			if v[r] != int64(want) {
				return nil, fmt.Errorf("saved examples %s: row %d has %s %d, this run needs %d: they were made by a run with other data, points or unit_points", prefix, r, key, v[r], want)
			}
		}
	}
	k := u.classes
	a := &attack.Result{X: x, Logits: make([]float32, len(rows)*k), Conf: make([]float64, len(rows)), Pred: make([]int, len(rows))}
	for lo := 0; lo < len(rows); lo += batch {
		hi := min(lo+batch, len(rows))
		if err := u.exec.Logits(a.Logits[lo*k:hi*k], x[lo*d:hi*d], hi-lo); err != nil {
			return nil, err
		}
	}
	for r := range rows {
		a.Conf[r], a.Pred[r] = attack.Confidence(a.Logits[r*k : (r+1)*k])
	}
	return a, nil
}
