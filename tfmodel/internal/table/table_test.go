package table

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"confrobust/tfmodel/internal/crc"
)

const fixtures = "../../testdata/tfckpt"

// The keys of TensorFlow's fixture indexes (EXPECTED.md there), the header
// entry "" first, and whether the single data block is Snappy-compressed.
var fixtureTests = []struct {
	dir    string
	keys   []string
	snappy bool
}{
	{"half_plus_three", []string{"", "a", "b", "c"}, false},
	{"half_plus_two_cpu", []string{"", "a", "a2", "b", "c", "c2"}, true},
	{"half_plus_two_mkl", []string{"", "a", "b", "c", "conv2d/bias", "conv2d/kernel",
		"conv2d_1/bias", "conv2d_1/kernel", "conv2d_2/bias", "conv2d_2/kernel"}, false},
	{"half_plus_two_tf2_cpu", []string{"", "_CHECKPOINTABLE_OBJECT_GRAPH", "a/.ATTRIBUTES/VARIABLE_VALUE",
		"b/.ATTRIBUTES/VARIABLE_VALUE", "c/.ATTRIBUTES/VARIABLE_VALUE"}, true},
	{"rust_regression_savedmodel", []string{"", "_CHECKPOINTABLE_OBJECT_GRAPH", "b/.ATTRIBUTES/VARIABLE_VALUE",
		"optimizer/decay/.ATTRIBUTES/VARIABLE_VALUE", "optimizer/iter/.ATTRIBUTES/VARIABLE_VALUE",
		"optimizer/learning_rate/.ATTRIBUTES/VARIABLE_VALUE", "optimizer/momentum/.ATTRIBUTES/VARIABLE_VALUE",
		"w/.ATTRIBUTES/VARIABLE_VALUE"}, false},
}

type kv struct{ k, v string }

func readAll(t *testing.T, data []byte) ([]kv, error) {
	t.Helper()
	r, err := NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, err
	}
	var got []kv
	err = r.Scan(func(k, v []byte) error {
		got = append(got, kv{string(k), string(v)})
		return nil
	})
	return got, err
}

func TestReadFixtures(t *testing.T) {
	for _, tt := range fixtureTests {
		t.Run(tt.dir, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(fixtures, tt.dir, "variables.index"))
			if err != nil {
				t.Fatal(err)
			}
			got, err := readAll(t, data)
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			for _, e := range got {
				keys = append(keys, e.k)
			}
			if fmt.Sprint(keys) != fmt.Sprint(tt.keys) {
				t.Errorf("keys %q, want %q", keys, tt.keys)
			}
			// The data block's compression byte, as EXPECTED.md records it.
			if typ := data[firstBlockLen(t, data)]; (typ == snappyCompression) != tt.snappy {
				t.Errorf("data block compression type %d, want snappy %v", typ, tt.snappy)
			}
		})
	}
}

// firstBlockLen returns the length of the first data block of the table.
func firstBlockLen(t *testing.T, data []byte) int {
	t.Helper()
	_, n := decodeBlockHandle(data[len(data)-footerLen:])
	ih, _ := decodeBlockHandle(data[len(data)-footerLen+n:])
	var first blockHandle
	err := scanBlock(data[ih.offset:ih.offset+ih.length], func(_, v []byte) error {
		if first.length == 0 {
			first, _ = decodeBlockHandle(v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return int(first.length)
}

// TestWriteMatchesTensorFlow writes the entries of TensorFlow's uncompressed
// fixture indexes and compares the files byte for byte.
func TestWriteMatchesTensorFlow(t *testing.T) {
	for _, tt := range fixtureTests {
		if tt.snappy {
			continue
		}
		t.Run(tt.dir, func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join(fixtures, tt.dir, "variables.index"))
			if err != nil {
				t.Fatal(err)
			}
			entries, err := readAll(t, want)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			w := NewWriter(&buf)
			for _, e := range entries {
				if err := w.Add([]byte(e.k), []byte(e.v)); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			compareBytes(t, buf.Bytes(), want)
		})
	}
}

// compareBytes reports the first offset where got and want differ.
func compareBytes(t *testing.T, got, want []byte) {
	t.Helper()
	if bytes.Equal(got, want) {
		return
	}
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	lo := max(i-8, 0)
	t.Errorf("output differs at byte %d (lengths %d, %d)\ngot  % x\nwant % x", i, len(got), len(want),
		got[lo:min(i+16, len(got))], want[lo:min(i+16, len(want))])
}

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		n    int // entries
		val  int // value length
	}{
		{"empty", 0, 0},
		{"one", 1, 3},
		{"restarts", 40, 10},
		{"many blocks", 3000, 300}, // about 1 MB: 4 data blocks
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want []kv
			for i := range tt.n {
				v := strings.Repeat(string(rune('a'+i%26)), tt.val)
				want = append(want, kv{fmt.Sprintf("unit_%d/sub%d/DW", i/10, i%10), v})
			}
			// Keys must be sorted bytewise.
			for i := 1; i < len(want); i++ {
				for j := i; j > 0 && want[j].k < want[j-1].k; j-- {
					want[j], want[j-1] = want[j-1], want[j]
				}
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
			if err := w.Add([]byte("z"), nil); err == nil {
				t.Error("Add after Close succeeded")
			}
			got, err := readAll(t, buf.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("read %d entries, want %d", len(got), len(want))
			}
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("entry %d: %q, want %q", i, got[i].k, want[i].k)
				}
			}
		})
	}
}

func TestWriterKeyOrder(t *testing.T) {
	w := NewWriter(&bytes.Buffer{})
	if err := w.Add([]byte("b"), nil); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"b", "a"} {
		if err := w.Add([]byte(k), nil); err == nil || !strings.Contains(err.Error(), "added after") {
			t.Errorf("Add(%q) after \"b\": got %v", k, err)
		}
	}
}

func TestSeparator(t *testing.T) {
	tests := []struct{ a, b, sep, succ string }{
		{"c", "d", "c", "d"},
		{"abc", "abe", "abd", "b"},
		{"abc", "abd", "abc", "b"},
		{"ab", "abc", "ab", "b"},
		{"a\xff", "b", "a\xff", "b"},
		{"\xff\xff", "\xff\xff\x01", "\xff\xff", "\xff\xff"},
		{"w/.ATTRIBUTES", "x", "w/.ATTRIBUTES", "x"},
	}
	for _, tt := range tests {
		if got := string(separator(nil, []byte(tt.a), []byte(tt.b))); got != tt.sep {
			t.Errorf("separator(%q, %q) = %q, want %q", tt.a, tt.b, got, tt.sep)
		}
		if got := string(successor(nil, []byte(tt.a))); got != tt.succ {
			t.Errorf("successor(%q) = %q, want %q", tt.a, got, tt.succ)
		}
	}
}

func TestSnappy(t *testing.T) {
	tests := []struct {
		name string
		src  []byte
		want string // "" with err set: an error is expected
		err  bool
	}{
		{"empty", []byte{0}, "", false},
		{"literal", []byte{3, 2 << 2, 'a', 'b', 'c'}, "abc", false},
		{"long literal", append([]byte{61, 60 << 2, 60}, bytes.Repeat([]byte{'x'}, 61)...), strings.Repeat("x", 61), false},
		{"copy1 overlapping", []byte{6, 0, 'a', 1 | 1<<2, 1}, "aaaaaa", false},
		{"copy2", []byte{6, 1 << 2, 'a', 'b', 2 | 3<<2, 2, 0}, "ababab", false},
		{"copy4", []byte{6, 1 << 2, 'a', 'b', 3 | 3<<2, 2, 0, 0, 0}, "ababab", false},
		{"no header", []byte{}, "", true},
		{"zero offset", []byte{6, 0, 'a', 1 | 1<<2, 0}, "", true},
		{"offset before start", []byte{6, 0, 'a', 1 | 1<<2, 2}, "", true},
		{"short output", []byte{5, 2 << 2, 'a', 'b', 'c'}, "", true},
		{"long output", []byte{2, 2 << 2, 'a', 'b', 'c'}, "", true},
		{"literal past end", []byte{3, 2 << 2, 'a'}, "", true},
		{"truncated copy", []byte{6, 0, 'a', 2 | 3<<2, 2}, "", true},
		{"huge length", []byte{0xff, 0xff, 0xff, 0xff, 0x0f, 0}, "", true},
		{"truncated literal length", []byte{61, 61 << 2, 60}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := snappyDecode(tt.src)
			if tt.err {
				if err == nil {
					t.Errorf("decoded %q, want an error", got)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Errorf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// validTable returns a small table of 20 entries in one data block.
func validTable(t testing.TB) []byte {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	for i := range 20 {
		if err := w.Add([]byte(fmt.Sprintf("key%02d", i)), []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestInvalidTables(t *testing.T) {
	good := validTable(t)
	edit := func(f func(b []byte) []byte) []byte {
		return f(bytes.Clone(good))
	}
	footer := len(good) - footerLen
	_, n := decodeBlockHandle(good[footer:])
	indexBH, _ := decodeBlockHandle(good[footer+n:])
	dataLen := firstBlockLen(t, good)
	// reblock replaces the data block with contents b and a valid trailer,
	// keeping the table's other bytes: the block handle length stays, so
	// b must have the old length.
	reblock := func(b []byte) []byte {
		out := bytes.Clone(good)
		copy(out, b)
		binary.LittleEndian.PutUint32(out[dataLen+1:], crc.New(out[:dataLen+1]).Value())
		return out
	}
	tests := []struct {
		name   string
		data   []byte
		verify bool
		err    error
		msg    string
	}{
		{"empty", nil, true, ErrFormat, "shorter than the 48-byte footer"},
		{"zeros", make([]byte, 100), true, ErrFormat, "bad magic number"},
		{"truncated", good[:len(good)-1], true, ErrFormat, "bad magic number"},
		{"bad index handle", edit(func(b []byte) []byte { b[footer+n] = 0xff; b[footer+n+1] = 0xff; return b }), true, ErrFormat, "index block"},
		{"index block crc", edit(func(b []byte) []byte { b[indexBH.offset]++; return b }), true, ErrChecksum, "index block"},
		{"data block crc", edit(func(b []byte) []byte { b[3]++; return b }), true, ErrChecksum, "data block 0"},
		{"compression type", edit(func(b []byte) []byte { b[dataLen] = 7; return b }), false, ErrFormat, "unknown compression type 7"},
		{"restart count", reblock(binary.LittleEndian.AppendUint32(good[:dataLen-4:dataLen-4], 1<<30)), true, ErrFormat, "restart count"},
		{"shared prefix", reblock(append([]byte{5}, good[1:dataLen]...)), true, ErrFormat, "shares 5 bytes"},
		{"value length", reblock(append([]byte{0, 5, 0xff, 0x7f}, good[4:dataLen]...)), true, ErrFormat, "run past the block"},
		{"key order", reblock(append([]byte{0, 5, 1, 'z'}, good[4:dataLen]...)), true, ErrFormat, "does not come after"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewReader(bytes.NewReader(tt.data), int64(len(tt.data)))
			if err == nil {
				r.VerifyChecksums = tt.verify
				err = r.Scan(func(k, v []byte) error { return nil })
			}
			if !errors.Is(err, tt.err) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("got %v, want %v containing %q", err, tt.err, tt.msg)
			}
		})
	}
	// Without checksums, a flipped value byte goes unnoticed.
	bad := edit(func(b []byte) []byte { b[9]++; return b })
	r, err := NewReader(bytes.NewReader(bad), int64(len(bad)))
	if err != nil {
		t.Fatal(err)
	}
	r.VerifyChecksums = false
	if err := r.Scan(func(k, v []byte) error { return nil }); err != nil {
		t.Errorf("scan without checksums: %v", err)
	}
}

func TestScanStops(t *testing.T) {
	good := validTable(t)
	r, err := NewReader(bytes.NewReader(good), int64(len(good)))
	if err != nil {
		t.Fatal(err)
	}
	stop := errors.New("stop")
	calls := 0
	err = r.Scan(func(k, v []byte) error { calls++; return stop })
	if err != stop || calls != 1 {
		t.Errorf("Scan returned %v after %d calls, want %v after 1", err, calls, stop)
	}
}

func FuzzReader(f *testing.F) {
	for _, tt := range fixtureTests {
		data, err := os.ReadFile(filepath.Join(fixtures, tt.dir, "variables.index"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add(validTable(f))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		r.VerifyChecksums = false // let the fuzzer reach the block parser
		_ = r.Scan(func(k, v []byte) error { return nil })
	})
}

// TestHugeBlockHandle: a table whose footer claims a 1 TiB metaindex block
// is an error, not an allocation.
func TestHugeBlockHandle(t *testing.T) {
	good := validTable(t)
	footer := good[len(good)-footerLen:]
	meta, n := decodeBlockHandle(footer)
	index, _ := decodeBlockHandle(footer[n:])
	var f [footerLen]byte
	m := binary.PutUvarint(f[:], meta.offset)
	m += binary.PutUvarint(f[m:], 1<<40)
	m += binary.PutUvarint(f[m:], index.offset)
	binary.PutUvarint(f[m:], index.length)
	copy(f[footerLen-8:], footer[footerLen-8:])
	bad := append(bytes.Clone(good[:len(good)-footerLen]), f[:]...)
	if _, err := NewReader(bytes.NewReader(bad), int64(len(bad))); err == nil {
		t.Error("NewReader accepted a 1 TiB metaindex block")
	}
}
