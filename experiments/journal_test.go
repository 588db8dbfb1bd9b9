package experiments

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func testKey(t *testing.T, v any) settingKey {
	t.Helper()
	k, err := newSettingKey(v)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestJournalPutGet(t *testing.T) {
	dir := t.TempDir()
	j, err := OpenJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	k := testKey(t, map[string]float64{"eta": 0.1})
	if f, err := j.get(k, 10, 20); f != nil || err != nil {
		t.Fatalf("get before put: %v, %v", f, err)
	}
	if err := j.put(k, 10, 20, 7, []byte(`[ {"index": 3} ]`)); err != nil {
		t.Fatal(err)
	}
	// A reopened journal (a rerun after a kill) sees the unit.
	j2, _ := OpenJournal(dir)
	f, err := j2.get(k, 10, 20)
	if err != nil || f == nil || f.Steps != 7 || string(f.Points) != `[{"index":3}]` {
		t.Fatalf("get: %+v, %v", f, err)
	}
	// Another range or another setting is not this unit.
	if _, err := j2.get(k, 10, 15); !errors.Is(err, errBadUnit) {
		t.Errorf("get with another range: %v, want errBadUnit", err)
	}
	if f, _ := j2.get(testKey(t, map[string]float64{"eta": 0.2}), 10, 20); f != nil {
		t.Error("another setting's unit reported done")
	}
	// No temporary files are left behind.
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if strings.Contains(d.Name(), ".tmp") {
			t.Errorf("left %s", path)
		}
		return nil
	})
}

// TestJournalDistrustsDamagedUnits: a truncated file, a flipped byte in the
// records, an edited checksum or a file of another setting are refused as
// errBadUnit, never returned as results; remove clears them.
func TestJournalDistrustsDamagedUnits(t *testing.T) {
	j, _ := OpenJournal(t.TempDir())
	k := testKey(t, "setting")
	if err := j.put(k, 0, 2, 1, []byte(`[{"conf":0.25},{"conf":0.5}]`)); err != nil {
		t.Fatal(err)
	}
	path := j.unitPath(k, 0)
	good, _ := os.ReadFile(path)
	for name, damage := range map[string]func([]byte) []byte{
		"truncated":  func(b []byte) []byte { return b[:len(b)/2] },
		"empty":      func([]byte) []byte { return nil },
		"bit flip":   func(b []byte) []byte { return []byte(strings.Replace(string(b), "0.25", "0.75", 1)) },
		"other hash": func(b []byte) []byte { return []byte(strings.Replace(string(b), k.hash, "0123456789abcdef", 1)) },
		"no schema":  func(b []byte) []byte { return []byte(strings.Replace(string(b), `"schema":1`, `"schema":0`, 1)) },
	} {
		if err := os.WriteFile(path, damage(good), 0o644); err != nil {
			t.Fatal(err)
		}
		if f, err := j.get(k, 0, 2); f != nil || !errors.Is(err, errBadUnit) {
			t.Errorf("%s: get = %v, %v; want errBadUnit", name, f, err)
		}
	}
	if err := j.remove(k, 0); err != nil {
		t.Fatal(err)
	}
	if f, err := j.get(k, 0, 2); f != nil || err != nil {
		t.Errorf("after remove: %v, %v", f, err)
	}
}

func TestJournalMerge(t *testing.T) {
	root := t.TempDir()
	k := testKey(t, "run")
	var shards []string
	for s := range 3 {
		dir := filepath.Join(root, "shard", string(rune('a'+s)))
		j, err := OpenJournal(dir)
		if err != nil {
			t.Fatal(err)
		}
		for u := range 10 {
			if (Shard{s, 3}).Owns(u) {
				j.put(k, 10*u, 10*u+10, u, []byte(`[1]`))
			}
		}
		shards = append(shards, dir)
	}
	merged, _ := OpenJournal(filepath.Join(root, "merged"))
	if err := merged.Merge(shards...); err != nil {
		t.Fatal(err)
	}
	for u := range 10 {
		if f, err := merged.get(k, 10*u, 10*u+10); f == nil || err != nil || f.Steps != u {
			t.Errorf("merged unit %d: %+v, %v", u, f, err)
		}
	}
	// Merging twice is harmless; a conflicting unit is an error.
	if err := merged.Merge(shards...); err != nil {
		t.Fatal(err)
	}
	bad, _ := OpenJournal(filepath.Join(root, "bad"))
	bad.put(k, 40, 50, 4, []byte(`[2]`))
	if err := merged.Merge(bad.Dir()); err == nil || !strings.Contains(err.Error(), "differs") {
		t.Errorf("conflict: got %v", err)
	}
	// A damaged unit in a source is refused, naming the file.
	os.WriteFile(bad.unitPath(k, 40), []byte("{"), 0o644)
	if err := merged.Merge(bad.Dir()); !errors.Is(err, errBadUnit) {
		t.Errorf("damaged source: got %v", err)
	}
}

func TestParseShard(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Shard
		ok   bool
	}{
		{"", Shard{0, 1}, true},
		{"0/4", Shard{0, 4}, true},
		{"3/4", Shard{3, 4}, true},
		{"4/4", Shard{}, false},
		{"-1/4", Shard{}, false},
		{"1/0", Shard{}, false},
		{"1", Shard{}, false},
		{"a/b", Shard{}, false},
	} {
		got, err := ParseShard(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("ParseShard(%q) = %v, %v", tc.in, got, err)
		}
	}
	// Every unit belongs to exactly one shard.
	for u := range 50 {
		owners := 0
		for k := range 4 {
			if (Shard{k, 4}).Owns(u) {
				owners++
			}
		}
		if owners != 1 {
			t.Errorf("unit %d has %d owners", u, owners)
		}
	}
}
