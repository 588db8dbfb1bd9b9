package ldb

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

type kv struct{ k, v string }

func scanAll(data []byte) ([]kv, error) {
	r, err := NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, err
	}
	var out []kv
	err = r.Scan(func(k, v []byte) error {
		out = append(out, kv{string(k), string(v)})
		return nil
	})
	return out, err
}

// The TensorFlow fixtures: two have Snappy-compressed data blocks.
func TestReadTensorFlowIndexes(t *testing.T) {
	for _, tc := range []struct {
		dir  string
		keys []string
	}{
		{"half_plus_two_cpu", []string{"", "a", "a2", "b", "c", "c2"}},
		{"half_plus_three", []string{"", "a", "b", "c"}},
		{"half_plus_two_mkl", []string{"", "a", "b", "c", "conv2d/bias", "conv2d/kernel", "conv2d_1/bias", "conv2d_1/kernel", "conv2d_2/bias", "conv2d_2/kernel"}},
		{"half_plus_two_tf2_cpu", []string{"", "_CHECKPOINTABLE_OBJECT_GRAPH", "a/.ATTRIBUTES/VARIABLE_VALUE", "b/.ATTRIBUTES/VARIABLE_VALUE", "c/.ATTRIBUTES/VARIABLE_VALUE"}},
	} {
		t.Run(tc.dir, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "tfckpt", tc.dir, "variables.index"))
			if err != nil {
				t.Fatal(err)
			}
			got, err := scanAll(data)
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			for _, e := range got {
				keys = append(keys, e.k)
			}
			if fmt.Sprint(keys) != fmt.Sprint(tc.keys) {
				t.Errorf("keys %q, want %q", keys, tc.keys)
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	var want []kv
	for i := range 1000 {
		want = append(want, kv{fmt.Sprintf("key/%05d", i), fmt.Sprintf("value %d %s", i, bytes.Repeat([]byte{'x'}, i%50))})
	}
	var buf bytes.Buffer
	w := NewWriter(&buf)
	for _, e := range want {
		if err := w.Add([]byte(e.k), []byte(e.v)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := scanAll(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("round trip differs: %d entries, want %d", len(got), len(want))
	}
}

func TestWriterRefusesUnsortedKeys(t *testing.T) {
	w := NewWriter(new(bytes.Buffer))
	if err := w.Add([]byte("b"), nil); err != nil {
		t.Fatal(err)
	}
	if err := w.Add([]byte("a"), nil); err == nil {
		t.Error("Add accepted a key smaller than the previous one")
	}
}

func TestCorruptTables(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	w.Add([]byte("a"), []byte("some value"))
	w.Close()
	good := buf.Bytes()
	flip := func(off int) []byte {
		b := bytes.Clone(good)
		b[off] ^= 0x40
		return b
	}
	for _, tc := range []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrFormat},
		{"truncated", good[:len(good)-1], ErrFormat},
		{"bad magic", flip(len(good) - 1), ErrFormat},
		{"data block byte", flip(3), ErrChecksum},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := scanAll(tc.data)
			if !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
}
