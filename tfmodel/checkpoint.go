package tfmodel

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// StateFile is the name of the text file in which TensorFlow's Saver records
// a directory's latest checkpoint ("model_checkpoint_path: ...").
const StateFile = "checkpoint"

// objectSuffix ends the key of a variable in a TensorFlow 2 object-based
// checkpoint ("dense/kernel/.ATTRIBUTES/VARIABLE_VALUE").
const objectSuffix = "/.ATTRIBUTES/VARIABLE_VALUE"

// CheckpointPrefix returns the bundle prefix that path names: path itself if
// path+".index" exists; path without its ".index" suffix; or, for a
// directory, the checkpoint its StateFile names, as tf.train.latest_checkpoint
// finds it, or else a SavedModel's DIR/variables/variables (or
// DIR/variables). A relative name in the state file is relative to the directory;
// an absolute one that does not exist (a checkpoint moved from another
// machine, as downloaded models are) is looked for in the directory too.
func CheckpointPrefix(path string) (string, error) {
	if exists(IndexPath(path)) {
		return path, nil
	}
	if p, ok := strings.CutSuffix(path, ".index"); ok && exists(path) {
		return p, nil
	}
	fi, err := os.Stat(path)
	if err != nil || !fi.IsDir() {
		return "", fmt.Errorf("tfmodel: %s is neither a checkpoint prefix (no %s) nor a directory: %w", path, filepath.Base(IndexPath(path)), fs.ErrNotExist)
	}
	state := filepath.Join(path, StateFile)
	if !exists(state) {
		// A SavedModel directory keeps its variables in variables/variables;
		// its variables folder itself is a bundle prefix "variables".
		for _, p := range []string{filepath.Join(path, "variables", "variables"), filepath.Join(path, "variables")} {
			if exists(IndexPath(p)) {
				return p, nil
			}
		}
	}
	name, err := readCheckpointState(state)
	if err != nil {
		return "", err
	}
	candidates := []string{name}
	if !filepath.IsAbs(name) {
		candidates = []string{filepath.Join(path, name)}
	} else {
		candidates = append(candidates, filepath.Join(path, filepath.Base(name)))
	}
	for _, c := range candidates {
		if exists(IndexPath(c)) {
			return c, nil
		}
	}
	return "", fmt.Errorf("tfmodel: %s names checkpoint %s, which has no index: %w", state, name, fs.ErrNotExist)
}

func exists(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}

// readCheckpointState returns the model_checkpoint_path of a
// CheckpointState text proto.
func readCheckpointState(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("tfmodel: read checkpoint state: %w", err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for line := 1; s.Scan(); line++ {
		field, value, ok := strings.Cut(strings.TrimSpace(s.Text()), ":")
		if !ok || strings.TrimSpace(field) != "model_checkpoint_path" {
			continue
		}
		v, err := strconv.Unquote(strings.TrimSpace(value))
		if err != nil || v == "" {
			return "", fmt.Errorf("tfmodel: %s:%d: model_checkpoint_path %s is not a quoted path", path, line, strings.TrimSpace(value))
		}
		return v, nil
	}
	if err := s.Err(); err != nil {
		return "", fmt.Errorf("tfmodel: read checkpoint state: %w", err)
	}
	return "", fmt.Errorf("tfmodel: %s has no model_checkpoint_path", path)
}

// WriteCheckpointState writes dir's StateFile naming prefix as its latest
// checkpoint, so that TensorFlow's tf.train.latest_checkpoint(dir) and
// CheckpointPrefix(dir) find it. The file is replaced atomically.
func WriteCheckpointState(dir, prefix string) error {
	name := prefix
	if rel, err := filepath.Rel(dir, prefix); err == nil && !strings.HasPrefix(rel, "..") {
		name = rel
	}
	q := strconv.Quote(name)
	return writeFileAtomic(filepath.Join(dir, StateFile),
		[]byte(fmt.Sprintf("model_checkpoint_path: %s\nall_model_checkpoint_paths: %s\n", q, q)))
}

// writeFileAtomic writes data to a temporary file beside path and renames it.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("tfmodel: write %s: %w", path, err)
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("tfmodel: write %s: %w", path, err)
	}
	return nil
}

// OpenCheckpoint opens the bundle of the checkpoint that path names (see
// CheckpointPrefix).
func OpenCheckpoint(path string) (*Bundle, error) {
	prefix, err := CheckpointPrefix(path)
	if err != nil {
		return nil, err
	}
	return OpenBundle(prefix)
}

// LoadModel returns the model of g with its variables read from the
// checkpoint that path names (see CheckpointPrefix).
func LoadModel(g *Graph, path string) (*Model, error) {
	b, err := OpenCheckpoint(path)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	m, err := NewModel(g)
	if err != nil {
		return nil, err
	}
	if err := m.Load(b); err != nil {
		return nil, err
	}
	return m, nil
}

// Load overwrites every variable of m with the tensor of the same name in
// b, which must be float32 and have the variable's shape. A variable
// missing under its own name is looked for under its TensorFlow 2 name
// (name + "/.ATTRIBUTES/VARIABLE_VALUE"). The bundle's other tensors (a
// global step, optimizer slots) are ignored. Load reports every problem at
// once, each wrapping ErrNotFound, ErrDType, ErrChecksum or ErrFormat; after
// an error m's variables are partly overwritten.
func (m *Model) Load(b *Bundle) error {
	var errs []error
	for _, s := range m.Specs {
		key := s.Name
		e, err := b.Lookup(key)
		if errors.Is(err, ErrNotFound) {
			if e2, err2 := b.Lookup(key + objectSuffix); err2 == nil {
				key, e, err = key+objectSuffix, e2, nil
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: variable %s %v", ErrNotFound, s.Name, s.Shape))
			continue
		}
		if e.DType != DTFloat {
			errs = append(errs, fmt.Errorf("%w: variable %s is %s, want float32", ErrDType, key, e.DType))
			continue
		}
		if !slices.Equal(e.Shape, s.Shape) {
			errs = append(errs, fmt.Errorf("%w: variable %s has shape %v, want %v", ErrFormat, key, e.Shape, s.Shape))
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
	if len(errs) > 0 {
		return fmt.Errorf("tfmodel: load %s from %s: %w", m.Graph.Name, b.Prefix(), errors.Join(errs...))
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
	w, err := CreateBundle(prefix)
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
