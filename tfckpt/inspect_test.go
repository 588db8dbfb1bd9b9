package tfckpt

import (
	"bytes"
	"errors"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "update golden files")

// checkGolden compares got with testdata/inspect/name.golden, or rewrites
// the file with -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "inspect", name+".golden")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s:\n--- got\n%s--- want\n%s", path, got, want)
	}
}

func TestInspectFixtures(t *testing.T) {
	for _, tt := range bundleTests {
		t.Run(tt.dir, func(t *testing.T) {
			b, err := OpenBundle(fixturePrefix(tt.dir))
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			var out bytes.Buffer
			if err := Inspect(&out, b, InspectOptions{Stats: true, Values: 3, Verify: true}); err != nil {
				t.Fatal(err)
			}
			checkGolden(t, tt.dir, out.Bytes())
		})
	}
}

func TestInspectOptions(t *testing.T) {
	dir := t.TempDir()
	prefix := filepath.Join(dir, "ckpt")
	writeRoundTrip(t, prefix)
	b, err := OpenBundle(prefix)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var out bytes.Buffer
	err = Inspect(&out, b, InspectOptions{Keys: []string{"float16", "complex64", "strings", "int8", "empty/float"}, Stats: true, Values: -1})
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "types", bytes.ReplaceAll(out.Bytes(), []byte(dir), []byte("$TMP")))

	out.Reset()
	err = Inspect(&out, b, InspectOptions{Keys: []string{"int8", "nope"}})
	if !errors.Is(err, ErrNotFound) || !strings.Contains(out.String(), "int8") {
		t.Errorf("missing key: error %v, output\n%s", err, out.String())
	}
}

// TestInspectChecksumColumn flips a bit of one tensor's data: its row says
// MISMATCH, the others ok, and Inspect returns ErrChecksum.
func TestInspectChecksumColumn(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join("testdata", "tfckpt", "half_plus_two_cpu")
	for _, f := range []string{"variables.index", "variables.data-00000-of-00001"} {
		data, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(f, "variables.data") {
			data[8] ^= 1 // the first byte of b
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := OpenBundle(filepath.Join(dir, "variables"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var out bytes.Buffer
	err = Inspect(&out, b, InspectOptions{Verify: true})
	if !errors.Is(err, ErrChecksum) {
		t.Errorf("error %v, want ErrChecksum", err)
	}
	for _, want := range []string{"a    float32  []     4      ok", "b    float32  []     4      MISMATCH", "checksums: 1 of 5 tensors FAILED"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// TestInspectNonFinite: with Stats, a line after the table names each
// tensor holding NaN or Inf with its counts.
func TestInspectNonFinite(t *testing.T) {
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	prefix := filepath.Join(t.TempDir(), "ckpt")
	w, err := CreateBundle(prefix)
	if err != nil {
		t.Fatal(err)
	}
	w.AddFloat32("finite", []int{2}, []float32{1, 2})
	w.AddFloat32("poisoned", []int{5}, []float32{nan, 1, inf, -inf, nan})
	w.AddFloat32("weights/nan", []int{1}, []float32{nan})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := OpenBundle(prefix)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var out bytes.Buffer
	if err := Inspect(&out, b, InspectOptions{Stats: true}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"poisoned     float32  [5]    20     1    1    1     0    4",
		"weights/nan  float32  [1]    4      -    -    -     -    1",
		"non-finite values in 2 of 3 tensors: poisoned (2 NaN, 2 Inf), weights/nan (1 NaN, 0 Inf)",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
