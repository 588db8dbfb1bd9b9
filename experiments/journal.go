package experiments

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"confrobust/internal/atomicfile"
)

// A run is split into work units (a slice of the points of one setting).
// A Journal keeps each finished unit as its own file, written atomically
// and durably, in a directory per setting named by the setting's key: the
// hash of everything that determines the setting's results (the model's
// checkpoint digest, the data digest and sample, the seed, the executor,
// the attack's and the defense's parameters; not the rejection thresholds,
// which only the aggregation uses). So a run killed at any moment loses at
// most the units in flight, rerunning the same command skips every unit
// on disk, and an edited sweep (one more η, another p) reuses every
// setting it still has. Shards of a run write journals that Merge combines.
//
// Layout of a journal directory:
//
//	s-<key>/setting.json        the setting's key, in words
//	s-<key>/unit-000000.json    one file per finished unit, with its SHA-256
//	...
//	.lock-K-of-N                held (flock) by the process running shard K/N
//
// Every unit file carries the SHA-256 of its records; a unit whose file is
// truncated, corrupted or made for another setting is reported, removed
// and computed again, never trusted.
type Journal struct {
	dir string
}

// journalSchema is the version of the journal's files.
const journalSchema = 1

const (
	settingFile = "setting.json"
	unitPrefix  = "unit-"
	unitSuffix  = ".json"
)

// OpenJournal opens (creating if needed) the journal in dir.
func OpenJournal(dir string) (*Journal, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("experiments: journal: %w", err)
	}
	return &Journal{dir: dir}, nil
}

// Dir returns the journal's directory.
func (j *Journal) Dir() string { return j.dir }

// settingKey is what identifies a setting's work: its canonical JSON, whose
// hash names the setting's directory.
type settingKey struct {
	canonical []byte
	hash      string
}

// newSettingKey returns the key of the description v (a struct marshalled
// to JSON in its field order, so equal descriptions give equal keys).
func newSettingKey(v any) (settingKey, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return settingKey{}, fmt.Errorf("experiments: setting key: %w", err)
	}
	sum := sha256.Sum256(data)
	return settingKey{canonical: data, hash: hex.EncodeToString(sum[:8])}, nil
}

// settingDir is the directory of a setting's units.
func (j *Journal) settingDir(k settingKey) string { return filepath.Join(j.dir, "s-"+k.hash) }

// unitPath is the file of the unit starting at point lo of a setting.
func (j *Journal) unitPath(k settingKey, lo int) string {
	return filepath.Join(j.settingDir(k), fmt.Sprintf("%s%06d%s", unitPrefix, lo, unitSuffix))
}

// open makes the setting's directory and its setting.json (the key in
// words), or checks that an existing one holds this key.
func (j *Journal) open(k settingKey) error {
	dir := j.settingDir(k)
	path := filepath.Join(dir, settingFile)
	have, err := os.ReadFile(path)
	switch {
	case err == nil:
		if !bytes.Equal(bytes.TrimSpace(have), k.canonical) {
			return fmt.Errorf("experiments: journal %s holds another setting (a hash collision or an edited file): remove the directory", dir)
		}
		return nil
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("experiments: journal: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("experiments: journal: %w", err)
	}
	if err := atomicfile.Write(path, append(bytes.Clone(k.canonical), '\n')); err != nil {
		return fmt.Errorf("experiments: journal: %w", err)
	}
	return nil
}

// unitFile is the file of one finished unit.
type unitFile struct {
	Schema  int    `json:"schema"`
	Setting string `json:"setting"` // the setting key's hash
	Lo      int    `json:"lo"`
	Hi      int    `json:"hi"`
	Steps   int    `json:"steps"`
	// SHA256 is the hex SHA-256 of Points as stored.
	SHA256 string          `json:"sha256"`
	Points json.RawMessage `json:"points"`
}

// put records a finished unit [lo, hi) of the setting.
func (j *Journal) put(k settingKey, lo, hi, steps int, points []byte) error {
	if err := j.open(k); err != nil {
		return err
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, points); err != nil {
		return fmt.Errorf("experiments: journal unit: %w", err)
	}
	sum := sha256.Sum256(compact.Bytes())
	data, err := json.Marshal(unitFile{Schema: journalSchema, Setting: k.hash, Lo: lo, Hi: hi, Steps: steps,
		SHA256: hex.EncodeToString(sum[:]), Points: compact.Bytes()})
	if err != nil {
		return fmt.Errorf("experiments: journal unit: %w", err)
	}
	if err := atomicfile.Write(j.unitPath(k, lo), append(data, '\n')); err != nil {
		return fmt.Errorf("experiments: journal: %w", err)
	}
	return nil
}

// errBadUnit marks a unit file that cannot be trusted.
var errBadUnit = errors.New("cannot be trusted")

// get returns the unit [lo, hi) of the setting, or nil when it is not
// done. A file that is not a valid unit of this setting and range (torn,
// corrupted, of another journal format) wraps errBadUnit.
func (j *Journal) get(k settingKey, lo, hi int) (*unitFile, error) {
	path := j.unitPath(k, lo)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("experiments: journal: %w", err)
	}
	return decodeUnit(path, data, k.hash, lo, hi)
}

func decodeUnit(path string, data []byte, hash string, lo, hi int) (*unitFile, error) {
	var u unitFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&u); err != nil {
		return nil, fmt.Errorf("experiments: journal %s %w: %v", path, errBadUnit, err)
	}
	sum := sha256.Sum256(u.Points)
	switch {
	case u.Schema != journalSchema:
		return nil, fmt.Errorf("experiments: journal %s %w: schema %d, want %d", path, errBadUnit, u.Schema, journalSchema)
	case hex.EncodeToString(sum[:]) != u.SHA256:
		return nil, fmt.Errorf("experiments: journal %s %w: its records do not match their SHA-256", path, errBadUnit)
	case u.Setting != hash || u.Lo != lo || (hi >= 0 && u.Hi != hi):
		return nil, fmt.Errorf("experiments: journal %s %w: it holds points [%d, %d) of setting %s, want [%d, %d) of %s", path, errBadUnit, u.Lo, u.Hi, u.Setting, lo, hi, hash)
	}
	return &u, nil
}

// remove deletes a unit's file (one that cannot be trusted).
func (j *Journal) remove(k settingKey, lo int) error {
	if err := os.Remove(j.unitPath(k, lo)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("experiments: journal: %w", err)
	}
	return atomicfile.SyncDir(j.settingDir(k))
}

// Merge copies every setting and unit of the journals in srcs into j. A
// unit present in two sources must have identical records (shards of one
// deterministic run never disagree); a unit that cannot be trusted is an
// error naming its file.
func (j *Journal) Merge(srcs ...string) error {
	for _, src := range srcs {
		settings, err := os.ReadDir(src)
		if err != nil {
			return fmt.Errorf("experiments: merge %s: not a journal: %w", src, err)
		}
		for _, s := range settings {
			if !s.IsDir() || !strings.HasPrefix(s.Name(), "s-") {
				continue
			}
			if err := j.mergeSetting(filepath.Join(src, s.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

func (j *Journal) mergeSetting(src string) error {
	canonical, err := os.ReadFile(filepath.Join(src, settingFile))
	if err != nil {
		return fmt.Errorf("experiments: merge %s: %w", src, err)
	}
	canonical = bytes.TrimSpace(canonical)
	sum := sha256.Sum256(canonical)
	k := settingKey{canonical: canonical, hash: hex.EncodeToString(sum[:8])}
	if "s-"+k.hash != filepath.Base(src) {
		return fmt.Errorf("experiments: merge %s: its setting.json does not match the directory's name", src)
	}
	if err := j.open(k); err != nil {
		return err
	}
	los, err := unitStarts(src)
	if err != nil {
		return err
	}
	for _, lo := range los {
		path := filepath.Join(src, fmt.Sprintf("%s%06d%s", unitPrefix, lo, unitSuffix))
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("experiments: merge: %w", err)
		}
		u, err := decodeUnit(path, data, k.hash, lo, -1)
		if err != nil {
			return fmt.Errorf("experiments: merge: %w", err)
		}
		have, err := j.get(k, lo, u.Hi)
		if err != nil && !errors.Is(err, errBadUnit) {
			return err
		}
		if have != nil {
			if have.SHA256 != u.SHA256 {
				return fmt.Errorf("experiments: merge %s: unit at point %d differs from the one already merged", src, lo)
			}
			continue
		}
		if err := atomicfile.Write(j.unitPath(k, lo), data); err != nil {
			return fmt.Errorf("experiments: merge: %w", err)
		}
	}
	return nil
}

// unitStarts returns the first points of the units in a setting directory.
func unitStarts(dir string) ([]int, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("experiments: journal: %w", err)
	}
	var los []int
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, unitPrefix) || !strings.HasSuffix(name, unitSuffix) {
			continue
		}
		if lo, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(name, unitPrefix), unitSuffix)); err == nil {
			los = append(los, lo)
		}
	}
	sort.Ints(los)
	return los, nil
}
