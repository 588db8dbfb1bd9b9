package tfckpt

import (
	"bufio"
	"confrobust/internal/atomicfile"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// StateFile is the name of the text file in which TensorFlow's Saver records
// a directory's latest checkpoint ("model_checkpoint_path: ...").
const StateFile = "checkpoint"

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
		return "", fmt.Errorf("tfckpt: %s is neither a checkpoint prefix (no %s) nor a directory: %w", path, filepath.Base(IndexPath(path)), fs.ErrNotExist)
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
	return "", fmt.Errorf("tfckpt: %s names checkpoint %s, which has no index: %w", state, name, fs.ErrNotExist)
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
		return "", fmt.Errorf("tfckpt: read checkpoint state: %w", err)
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
			return "", fmt.Errorf("tfckpt: %s:%d: model_checkpoint_path %s is not a quoted path", path, line, strings.TrimSpace(value))
		}
		return v, nil
	}
	if err := s.Err(); err != nil {
		return "", fmt.Errorf("tfckpt: read checkpoint state: %w", err)
	}
	return "", fmt.Errorf("tfckpt: %s has no model_checkpoint_path", path)
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
	if err := atomicfile.Write(filepath.Join(dir, StateFile),
		[]byte(fmt.Sprintf("model_checkpoint_path: %s\nall_model_checkpoint_paths: %s\n", q, q))); err != nil {
		return fmt.Errorf("tfckpt: write checkpoint state: %w", err)
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
