package experiments

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type unitResult struct {
	Points []int
	Conf   []float32
}

func TestJournalPutGetResume(t *testing.T) {
	dir := t.TempDir()
	j, err := OpenJournal(dir, "abc")
	if err != nil {
		t.Fatal(err)
	}
	if j.Done(3) {
		t.Fatal("unit 3 done before Put")
	}
	want := unitResult{Points: []int{7, 9}, Conf: []float32{0.5, 0.999}}
	if err := j.Put(3, want); err != nil {
		t.Fatal(err)
	}
	// A reopened journal (a rerun after a kill) sees the unit.
	j2, err := OpenJournal(dir, "abc")
	if err != nil {
		t.Fatal(err)
	}
	var got unitResult
	ok, err := j2.Get(3, &got)
	if err != nil || !ok {
		t.Fatalf("Get: %v %v", ok, err)
	}
	if got.Points[1] != 9 || got.Conf[1] != 0.999 {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if ok, _ := j2.Get(4, &got); ok {
		t.Error("unit 4 reported done")
	}
	units, _ := j2.Units()
	if len(units) != 1 || units[0] != 3 {
		t.Errorf("units %v, want [3]", units)
	}
	// No temporary files are left behind.
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp") {
			t.Errorf("left %s", e.Name())
		}
	}
}

func TestJournalRefusesOtherRun(t *testing.T) {
	dir := t.TempDir()
	if _, err := OpenJournal(dir, "abc"); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenJournal(dir, "def"); err == nil || !strings.Contains(err.Error(), "another run") {
		t.Errorf("got %v", err)
	}
}

func TestJournalMerge(t *testing.T) {
	root := t.TempDir()
	var shards []string
	for k := range 3 {
		dir := filepath.Join(root, "shard", string(rune('a'+k)))
		j, err := OpenJournal(dir, "fp")
		if err != nil {
			t.Fatal(err)
		}
		s := Shard{k, 3}
		for u := range 10 {
			if s.Owns(u) {
				j.Put(u, unitResult{Points: []int{u}})
			}
		}
		shards = append(shards, dir)
	}
	merged, err := OpenJournal(filepath.Join(root, "merged"), "fp")
	if err != nil {
		t.Fatal(err)
	}
	if err := merged.Merge(shards...); err != nil {
		t.Fatal(err)
	}
	units, _ := merged.Units()
	if len(units) != 10 {
		t.Fatalf("merged %d units, want 10", len(units))
	}
	// Merging twice is harmless; a conflicting unit is an error.
	if err := merged.Merge(shards...); err != nil {
		t.Fatal(err)
	}
	bad, _ := OpenJournal(filepath.Join(root, "bad"), "fp")
	bad.Put(4, unitResult{Points: []int{99}})
	if err := merged.Merge(bad.Dir()); err == nil || !strings.Contains(err.Error(), "unit 4 differs") {
		t.Errorf("conflict: got %v", err)
	}
	other, _ := OpenJournal(filepath.Join(root, "other"), "other-fp")
	if err := merged.Merge(other.Dir()); err == nil || !strings.Contains(err.Error(), "another run") {
		t.Errorf("other run: got %v", err)
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
