package ldb

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/golang/snappy"
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

// entriesBlock returns a block of the given keys and values, in the order
// given, with a restart point at each entry (no shared key bytes).
func entriesBlock(kvs ...kv) []byte {
	var b, restarts []byte
	for _, e := range kvs {
		restarts = binary.LittleEndian.AppendUint32(restarts, uint32(len(b)))
		b = binary.AppendUvarint(b, 0)
		b = binary.AppendUvarint(b, uint64(len(e.k)))
		b = binary.AppendUvarint(b, uint64(len(e.v)))
		b = append(append(b, e.k...), e.v...)
	}
	if len(kvs) == 0 {
		restarts = binary.LittleEndian.AppendUint32(restarts, 0)
	}
	b = append(b, restarts...)
	return binary.LittleEndian.AppendUint32(b, uint32(len(restarts)/4))
}

// handle encodes a block handle.
func handle(off, length uint64) []byte {
	return binary.AppendUvarint(binary.AppendUvarint(nil, off), length)
}

// handleOf decodes the block handle h.
func handleOf(h []byte) (off, length uint64) {
	off, length, _ = decodeBlockHandle(h)
	return off, length
}

// multiBlock returns a table of n data blocks, block i holding the key
// "k<i>" with a value of size bytes, after fix has had its way with the
// data blocks' handles (which it may replace). Checksums are all correct.
func multiBlock(n, size int, fix func(handles [][]byte)) []byte {
	var t tableBuilder
	var handles [][]byte
	for i := range n {
		handles = append(handles, t.block(entriesBlock(kv{fmt.Sprintf("k%d", i), strings.Repeat("v", size)}), 0))
	}
	if fix != nil {
		fix(handles)
	}
	meta := t.block(emptyBlock, 0)
	var index []kv
	for i, h := range handles {
		index = append(index, kv{fmt.Sprintf("k%d", i), string(h)})
	}
	return t.finish(meta, t.block(entriesBlock(index...), 0))
}

// snappyClaim is a Snappy block whose header claims n decoded bytes, then
// one literal byte.
func snappyClaim(n uint64) []byte {
	return append(binary.AppendUvarint(nil, n), 0, 'x')
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
		{"index block byte", flip(int(io) + 2), ErrChecksum, "index block of"},
		{"data block byte", flip(3), ErrChecksum, "at byte 0: data block of 22 bytes: checksum mismatch"},
		{"empty metaindex block", zeroMeta, ErrFormat, "goleveldb panicked"},
		{"compression type", withData(emptyBlock, 7), ErrFormat, "unknown compression type 0x7"},
		{"entry lengths", withData(append([]byte{0, 5, 0xff, 0x7f}, emptyBlock...), 0), ErrFormat, "entries corrupted"},
		{"restart count", withData([]byte{0, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f}, 0), ErrFormat, "entries offset not aligned"},
		// The next two claims come from a well-formed index block with a
		// correct checksum; TestCraftedClaims has more.
		{"data block past the end", withDataHandle(1000, 8), ErrFormat, "index block entry 0: data block [1000, +8)"},
		{"data block of 2^62 bytes", withDataHandle(0, 1<<62), ErrFormat, "data block [0, +4611686018427387904)"},
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

// TestCraftedClaims: tables whose checksums are all correct but whose
// footer or index block claim blocks larger than the file, overlapping
// blocks, or Snappy blocks that decode to gigabytes are refused by
// NewReader, naming the claim, and reading them (NewReader, then Scan if it
// succeeded) allocates less than twice the file's size in all. (goleveldb would allocate the claims first; see
// the comment at the top of ldb.go.)
func TestCraftedClaims(t *testing.T) {
	const blocks, size = 4, 16 << 10 // 64 KiB of data blocks
	claim := func(i int, length uint64) func([][]byte) {
		return func(h [][]byte) {
			off, _ := handleOf(h[i])
			h[i] = handle(off, length)
		}
	}
	// snappyTable has one Snappy block, the data, metaindex or index
	// block, claiming gigabytes.
	snappyTable := func(data, meta, index bool) []byte {
		var t tableBuilder
		t.block(entriesBlock(kv{"pad", strings.Repeat("v", blocks*size)}), 0)
		h := t.block(emptyBlock, 0)
		if data {
			h = t.block(snappyClaim(1<<31), 1)
		}
		m := t.block(emptyBlock, 0)
		if meta {
			m = t.block(snappyClaim(1<<31), 1)
		}
		if index {
			return t.finish(m, t.block(snappyClaim(4<<30-1), 1))
		}
		return t.finish(m, t.block(indexBlock(h), 0))
	}
	tests := []struct {
		name string
		data []byte
		want error
		msg  string
	}{
		{"4 GiB data block", multiBlock(blocks, size, claim(2, 4<<30)), ErrFormat, "index block entry 2: data block [32808, +4294967296) and its 5-byte trailer do not lie in [32808, 65616)"},
		{"1 TiB data block", multiBlock(blocks, size, claim(0, 1<<40)), ErrFormat, "index block entry 0: data block [0, +1099511627776)"},
		{"2^62-byte data block", multiBlock(blocks, size, claim(3, 1<<62)), ErrFormat, "index block entry 3: data block [49212, +4611686018427387904)"},
		{"data block on the metaindex", multiBlock(blocks, size, func(h [][]byte) {
			off, length := handleOf(h[3])
			h[3] = handle(off, length+6)
		}), ErrFormat, "before the metaindex block"},
		{"same block twice", multiBlock(blocks, size, func(h [][]byte) { h[2] = h[1] }), ErrFormat, "index block entry 2: data block [16404, +16399) and its 5-byte trailer do not lie in [32808, 65616)"},
		{"blocks out of order", multiBlock(blocks, size, func(h [][]byte) { h[1], h[2] = h[2], h[1] }), ErrFormat, "index block entry 2"},
		{"Snappy data block of 2 GiB", snappyTable(true, false, false), ErrFormat, "data block of 7 bytes: Snappy header claims 2147483648 decoded bytes, more than the 192 it can hold"},
		{"Snappy metaindex block of 2 GiB", snappyTable(false, true, false), ErrFormat, "metaindex block of 7 bytes: Snappy header claims"},
		{"Snappy index block of 4 GiB", snappyTable(false, false, true), ErrFormat, "index block of 7 bytes: Snappy header claims 4294967295"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := scanAll(tc.data)
			runtime.ReadMemStats(&after)
			var e *Error
			if !errors.Is(err, tc.want) || !errors.As(err, &e) || !strings.Contains(fmt.Sprint(err), tc.msg) {
				t.Errorf("got %v, want an *Error wrapping %v containing %q", err, tc.want, tc.msg)
			}
			alloc := after.TotalAlloc - before.TotalAlloc
			if alloc >= 2*uint64(len(tc.data)) {
				t.Errorf("allocated %d bytes for a %d-byte table, want less than twice its size", alloc, len(tc.data))
			}
			t.Logf("%d-byte table: allocated %d bytes (%.2f×)", len(tc.data), alloc, float64(alloc)/float64(len(tc.data)))
		})
	}
	// The same table without the crafted claim reads.
	if got, err := scanAll(multiBlock(blocks, size, nil)); err != nil || len(got) != blocks {
		t.Errorf("honest table: %d entries, %v", len(got), err)
	}
}

// TestKeyOrder: keys out of order or repeated, within a data block or
// across two, stop Scan with an *Error naming the key.
func TestKeyOrder(t *testing.T) {
	twoBlocks := func(a, b []kv) []byte {
		var t tableBuilder
		ha := t.block(entriesBlock(a...), 0)
		hb := t.block(entriesBlock(b...), 0)
		meta := t.block(emptyBlock, 0)
		return t.finish(meta, t.block(entriesBlock(kv{"m", string(ha)}, kv{"z", string(hb)}), 0))
	}
	tests := []struct {
		name string
		data []byte
		key  string // the key named
		msg  string
		seen int // keys passed to fn before the error
	}{
		{"out of order", withData(entriesBlock(kv{"a", "1"}, kv{"c", "2"}, kv{"b", "3"}), 0), "b", `key "b" is out of order: it follows "c"`, 2},
		{"duplicate", withData(entriesBlock(kv{"a", "1"}, kv{"a", "2"}), 0), "a", `duplicate key "a"`, 1},
		{"duplicate empty key", withData(entriesBlock(kv{"", "1"}, kv{"", "2"}), 0), "", `duplicate key ""`, 1},
		{"prefix after longer", withData(entriesBlock(kv{"ab", "1"}, kv{"a", "2"}), 0), "a", `key "a" is out of order: it follows "ab"`, 1},
		{"across blocks", twoBlocks([]kv{{"a", "1"}, {"m", "2"}}, []kv{{"b", "3"}}), "b", `key "b" is out of order: it follows "m"`, 2},
		{"duplicate across blocks", twoBlocks([]kv{{"a", "1"}, {"m", "2"}}, []kv{{"m", "3"}}), "m", `duplicate key "m"`, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewReader(bytes.NewReader(tc.data), int64(len(tc.data)))
			if err != nil {
				t.Fatal(err)
			}
			seen := 0
			err = r.Scan(func(k, v []byte) error { seen++; return nil })
			var e *Error
			if !errors.Is(err, ErrFormat) || !errors.As(err, &e) || e.Key != tc.key || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("got %v, want an *Error wrapping ErrFormat for key %q containing %q", err, tc.key, tc.msg)
			}
			if seen != tc.seen {
				t.Errorf("fn saw %d keys before the error, want %d", seen, tc.seen)
			}
		})
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
// error other than ErrFormat or ErrChecksum, and that the keys it returns
// increase. The checksums stop most
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
	// Crafted tables with correct checksums (see TestCraftedClaims and
	// TestKeyOrder), so that mutations start past the checksums.
	f.Add(multiBlock(3, 100, nil))
	f.Add(multiBlock(3, 100, func(h [][]byte) { h[2] = h[1] }))
	f.Add(multiBlock(2, 100, func(h [][]byte) {
		off, _ := handleOf(h[1])
		h[1] = handle(off, 4<<30)
	}))
	f.Add(withData(snappyClaim(1<<31), 1))
	f.Add(withData(entriesBlock(kv{"a", "1"}, kv{"c", "2"}, kv{"b", "3"}), 0))
	f.Add(withData(entriesBlock(kv{"a", "1"}, kv{"a", "2"}), 0))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := scanAll(data)
		if err != nil && !errors.Is(err, ErrFormat) && !errors.Is(err, ErrChecksum) {
			t.Fatalf("error %v is neither ErrFormat nor ErrChecksum", err)
		}
		for i := 1; i < len(got); i++ {
			if got[i-1].k >= got[i].k {
				t.Fatalf("key %q after %q", got[i].k, got[i-1].k)
			}
		}
	})
}

// FuzzBlocks assembles a table from a fuzzed data block and index block
// with correct checksums, so that mutations reach goleveldb's block parser
// and this package's index check instead of failing the checksums. No input
// may make the reader panic, return keys out of order, or allocate more
// than the file can justify (64 times its size, the most Snappy blocks
// could decode to, plus 1 MiB).
func FuzzBlocks(f *testing.F) {
	f.Add(entriesBlock(kv{"a", "1"}, kv{"b", "2"}), indexBlock(handle(0, 18)), byte(0), byte(0))
	f.Add(entriesBlock(kv{"a", "1"}, kv{"b", "2"}), indexBlock(handle(0, 1<<32)), byte(0), byte(0))
	f.Add(entriesBlock(kv{"b", "1"}, kv{"a", "2"}), indexBlock(handle(0, 18)), byte(0), byte(0))
	f.Add(snappyClaim(1<<31), indexBlock(handle(0, 7)), byte(1), byte(0))
	f.Add(emptyBlock, snappyClaim(1<<20), byte(0), byte(1))
	f.Add(emptyBlock, entriesBlock(kv{"a", string(handle(0, 8))}, kv{"b", string(handle(0, 8))}), byte(0), byte(0))
	f.Add(snappy.Encode(nil, entriesBlock(kv{"a", strings.Repeat("x", 100)})), snappy.Encode(nil, indexBlock(handle(0, 20))), byte(1), byte(1))
	f.Fuzz(func(t *testing.T, data, index []byte, dataType, indexType byte) {
		var tb tableBuilder
		tb.block(data, dataType%3) // 2: an unknown compression type
		meta := tb.block(emptyBlock, 0)
		table := tb.finish(meta, tb.block(index, indexType%3))
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		got, err := scanAll(table)
		runtime.ReadMemStats(&after)
		if err != nil && !errors.Is(err, ErrFormat) && !errors.Is(err, ErrChecksum) {
			t.Fatalf("error %v is neither ErrFormat nor ErrChecksum", err)
		}
		for i := 1; i < len(got); i++ {
			if got[i-1].k >= got[i].k {
				t.Fatalf("key %q after %q", got[i].k, got[i-1].k)
			}
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64*uint64(len(table))+1<<20 {
			t.Fatalf("allocated %d bytes reading a %d-byte table", alloc, len(table))
		}
	})
}
