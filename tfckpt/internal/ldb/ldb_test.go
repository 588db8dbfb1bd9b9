package ldb

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/syndtr/goleveldb/leveldb/util"
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

// maskedCRC is the masked CRC-32C of a block and its type byte, as LevelDB
// stores it in a block trailer.
func maskedCRC(b []byte) uint32 { return util.NewCRC(b).Value() }

// tableBuilder assembles a table from raw blocks, for corrupt tables whose
// checksums are right.
type tableBuilder struct{ out []byte }

// block appends block contents b with compression type typ and a correct
// trailer, and returns the block's handle.
func (t *tableBuilder) block(b []byte, typ byte) []byte {
	h := binary.AppendUvarint(binary.AppendUvarint(nil, uint64(len(t.out))), uint64(len(b)))
	t.out = append(append(t.out, b...), typ)
	t.out = binary.LittleEndian.AppendUint32(t.out, maskedCRC(append(bytes.Clone(b), typ)))
	return h
}

// finish appends the footer with the given handles and returns the table.
func (t *tableBuilder) finish(meta, index []byte) []byte {
	var f [footerLen]byte
	copy(f[copy(f[:], meta):], index)
	binary.LittleEndian.PutUint64(f[footerLen-8:], magic)
	return append(t.out, f[:]...)
}

// emptyBlock is a block of no entries: one restart point at 0 and the count.
var emptyBlock = []byte{0, 0, 0, 0, 1, 0, 0, 0}

// indexBlock returns an index block of one entry, key "z", pointing at the
// given data block handle.
func indexBlock(handle []byte) []byte {
	b := append([]byte{0, 1, byte(len(handle)), 'z'}, handle...)
	return append(b, 0, 0, 0, 0, 1, 0, 0, 0)
}

// withData returns a table of the given data block (of compression type typ)
// under a correct index block.
func withData(data []byte, typ byte) []byte {
	var t tableBuilder
	h := t.block(data, typ)
	meta := t.block(emptyBlock, 0)
	return t.finish(meta, t.block(indexBlock(h), 0))
}

// withDataHandle returns a table whose index block, checksum and all, claims
// a data block at the given offset and length.
func withDataHandle(offset, length uint64) []byte {
	var t tableBuilder
	t.block(emptyBlock, 0)
	meta := t.block(emptyBlock, 0)
	h := binary.AppendUvarint(binary.AppendUvarint(nil, offset), length)
	return t.finish(meta, t.block(indexBlock(h), 0))
}

// hugeFile is a file that claims to be larger than MaxSize and must not be
// read.
type hugeFile struct{}

func (hugeFile) ReadAt(p []byte, off int64) (int, error) { return 0, errors.New("hugeFile read") }

func TestCorruptTables(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	w.Add([]byte("a"), []byte("some value"))
	w.Close()
	good := buf.Bytes()
	end := len(good) - footerLen
	_, _, n := decodeBlockHandle(good[end:])
	io, _, m := decodeBlockHandle(good[end+n:])
	meta, index := good[end:end+n], good[end+n:end+n+m]
	flip := func(off int) []byte {
		b := bytes.Clone(good)
		b[off] ^= 0x40
		return b
	}
	footer := func(meta, index []byte) []byte {
		t := tableBuilder{out: bytes.Clone(good[:end])}
		return t.finish(meta, index)
	}
	handle := func(off, length uint64) []byte {
		return binary.AppendUvarint(binary.AppendUvarint(nil, off), length)
	}
	zeroMeta := func() []byte { // a metaindex block of 0 bytes: no restart count
		t := tableBuilder{out: bytes.Clone(good[:end])}
		return t.finish(t.block(nil, 0), index)
	}()
	for _, tc := range []struct {
		name string
		data []byte
		want error
		msg  string
	}{
		{"empty", nil, ErrFormat, "file of 0 bytes is shorter than the 48-byte footer"},
		{"zeros", make([]byte, 100), ErrFormat, "bad magic number 0x0000000000000000"},
		{"truncated", good[:len(good)-1], ErrFormat, "bad magic number"},
		{"bad magic", flip(len(good) - 1), ErrFormat, "bad magic number"},
		{"bad metaindex handle", footer(bytes.Repeat([]byte{0xff}, 11), nil), ErrFormat, "bad metaindex block handle"},
		{"bad index handle", footer(meta, bytes.Repeat([]byte{0xff}, 11)), ErrFormat, "bad index block handle"},
		{"huge metaindex block", footer(handle(27, 1<<40), index), ErrFormat, "metaindex block [27, +1099511627776) and its 5-byte trailer run past"},
		{"huge index block", footer(meta, handle(0, 1<<62)), ErrFormat, "index block [0, +4611686018427387904)"},
		{"index block past the footer", footer(meta, handle(uint64(end-4), 0)), ErrFormat, "run past the"},
		{"index block byte", flip(int(io) + 2), ErrChecksum, "index-block of"},
		{"data block byte", flip(3), ErrChecksum, "at byte 0: data-block of 22 bytes: checksum mismatch"},
		{"empty metaindex block", zeroMeta, ErrFormat, "goleveldb panicked"},
		{"compression type", withData(emptyBlock, 7), ErrFormat, "unknown compression type 0x7"},
		{"entry lengths", withData(append([]byte{0, 5, 0xff, 0x7f}, emptyBlock...), 0), ErrFormat, "entries corrupted"},
		{"restart count", withData([]byte{0, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f}, 0), ErrFormat, "entries offset not aligned"},
		// The next two claims come from a well-formed index block, which
		// only StrictAll's checksum protects: goleveldb allocates the
		// claimed length before reading. See the package comment.
		{"data block past the end", withDataHandle(1000, 8), ErrChecksum, "data-block"},
		{"data block of 2^62 bytes", withDataHandle(0, 1<<62), ErrFormat, "makeslice: len out of range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := scanAll(tc.data)
			if !errors.Is(err, tc.want) || !strings.Contains(fmt.Sprint(err), tc.msg) {
				t.Errorf("got %v, want %v containing %q", err, tc.want, tc.msg)
			}
		})
	}
	if _, err := NewReader(hugeFile{}, MaxSize+1); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "larger than the 67108864-byte limit") {
		t.Errorf("table larger than MaxSize: %v", err)
	}
}

// TestScanStops: Scan returns fn's error unchanged and lets fn's panics
// through.
func TestScanStops(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	for _, k := range []string{"a", "b"} {
		w.Add([]byte(k), nil)
	}
	w.Close()
	r, err := NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	stop := errors.New("stop")
	calls := 0
	if err := r.Scan(func(k, v []byte) error { calls++; return stop }); err != stop || calls != 1 {
		t.Errorf("Scan returned %v after %d calls, want %v after 1", err, calls, stop)
	}
	defer func() {
		if p := recover(); p != "fn" {
			t.Errorf("recovered %v, want fn's panic", p)
		}
	}()
	r.Scan(func(k, v []byte) error { panic("fn") })
	t.Error("Scan swallowed fn's panic")
}

// FuzzReader checks that no input makes the reader panic or return an
// error other than ErrFormat or ErrChecksum. The checksums stop most
// mutations before goleveldb parses a block; FuzzBundle in package tfckpt
// fuzzes the entries inside well-formed tables.
func FuzzReader(f *testing.F) {
	for _, dir := range []string{"half_plus_two_cpu", "half_plus_three", "half_plus_two_mkl", "half_plus_two_tf2_cpu", "rust_regression_savedmodel"} {
		data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "tfckpt", dir, "variables.index"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add(withData(emptyBlock, 0))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := scanAll(data)
		if err != nil && !errors.Is(err, ErrFormat) && !errors.Is(err, ErrChecksum) {
			t.Fatalf("error %v is neither ErrFormat nor ErrChecksum", err)
		}
	})
}
