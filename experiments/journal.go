package experiments

import (
	"bytes"
	"confrobust/internal/atomicfile"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// A run is split into work units (a slice of points under one setting). A
// Journal keeps each finished unit's result as its own JSON file in a
// directory, written atomically, so that a run killed at any moment (SIGINT
// or SIGKILL) loses at most the units in flight, and rerunning the same
// command skips every unit already on disk. Shards of one run write
// journals that Merge combines.
//
// Layout of a journal directory:
//
//	run.json            the fingerprint of the run (config hash and what it covers)
//	unit-000000.json    one file per finished unit
//	...
type Journal struct {
	dir string
}

const (
	journalRunFile = "run.json"
	unitPrefix     = "unit-"
	unitSuffix     = ".json"
)

// OpenJournal opens (creating if needed) the journal in dir for the run
// whose identity is fingerprint (for example a hash of the config). A
// journal written for a different fingerprint is refused, so that a changed
// config never mixes its results with stale ones.
func OpenJournal(dir, fingerprint string) (*Journal, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("experiments: journal: %w", err)
	}
	j := &Journal{dir: dir}
	path := filepath.Join(dir, journalRunFile)
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		rec, _ := json.Marshal(map[string]string{"fingerprint": fingerprint})
		if err := atomicfile.Write(path, append(rec, '\n')); err != nil {
			return nil, fmt.Errorf("experiments: journal: %w", err)
		}
	case err != nil:
		return nil, fmt.Errorf("experiments: journal: %w", err)
	default:
		var rec struct{ Fingerprint string }
		if err := json.Unmarshal(data, &rec); err != nil {
			return nil, fmt.Errorf("experiments: journal %s: %w", path, err)
		}
		if rec.Fingerprint != fingerprint {
			return nil, fmt.Errorf("experiments: journal %s belongs to another run (fingerprint %s, this run %s): remove the directory or choose another output", dir, rec.Fingerprint, fingerprint)
		}
	}
	return j, nil
}

// Dir returns the journal's directory.
func (j *Journal) Dir() string { return j.dir }

func (j *Journal) unitPath(unit int) string {
	return filepath.Join(j.dir, fmt.Sprintf("%s%06d%s", unitPrefix, unit, unitSuffix))
}

// Done reports whether the unit's result is on disk.
func (j *Journal) Done(unit int) bool {
	_, err := os.Stat(j.unitPath(unit))
	return err == nil
}

// Put records the unit's result v (JSON-encoded) atomically.
func (j *Journal) Put(unit int, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("experiments: journal unit %d: %w", unit, err)
	}
	return atomicfile.Write(j.unitPath(unit), append(data, '\n'))
}

// Get decodes the unit's result into v; it reports false if the unit is not
// done.
func (j *Journal) Get(unit int, v any) (bool, error) {
	data, err := os.ReadFile(j.unitPath(unit))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("experiments: journal: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return false, fmt.Errorf("experiments: journal %s: %w", j.unitPath(unit), err)
	}
	return true, nil
}

// Units returns the finished units in increasing order.
func (j *Journal) Units() ([]int, error) {
	entries, err := os.ReadDir(j.dir)
	if err != nil {
		return nil, fmt.Errorf("experiments: journal: %w", err)
	}
	var units []int
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, unitPrefix) || !strings.HasSuffix(name, unitSuffix) {
			continue
		}
		u, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(name, unitPrefix), unitSuffix))
		if err != nil {
			continue
		}
		units = append(units, u)
	}
	sort.Ints(units)
	return units, nil
}

// Merge copies every unit of the journals in srcs into j. All must have j's
// fingerprint; a unit present in two sources must have identical contents
// (shards of one deterministic run never disagree).
func (j *Journal) Merge(srcs ...string) error {
	own, err := os.ReadFile(filepath.Join(j.dir, journalRunFile))
	if err != nil {
		return fmt.Errorf("experiments: merge: %w", err)
	}
	for _, src := range srcs {
		other, err := os.ReadFile(filepath.Join(src, journalRunFile))
		if err != nil {
			return fmt.Errorf("experiments: merge %s: not a journal: %w", src, err)
		}
		if !bytes.Equal(own, other) {
			return fmt.Errorf("experiments: merge %s: it belongs to another run (%s), want %s", src, bytes.TrimSpace(other), bytes.TrimSpace(own))
		}
		sj := &Journal{dir: src}
		units, err := sj.Units()
		if err != nil {
			return err
		}
		for _, u := range units {
			data, err := os.ReadFile(sj.unitPath(u))
			if err != nil {
				return fmt.Errorf("experiments: merge: %w", err)
			}
			if have, err := os.ReadFile(j.unitPath(u)); err == nil {
				if !bytes.Equal(have, data) {
					return fmt.Errorf("experiments: merge %s: unit %d differs from the one already merged", src, u)
				}
				continue
			}
			if err := atomicfile.Write(j.unitPath(u), data); err != nil {
				return fmt.Errorf("experiments: merge: %w", err)
			}
		}
	}
	return nil
}
