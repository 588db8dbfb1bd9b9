package tfckpt

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"confrobust/tfckpt/internal/ldb"

	"github.com/syndtr/goleveldb/leveldb/util"
)

const fixtureDir = "testdata/tfckpt"

func fixturePrefix(dir string) string { return filepath.Join(fixtureDir, dir, "variables") }

// wantEntry is one tensor of a fixture as testdata/tfckpt/EXPECTED.md gives
// it: the values marked [S] there come from the scripts that wrote the
// checkpoints, the others from an independent Python parser.
type wantEntry struct {
	key    string
	dtype  DType
	shape  []int
	offset int64
	size   int64
	crc    uint32
	values []float64 // numeric tensors
	str    string    // string tensors: hex of the first bytes of the only element
	strLen int
}

func f32(key string, shape []int, off int64, crc uint32, v ...float64) wantEntry {
	return wantEntry{key: key, dtype: DTFloat, shape: shape, offset: off, size: 4 * int64(len(v)), crc: crc, values: v}
}

const (
	crcHalf  = 0x1f273806 // masked CRC-32C of float32 0.5
	crcTwo   = 0x4f78fd10 // 2.0
	crcThree = 0xc382d6ef // 3.0
	crcZero  = 0x3a117ba6 // 0.0
	attr     = "/.ATTRIBUTES/VARIABLE_VALUE"
)

var bundleTests = []struct {
	dir     string
	snappy  bool // the index's data block is Snappy-compressed
	entries []wantEntry
}{
	{"half_plus_three", false, []wantEntry{
		f32("a", nil, 0, crcHalf, 0.5), f32("b", nil, 4, crcThree, 3), f32("c", nil, 8, crcThree, 3)}},
	{"half_plus_two_cpu", true, []wantEntry{
		f32("a", nil, 0, crcHalf, 0.5), f32("a2", nil, 4, crcHalf, 0.5), f32("b", nil, 8, crcTwo, 2),
		f32("c", nil, 12, crcThree, 3), f32("c2", nil, 16, crcThree, 3)}},
	{"half_plus_two_mkl", false, []wantEntry{
		f32("a", nil, 0, crcHalf, 0.5), f32("b", nil, 4, crcTwo, 2), f32("c", nil, 8, crcThree, 3),
		f32("conv2d/bias", []int{1}, 12, crcZero, 0),
		f32("conv2d/kernel", []int{1, 1, 1, 1}, 16, 0x8071c907, -0.5223959684371948),
		f32("conv2d_1/bias", []int{1}, 20, crcZero, 0),
		f32("conv2d_1/kernel", []int{1, 1, 1, 1}, 24, 0x33bb5594, -1.0451120138168335),
		f32("conv2d_2/bias", []int{1}, 28, crcZero, 0),
		f32("conv2d_2/kernel", []int{1, 1, 1, 1}, 32, 0xff6a0eeb, 1.577943205833435)}},
	{"half_plus_two_tf2_cpu", true, []wantEntry{
		{key: "_CHECKPOINTABLE_OBJECT_GRAPH", dtype: DTString, offset: 12, size: 619, crc: 0x47b7d190, str: "0a98010a0512016108", strLen: 613},
		f32("a"+attr, nil, 0, crcHalf, 0.5), f32("b"+attr, nil, 4, crcTwo, 2), f32("c"+attr, nil, 8, crcThree, 3)}},
	{"rust_regression_savedmodel", false, []wantEntry{
		{key: "_CHECKPOINTABLE_OBJECT_GRAPH", dtype: DTString, offset: 28, size: 537, crc: 0xa3df44eb, str: "0a2d0a0508011201770a0508", strLen: 531},
		f32("b"+attr, []int{1}, 4, crcZero, 0),
		f32("optimizer/decay"+attr, nil, 16, crcZero, 0),
		{key: "optimizer/iter" + attr, dtype: DTInt64, offset: 8, size: 8, crc: 0x07980329, values: []float64{0}},
		f32("optimizer/learning_rate"+attr, nil, 20, crcHalf, 0.5),
		f32("optimizer/momentum"+attr, nil, 24, crcZero, 0),
		f32("w"+attr, []int{1}, 0, 0xe0c6ec66, 0.20429754257202148)}},
}

func TestReadFixtures(t *testing.T) {
	for _, tt := range bundleTests {
		t.Run(tt.dir, func(t *testing.T) {
			t.Parallel()
			b, err := OpenBundle(fixturePrefix(tt.dir))
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			if h := b.Header(); h.NumShards != 1 || h.BigEndian || h.Producer != 1 || h.MinConsumer != 0 || len(h.BadConsumers) != 0 {
				t.Errorf("header %+v, want 1 shard, little-endian, producer 1", h)
			}
			entries := b.Entries()
			if len(entries) != len(tt.entries) {
				t.Fatalf("%d entries, want %d", len(entries), len(tt.entries))
			}
			for i, w := range tt.entries {
				e := entries[i]
				if e.Key != w.key || e.DType != w.dtype || !slices.Equal(e.Shape, w.shape) || e.Shard != 0 ||
					e.Offset != w.offset || e.Size != w.size || e.CRC32C != w.crc || e.Slices != 0 {
					t.Errorf("entry %d: %+v\nwant %+v", i, e, w)
				}
				tensor, err := b.Tensor(w.key)
				if err != nil {
					t.Errorf("%s: %v", w.key, err)
					continue
				}
				if w.dtype == DTString {
					if len(tensor.Strings) != 1 || len(tensor.Strings[0]) != w.strLen || !strings.HasPrefix(hex.EncodeToString(tensor.Strings[0]), w.str) {
						t.Errorf("%s: %d strings, want one of %d bytes starting %s", w.key, len(tensor.Strings), w.strLen, w.str)
					}
					continue
				}
				got, err := tensor.Float64s()
				if err != nil || len(got) != len(w.values) {
					t.Errorf("%s: values %v, %v; want %v", w.key, got, err, w.values)
					continue
				}
				for j := range got {
					if float32(got[j]) != float32(w.values[j]) {
						t.Errorf("%s[%d] = %v, want %v", w.key, j, got[j], w.values[j])
					}
				}
				if w.dtype == DTFloat {
					dst := make([]float32, len(w.values))
					if err := b.ReadFloat32(dst, w.key); err != nil || float32(w.values[0]) != dst[0] {
						t.Errorf("ReadFloat32(%s) = %v, %v; want %v", w.key, dst, err, w.values)
					}
				}
			}
			if err := b.Verify(); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestWriteMatchesTensorFlow rewrites every fixture's tensors in the order
// of their data offsets and compares the files TensorFlow wrote with ours
// byte for byte (the index only where TensorFlow did not compress it).
func TestWriteMatchesTensorFlow(t *testing.T) {
	for _, tt := range bundleTests {
		t.Run(tt.dir, func(t *testing.T) {
			t.Parallel()
			src := fixturePrefix(tt.dir)
			b, err := OpenBundle(src)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			entries := b.Entries()
			slices.SortFunc(entries, func(x, y Entry) int { return int(x.Offset - y.Offset) })
			dst := filepath.Join(t.TempDir(), "variables")
			w, err := CreateBundle(dst)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				tensor, err := b.Tensor(e.Key)
				if err != nil {
					t.Fatal(err)
				}
				if err := w.Add(e.Key, tensor); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			files := []string{ShardPath("", 0, 1)}
			if !tt.snappy {
				files = append(files, IndexPath(""))
			}
			for _, suffix := range files {
				compareFiles(t, dst+suffix, src+suffix)
			}
			checkIndex(t, IndexPath(dst))
			// Whatever the index bytes, the entries must be the same.
			c, err := OpenBundle(dst)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			got := c.Entries()
			slices.SortFunc(entries, func(x, y Entry) int { return strings.Compare(x.Key, y.Key) })
			for i := range got {
				if !equalEntries(got[i], entries[i]) {
					t.Errorf("entry %d: %+v, want %+v", i, got[i], entries[i])
				}
			}
			if err := c.Verify(); err != nil {
				t.Error(err)
			}
		})
	}
}

// checkIndex reads the index file at path with goleveldb (every block
// checksum verified) and checks what TensorFlow's reader requires of it: the
// header entry first, then the keys in strictly increasing byte order.
func checkIndex(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r, err := ldb.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	err = r.Scan(func(k, v []byte) error {
		keys = append(keys, string(k))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) == 0 || keys[0] != "" {
		t.Errorf("%s: keys %q, want the header key first", path, keys)
	}
	for i := 1; i < len(keys); i++ {
		if keys[i-1] >= keys[i] {
			t.Errorf("%s: key %q after %q", path, keys[i], keys[i-1])
		}
	}
}

// TestCRC: goleveldb's util.CRC, which this package uses for tensor data,
// is TensorFlow's masked CRC-32C.
func TestCRC(t *testing.T) {
	mask := func(c uint32) uint32 { return (c>>15 | c<<17) + 0xa282ead8 }
	tests := []struct {
		name   string
		data   []byte
		masked uint32
	}{
		{"check", []byte("123456789"), mask(0xe3069283)}, // the CRC-32C check value
		{"0.5", []byte{0, 0, 0, 0x3f}, crcHalf},
		{"2.0", []byte{0, 0, 0, 0x40}, crcTwo},
		{"3.0", []byte{0, 0, 0x40, 0x40}, crcThree},
		{"0.0", []byte{0, 0, 0, 0}, crcZero},
	}
	for _, tt := range tests {
		c := util.NewCRC(tt.data)
		if c.Value() != tt.masked {
			t.Errorf("%s: Value = %#08x, want %#08x", tt.name, c.Value(), tt.masked)
		}
		h := len(tt.data) / 2
		if got := util.NewCRC(tt.data[:h]).Update(tt.data[h:]); got != c {
			t.Errorf("%s: split Update = %#08x, want %#08x", tt.name, uint32(got), uint32(c))
		}
	}
}

func equalEntries(a, b Entry) bool {
	return a.Key == b.Key && a.DType == b.DType && slices.Equal(a.Shape, b.Shape) && a.Shard == b.Shard &&
		a.Offset == b.Offset && a.Size == b.Size && a.CRC32C == b.CRC32C && a.Slices == b.Slices
}

// compareFiles reports the first byte where two files differ.
func compareFiles(t *testing.T, got, want string) {
	t.Helper()
	g, err := os.ReadFile(got)
	if err != nil {
		t.Fatal(err)
	}
	w, err := os.ReadFile(want)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(g, w) {
		return
	}
	i := 0
	for i < len(g) && i < len(w) && g[i] == w[i] {
		i++
	}
	lo := max(i-8, 0)
	t.Errorf("%s differs from %s at byte %d (lengths %d, %d)\ngot  % x\nwant % x", filepath.Base(got), want, i, len(g), len(w),
		g[lo:min(i+16, len(g))], w[lo:min(i+16, len(w))])
}

// roundTripTensors covers every type the writer stores.
func roundTripTensors() map[string]*Tensor {
	le := binary.LittleEndian
	seq := func(n, size int) []byte {
		b := make([]byte, n*size)
		for i := range b {
			b[i] = byte(i*7 + 1)
		}
		return b
	}
	half := []byte{}
	for _, h := range []uint16{0x3c00, 0xc000, 0x0001, 0x7c00, 0x0000, 0x3555} { // 1, -2, 2^-24, +Inf, 0, 0.333
		half = le.AppendUint16(half, h)
	}
	ts := map[string]*Tensor{
		"scalar/float64":  {DType: DTDouble, Data: le.AppendUint64(nil, math.Float64bits(-1.25))},
		"float16":         {DType: DTHalf, Shape: []int{2, 3}, Data: half},
		"bfloat16":        {DType: DTBfloat16, Shape: []int{2}, Data: []byte{0x80, 0x3f, 0x20, 0xc1}}, // 1, -10
		"int8":            {DType: DTInt8, Shape: []int{3}, Data: []byte{0xff, 0x80, 0x7f}},
		"uint8":           {DType: DTUint8, Shape: []int{4}, Data: seq(4, 1)},
		"int16":           {DType: DTInt16, Shape: []int{2}, Data: seq(2, 2)},
		"uint16":          {DType: DTUint16, Shape: []int{2}, Data: seq(2, 2)},
		"int32":           {DType: DTInt32, Shape: []int{1, 2}, Data: le.AppendUint32(le.AppendUint32(nil, 7), math.MaxUint32)},
		"uint32":          {DType: DTUint32, Shape: []int{3}, Data: seq(3, 4)},
		"int64":           {DType: DTInt64, Shape: []int{2}, Data: le.AppendUint64(le.AppendUint64(nil, 70000), math.MaxUint64)},
		"uint64":          {DType: DTUint64, Shape: []int{2}, Data: seq(2, 8)},
		"bool":            {DType: DTBool, Shape: []int{3}, Data: []byte{1, 0, 1}},
		"complex64":       {DType: DTComplex64, Shape: []int{2}, Data: seq(2, 8)},
		"complex128":      {DType: DTComplex128, Shape: []int{1}, Data: seq(1, 16)},
		"empty/float":     {DType: DTFloat, Shape: []int{0, 3}, Data: []byte{}},
		"strings":         {DType: DTString, Shape: []int{2, 2}, Strings: [][]byte{[]byte("a"), {}, bytes.Repeat([]byte("xyz"), 100), []byte("last")}},
		"strings/empty":   {DType: DTString, Shape: []int{0}, Strings: [][]byte{}},
		"unit_1_0/sub/DW": nil, // filled by AddFloat32
	}
	return ts
}

// bigFloats are the values written with AddFloat32: several write chunks.
func bigFloats() ([]int, []float32) {
	shape := []int{3, 3, 40, 160}
	v := make([]float32, 3*3*40*160)
	for i := range v {
		v[i] = float32(math.Sin(float64(i))) * 3
	}
	return shape, v
}

func writeRoundTrip(t *testing.T, prefix string) map[string]*Tensor {
	t.Helper()
	ts := roundTripTensors()
	w, err := CreateBundle(prefix)
	if err != nil {
		t.Fatal(err)
	}
	keys := make([]string, 0, len(ts))
	for k := range ts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	slices.Reverse(keys) // the data order need not be the key order
	for _, k := range keys {
		if ts[k] == nil {
			shape, v := bigFloats()
			if err := w.AddFloat32(k, shape, v); err != nil {
				t.Fatal(err)
			}
			ts[k], err = NewFloat32Tensor(shape, v)
			if err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := w.Add(k, ts[k]); err != nil {
			t.Fatalf("Add(%s): %v", k, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return ts
}

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	prefix := filepath.Join(dir, "sub", "model-10")
	want := writeRoundTrip(t, prefix)
	if names, _ := filepath.Glob(filepath.Join(dir, "sub", "*")); len(names) != 2 {
		t.Errorf("files %q, want the index and one shard (no temporary files)", names)
	}
	checkIndex(t, IndexPath(prefix))
	b, err := OpenBundle(prefix)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if len(b.Entries()) != len(want) {
		t.Errorf("%d entries, want %d", len(b.Entries()), len(want))
	}
	for key, w := range want {
		got, err := b.Tensor(key)
		if err != nil {
			t.Errorf("%s: %v", key, err)
			continue
		}
		if got.DType != w.DType || !slices.Equal(got.Shape, w.Shape) || !bytes.Equal(got.Data, w.Data) || len(got.Strings) != len(w.Strings) {
			t.Errorf("%s: got %v %v %d bytes %d strings, want %v %v %d bytes %d strings", key,
				got.DType, got.Shape, len(got.Data), len(got.Strings), w.DType, w.Shape, len(w.Data), len(w.Strings))
			continue
		}
		for i := range got.Strings {
			if !bytes.Equal(got.Strings[i], w.Strings[i]) {
				t.Errorf("%s: string %d is %q, want %q", key, i, got.Strings[i], w.Strings[i])
			}
		}
	}
	_, v := bigFloats()
	dst := make([]float32, len(v))
	if err := b.ReadFloat32(dst, "unit_1_0/sub/DW"); err != nil || !slices.Equal(dst, v) {
		t.Errorf("ReadFloat32: %v, equal %v", err, slices.Equal(dst, v))
	}
	if err := b.Verify(); err != nil {
		t.Error(err)
	}
}

func TestTensorValues(t *testing.T) {
	ts := roundTripTensors()
	tests := []struct {
		key  string
		want []float64
	}{
		{"scalar/float64", []float64{-1.25}},
		{"float16", []float64{1, -2, 0x1p-24, math.Inf(1), 0, 0.333251953125}},
		{"bfloat16", []float64{1, -10}},
		{"int8", []float64{-1, -128, 127}},
		{"int32", []float64{7, -1}},
		{"int64", []float64{70000, -1}},
		{"bool", []float64{1, 0, 1}},
	}
	for _, tt := range tests {
		got, err := ts[tt.key].Float64s()
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("%s: Float64s = %v, %v; want %v", tt.key, got, err, tt.want)
		}
	}
	for _, key := range []string{"complex64", "strings"} {
		if _, err := ts[key].Float64s(); !errors.Is(err, ErrDType) {
			t.Errorf("%s: Float64s error %v, want ErrDType", key, err)
		}
	}
	if _, err := ts["int64"].Float32s(); !errors.Is(err, ErrDType) {
		t.Errorf("int64 as float32: %v, want ErrDType", err)
	}
	if v, err := ts["int64"].Int64s(); err != nil || !slices.Equal(v, []int64{70000, -1}) {
		t.Errorf("Int64s = %v, %v", v, err)
	}
}

func TestWriterErrors(t *testing.T) {
	w, err := CreateBundle(filepath.Join(t.TempDir(), "ckpt"))
	if err != nil {
		t.Fatal(err)
	}
	scalar, _ := NewFloat32Tensor(nil, []float32{1})
	tests := []struct {
		name string
		add  func() error
		msg  string
	}{
		{"empty key", func() error { return w.Add("", scalar) }, "empty key"},
		{"shape mismatch", func() error { return w.AddFloat32("x", []int{2}, []float32{1}) }, "1 values for shape [2]"},
		{"negative dimension", func() error { return w.AddFloat32("x", []int{-1}, nil) }, "negative dimension"},
		{"data size", func() error { return w.Add("x", &Tensor{DType: DTInt64, Shape: []int{2}, Data: make([]byte, 15)}) }, "want 16 bytes"},
		{"string count", func() error { return w.Add("x", &Tensor{DType: DTString, Shape: []int{2}, Strings: [][]byte{nil}}) }, "1 strings"},
		{"resource", func() error { return w.Add("x", &Tensor{DType: DTResource}) }, "cannot store a resource tensor"},
		{"twice", func() error { w.Add("y", scalar); return w.Add("y", scalar) }, "added twice"},
	}
	for _, tt := range tests {
		if err := tt.add(); err == nil || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%s: got %v, want %q", tt.name, err, tt.msg)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Add("z", scalar); err == nil {
		t.Error("Add after Close succeeded")
	}
	if _, err := NewFloat32Tensor([]int{3}, []float32{1}); err == nil {
		t.Error("NewFloat32Tensor with a wrong length succeeded")
	}
}

// writeIndex writes an index with the given header and entries, as a
// corrupt bundle's.
func writeIndex(t *testing.T, prefix string, h Header, entries ...Entry) {
	t.Helper()
	index, err := encodeIndex(h, entries)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(IndexPath(prefix), index, 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeRawIndex writes an index table of the given keys and values.
func writeRawIndex(t *testing.T, prefix string, kv ...any) {
	t.Helper()
	var buf bytes.Buffer
	w := ldb.NewWriter(&buf)
	for i := 0; i < len(kv); i += 2 {
		if err := w.Add([]byte(kv[i].(string)), kv[i+1].([]byte)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(IndexPath(prefix), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

type kv struct {
	k string
	v []byte
}

// rawTable returns an index table, checksums right, with one data block for
// each group of keys and values, stored in the order given, sorted or not.
// claim, if not nil, may change the handle (offset and length) of data
// block i as the index block gives it.
func rawTable(groups [][]kv, claim func(i int, off, length uint64) (uint64, uint64)) []byte {
	blockOf := func(entries []kv) []byte {
		var b, restarts []byte
		for _, e := range entries {
			restarts = binary.LittleEndian.AppendUint32(restarts, uint32(len(b)))
			b = binary.AppendUvarint(b, 0)
			b = binary.AppendUvarint(b, uint64(len(e.k)))
			b = binary.AppendUvarint(b, uint64(len(e.v)))
			b = append(append(b, e.k...), e.v...)
		}
		if len(restarts) == 0 {
			restarts = binary.LittleEndian.AppendUint32(restarts, 0)
		}
		return binary.LittleEndian.AppendUint32(append(b, restarts...), uint32(len(restarts)/4))
	}
	var out []byte
	add := func(b []byte) []byte { // appends the block and its trailer, returns its handle
		h := binary.AppendUvarint(binary.AppendUvarint(nil, uint64(len(out))), uint64(len(b)))
		out = append(append(out, b...), 0)
		out = binary.LittleEndian.AppendUint32(out, util.NewCRC(out[len(out)-len(b)-1:]).Value())
		return h
	}
	var index []kv
	for i, g := range groups {
		off := uint64(len(out))
		add(blockOf(g))
		length := uint64(len(out)) - off - 5
		if claim != nil {
			off, length = claim(i, off, length)
		}
		index = append(index, kv{fmt.Sprintf("%c", 'a'+i), binary.AppendUvarint(binary.AppendUvarint(nil, off), length)})
	}
	meta := add(blockOf(nil))
	ih := add(blockOf(index))
	var footer [48]byte
	copy(footer[copy(footer[:], meta):], ih)
	binary.LittleEndian.PutUint64(footer[40:], 0xdb4775248b80fb57)
	return append(out, footer[:]...)
}

// TestCraftedIndex: an index whose checksums are right but whose index
// block claims a data block of 4 GiB (or 1 TiB) is refused by OpenBundle
// with an error naming the claim, having allocated less than twice the
// index file's size.
func TestCraftedIndex(t *testing.T) {
	one := encodeHeader(Header{NumShards: 1, Producer: 1})
	var tensors []kv // about 64 KiB of entries
	for i := range 2000 {
		tensors = append(tensors, kv{fmt.Sprintf("t%04d", i), encodeEntry(&Entry{DType: DTFloat, Shape: []int{i}, Size: 4 * int64(i), Offset: 4 * int64(i)})})
	}
	for _, tc := range []struct {
		name  string
		claim uint64
	}{{"4 GiB", 4 << 30}, {"1 TiB", 1 << 40}, {"2^62 bytes", 1 << 62}} {
		t.Run(tc.name, func(t *testing.T) {
			index := rawTable([][]kv{{{"", one}}, tensors[:1000], tensors[1000:]}, func(i int, off, length uint64) (uint64, uint64) {
				if i == 1 {
					return off, tc.claim
				}
				return off, length
			})
			prefix := filepath.Join(t.TempDir(), "crafted")
			if err := os.WriteFile(IndexPath(prefix), index, 0o644); err != nil {
				t.Fatal(err)
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := OpenBundle(prefix)
			runtime.ReadMemStats(&after)
			var fe *FormatError
			if !errors.Is(err, ErrFormat) || !errors.As(err, &fe) || fe.File != IndexPath(prefix) ||
				!strings.Contains(err.Error(), fmt.Sprintf("index block entry 1: data block [%d, +%d)", 22, tc.claim)) {
				t.Errorf("OpenBundle: %v, want a *FormatError wrapping ErrFormat naming the claim", err)
			}
			alloc := after.TotalAlloc - before.TotalAlloc
			if alloc >= 2*uint64(len(index)) {
				t.Errorf("allocated %d bytes for a %d-byte index, want less than twice its size", alloc, len(index))
			}
			t.Logf("%d-byte index claiming a %d-byte block: allocated %d bytes (%.2f× the file)", len(index), tc.claim, alloc, float64(alloc)/float64(len(index)))
		})
	}
}

func TestInvalidBundles(t *testing.T) {
	one := Header{NumShards: 1, Producer: 1}
	four := []byte{0, 0, 0x80, 0x3f} // float32 1
	scalar := Entry{Key: "x", DType: DTFloat, Size: 4, CRC32C: util.NewCRC(four).Value()}
	with := func(f func(e *Entry)) Entry {
		e := scalar
		f(&e)
		return e
	}
	tests := []struct {
		name    string
		setup   func(t *testing.T, prefix string) // writes the bundle
		key     string                            // read after opening, if not ""
		openErr error
		readErr error
		msg     string
	}{
		{"no index", func(t *testing.T, p string) {}, "", fs.ErrNotExist, nil, "open bundle"},
		{"zeros", func(t *testing.T, p string) { os.WriteFile(IndexPath(p), make([]byte, 64), 0o644) }, "", ErrFormat, nil, "bad magic number"},
		{"junk", func(t *testing.T, p string) { os.WriteFile(IndexPath(p), []byte("not a table"), 0o644) }, "", ErrFormat, nil, "shorter than the 48-byte footer"},
		{"index checksum", func(t *testing.T, p string) {
			writeIndex(t, p, one, scalar)
			b, _ := os.ReadFile(IndexPath(p))
			b[3] ^= 1
			os.WriteFile(IndexPath(p), b, 0o644)
		}, "", ErrChecksum, nil, "at byte 0: index table: data block of 32 bytes: checksum mismatch"},
		{"truncated index", func(t *testing.T, p string) {
			writeIndex(t, p, one, scalar)
			b, _ := os.ReadFile(IndexPath(p))
			os.WriteFile(IndexPath(p), b[:len(b)-1], 0o644)
		}, "", ErrFormat, nil, "index table: bad magic number"},
		{"huge metaindex block", func(t *testing.T, p string) {
			// The footer claims a 1 TiB metaindex block: an error, not an
			// allocation.
			writeIndex(t, p, one, scalar)
			b, _ := os.ReadFile(IndexPath(p))
			footer := b[len(b)-48:]
			_, n := binary.Uvarint(footer) // metaindex offset
			_, k := binary.Uvarint(footer[n:])
			f := binary.AppendUvarint(binary.AppendUvarint(nil, 0), 1<<40) // metaindex handle
			f = append(f, footer[n+k:40]...)                               // index handle and padding
			f = append(f[:40:40], footer[40:]...)                          // magic
			os.WriteFile(IndexPath(p), append(b[:len(b)-48], f...), 0o644)
		}, "", ErrFormat, nil, "metaindex block [0, +1099511627776) and its 5-byte trailer run past"},
		{"index block checksum", func(t *testing.T, p string) {
			writeIndex(t, p, one, scalar)
			b, _ := os.ReadFile(IndexPath(p))
			b[len(b)-48-5-3] ^= 1 // the index block's last restart byte
			os.WriteFile(IndexPath(p), b, 0o644)
		}, "", ErrChecksum, nil, "index block of"},
		{"keys out of order", func(t *testing.T, p string) {
			os.WriteFile(IndexPath(p), rawTable([][]kv{{{"", encodeHeader(one)}, {"y", encodeEntry(&scalar)}, {"x", encodeEntry(&scalar)}}}, nil), 0o644)
		}, "", ErrFormat, nil, `tensor "x": index table: key "x" is out of order: it follows "y"`},
		{"duplicate key", func(t *testing.T, p string) {
			os.WriteFile(IndexPath(p), rawTable([][]kv{{{"", encodeHeader(one)}, {"x", encodeEntry(&scalar)}}, {{"x", encodeEntry(&scalar)}}}, nil), 0o644)
		}, "", ErrFormat, nil, `tensor "x": index table: duplicate key "x"`},
		{"two headers", func(t *testing.T, p string) {
			os.WriteFile(IndexPath(p), rawTable([][]kv{{{"", encodeHeader(one)}, {"", encodeHeader(one)}}}, nil), 0o644)
		}, "", ErrFormat, nil, `index table: duplicate key ""`},
		{"no header", func(t *testing.T, p string) { writeRawIndex(t, p, "x", encodeEntry(&scalar)) },
			"", ErrFormat, nil, `no header entry: the first key is "x"`},
		{"empty table", func(t *testing.T, p string) { writeRawIndex(t, p) }, "", ErrFormat, nil, "empty index"},
		{"bad header", func(t *testing.T, p string) { writeRawIndex(t, p, "", []byte{0x08}) }, "", ErrFormat, nil, "header: malformed protocol buffer"},
		{"big-endian flag", func(t *testing.T, p string) { writeRawIndex(t, p, "", appendVarintField(encodeHeader(one), 2, 7)) },
			"", ErrFormat, nil, "unknown endianness 7"},
		{"bad entry", func(t *testing.T, p string) {
			writeRawIndex(t, p, "", encodeHeader(one), "x", []byte{0x12, 0x05, 0x00})
		},
			"", ErrFormat, nil, `tensor "x": entry: malformed protocol buffer`},
		{"wire type", func(t *testing.T, p string) {
			writeRawIndex(t, p, "", encodeHeader(one), "x", []byte{0x0d, 0, 0, 0, 0})
		},
			"", ErrFormat, nil, "field 1 has wire type 5, want 0"},
		{"unknown rank", func(t *testing.T, p string) {
			writeRawIndex(t, p, "", encodeHeader(one), "x", appendBytesField(nil, 2, appendVarintField(nil, 3, 1)))
		}, "", ErrFormat, nil, "shape of unknown rank"},
		{"negative dimension", func(t *testing.T, p string) {
			dim := appendBytesField(nil, 2, appendVarintField(nil, 1, math.MaxUint64))
			writeRawIndex(t, p, "", encodeHeader(one), "x", appendBytesField(appendVarintField(nil, 1, 1), 2, dim))
		}, "", ErrFormat, nil, "dimension -1"},
		{"negative offset", func(t *testing.T, p string) {
			writeRawIndex(t, p, "", encodeHeader(one), "x", appendVarintField(encodeEntry(&scalar), 4, math.MaxUint64))
		}, "", ErrFormat, nil, "bad data range [-1, +4)"},
		{"no shards", func(t *testing.T, p string) { writeIndex(t, p, Header{Producer: 1}) }, "", ErrFormat, nil, "num_shards 0"},
		{"newer format", func(t *testing.T, p string) { writeIndex(t, p, Header{NumShards: 1, Producer: 2, MinConsumer: 2}) }, "", ErrFormat, nil, "needs a reader of version 2"},
		{"bad consumer", func(t *testing.T, p string) {
			writeIndex(t, p, Header{NumShards: 1, Producer: 2, BadConsumers: []int{1}})
		}, "", ErrFormat, nil, "disallows readers of version 1"},
		{"size mismatch", func(t *testing.T, p string) {
			writeIndex(t, p, one, with(func(e *Entry) { e.Shape = []int{2} }))
		}, "", ErrFormat, nil, "4 bytes for 2 float32 elements"},
		{"shard out of range", func(t *testing.T, p string) { writeIndex(t, p, one, with(func(e *Entry) { e.Shard = 3 })) }, "", ErrFormat, nil, "shard 3 of 1"},
		{"missing shard", func(t *testing.T, p string) { writeIndex(t, p, one, scalar) }, "x", nil, fs.ErrNotExist, "open data shard"},
		{"short shard", func(t *testing.T, p string) {
			writeIndex(t, p, one, scalar)
			os.WriteFile(ShardPath(p, 0, 1), four[:3], 0o644)
		}, "x", nil, ErrFormat, "runs past the end of the shard (want 4 bytes, got 3 bytes in a 3-byte shard)"},
		{"data checksum", func(t *testing.T, p string) {
			writeIndex(t, p, one, scalar)
			os.WriteFile(ShardPath(p, 0, 1), []byte{0, 0, 0x80, 0x40}, 0o644)
		}, "x", nil, ErrChecksum, "do not match the index's checksum"},
		{"unknown dtype", func(t *testing.T, p string) {
			writeIndex(t, p, one, with(func(e *Entry) { e.DType = 99 }))
			os.WriteFile(ShardPath(p, 0, 1), four, 0o644)
		}, "x", nil, ErrDType, "(want a numeric or string type, got dtype(99))"},
		{"partitioned", func(t *testing.T, p string) {
			writeRawIndex(t, p, "", encodeHeader(one), "x", appendBytesField(encodeEntry(&scalar), 7, nil))
		}, "x", nil, errors.ErrUnsupported, "partitioned into 1 slices"},
		{"not found", func(t *testing.T, p string) { writeIndex(t, p, one, scalar) }, "y", nil, ErrNotFound, `"y"`},
		{"string lengths checksum", func(t *testing.T, p string) {
			// One string "ab": length 2, then a wrong lengths checksum.
			data := append([]byte{2}, 0, 0, 0, 0, 'a', 'b')
			writeIndex(t, p, one, Entry{Key: "x", DType: DTString, Size: int64(len(data)), CRC32C: 1})
			os.WriteFile(ShardPath(p, 0, 1), data, 0o644)
		}, "x", nil, ErrChecksum, "string lengths do not match"},
		{"string lengths sum", func(t *testing.T, p string) {
			c := util.NewCRC(binary.LittleEndian.AppendUint32(nil, 5))
			data := binary.LittleEndian.AppendUint32([]byte{5}, c.Value())
			data = append(data, "ab"...)
			writeIndex(t, p, one, Entry{Key: "x", DType: DTString, Size: int64(len(data)), CRC32C: 1})
			os.WriteFile(ShardPath(p, 0, 1), data, 0o644)
		}, "x", nil, ErrFormat, "add up to 5 bytes, but 2 follow"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix := filepath.Join(t.TempDir(), "ckpt")
			tt.setup(t, prefix)
			b, err := OpenBundle(prefix)
			if tt.openErr != nil {
				if !errors.Is(err, tt.openErr) || !strings.Contains(err.Error(), tt.msg) {
					t.Errorf("OpenBundle: %v, want %v containing %q", err, tt.openErr, tt.msg)
				}
				var fe *FormatError
				if errors.Is(err, ErrFormat) || errors.Is(err, ErrChecksum) {
					if !errors.As(err, &fe) || fe.File != IndexPath(prefix) {
						t.Errorf("OpenBundle: %v does not name the index file %s", err, IndexPath(prefix))
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			_, err = b.Tensor(tt.key)
			if !errors.Is(err, tt.readErr) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("Tensor: %v, want %v containing %q", err, tt.readErr, tt.msg)
			}
			if errors.Is(tt.readErr, ErrChecksum) {
				b.VerifyChecksums = false
				if _, err := b.Tensor(tt.key); err != nil && errors.Is(err, ErrChecksum) {
					t.Errorf("without checksums: %v", err)
				}
				if err := b.Verify(); !errors.Is(err, ErrChecksum) {
					t.Errorf("Verify: %v, want ErrChecksum", err)
				}
			}
		})
	}
}

func TestBigEndian(t *testing.T) {
	prefix := filepath.Join(t.TempDir(), "be")
	// float32 1.5 and -2 and int16 -3, 4 as a big-endian machine writes them.
	f := []byte{0x3f, 0xc0, 0, 0, 0xc0, 0, 0, 0}
	i := []byte{0xff, 0xfd, 0, 4}
	data := append(slices.Clone(f), i...)
	writeIndex(t, prefix, Header{NumShards: 1, Producer: 1, BigEndian: true},
		Entry{Key: "f", DType: DTFloat, Shape: []int{2}, Size: 8, CRC32C: util.NewCRC(f).Value()},
		Entry{Key: "i", DType: DTInt16, Shape: []int{2}, Offset: 8, Size: 4, CRC32C: util.NewCRC(i).Value()})
	if err := os.WriteFile(ShardPath(prefix, 0, 1), data, 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := OpenBundle(prefix)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if !b.Header().BigEndian {
		t.Error("header not big-endian")
	}
	dst := make([]float32, 2)
	if err := b.ReadFloat32(dst, "f"); err != nil || dst[0] != 1.5 || dst[1] != -2 {
		t.Errorf("ReadFloat32 = %v, %v; want [1.5 -2]", dst, err)
	}
	ti, err := b.Tensor("i")
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := ti.Float64s(); !slices.Equal(v, []float64{-3, 4}) {
		t.Errorf("int16 values %v, want [-3 4]", v)
	}
}

func TestReadFloat32Errors(t *testing.T) {
	b, err := OpenBundle(fixturePrefix("rust_regression_savedmodel"))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.ReadFloat32(make([]float32, 1), "optimizer/iter"+attr); !errors.Is(err, ErrDType) || !strings.Contains(err.Error(), "(want float32, got int64)") {
		t.Errorf("int64 tensor: %v", err)
	}
	if err := b.ReadFloat32(make([]float32, 2), "w"+attr); err == nil || !strings.Contains(err.Error(), "has 1 elements, destination has 2") {
		t.Errorf("wrong length: %v", err)
	}
	if _, err := b.Lookup("w"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Lookup(w): %v, want ErrNotFound", err)
	}
	if e, err := b.Lookup("w" + attr); err != nil || e.Offset != 0 || !slices.Equal(e.Shape, []int{1}) {
		t.Errorf("Lookup: %+v, %v", e, err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Tensor("w" + attr); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("read after Close: %v", err)
	}
}

// FuzzBundle feeds header and entry protocol buffers to the reader and
// reads the tensors they describe from the data shard of TensorFlow's
// rust_regression_savedmodel fixture, which has float32, int64 and string
// tensors. (internal/ldb fuzzes the table layer, whose checksums would
// stop most mutations here.) It is seeded with every entry of every fixture.
func FuzzBundle(f *testing.F) {
	for _, tt := range bundleTests {
		idx, err := os.ReadFile(IndexPath(fixturePrefix(tt.dir)))
		if err != nil {
			f.Fatal(err)
		}
		t, err := ldb.NewReader(bytes.NewReader(idx), int64(len(idx)))
		if err != nil {
			f.Fatal(err)
		}
		var header []byte
		err = t.Scan(func(k, v []byte) error {
			if len(k) == 0 {
				header = bytes.Clone(v)
			} else {
				f.Add(header, string(k), bytes.Clone(v))
			}
			return nil
		})
		if err != nil {
			f.Fatal(err)
		}
	}
	// Entries of each kind the reader treats apart, and claims it must
	// refuse before allocating them.
	one := encodeHeader(Header{NumShards: 1, Producer: 1})
	big := encodeHeader(Header{NumShards: 1, Producer: 1, BigEndian: true})
	for _, e := range []struct {
		header []byte
		entry  Entry
	}{
		{one, Entry{DType: DTFloat, Shape: []int{2, 3}, Size: 24, CRC32C: 1}},
		{big, Entry{DType: DTDouble, Shape: []int{2}, Size: 16}},
		{one, Entry{DType: DTString, Shape: []int{2}, Size: 12, Offset: 8}},
		{one, Entry{DType: DTInt64, Shape: []int{1 << 40}, Size: 8 << 40}},
		{one, Entry{DType: DTFloat, Shape: []int{1 << 28}, Size: 4 << 28}},
		{one, Entry{DType: DTString, Shape: []int{1 << 30}, Size: 1 << 30}},
		{one, Entry{DType: DTFloat, Shape: []int{0, 5}}},
		{one, Entry{DType: 99, Shape: []int{1}, Size: 4}},
		{encodeHeader(Header{NumShards: 2, Producer: 1}), Entry{DType: DTFloat, Shape: []int{1}, Size: 4, Shard: 1}},
	} {
		f.Add(e.header, "x", encodeEntry(&e.entry))
	}
	f.Add(one, "partitioned", appendBytesField(encodeEntry(&Entry{DType: DTFloat, Shape: []int{4}, Size: 16}), 7, nil))
	prefix := fixturePrefix("rust_regression_savedmodel")
	f.Fuzz(func(t *testing.T, header []byte, key string, entry []byte) {
		if key == "" {
			return
		}
		var buf bytes.Buffer
		w := ldb.NewWriter(&buf)
		w.Add(nil, header)
		w.Add([]byte(key), entry)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		b, err := readIndex(bytes.NewReader(buf.Bytes()), int64(buf.Len()), "fuzz.index")
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is not a *FormatError", err)
			}
			return
		}
		b.prefix = prefix
		defer b.Close()
		for _, e := range b.Entries() {
			b.Tensor(e.Key)
			if e.DType == DTFloat && e.NumElements() < 1<<20 {
				b.ReadFloat32(make([]float32, e.NumElements()), e.Key)
			}
		}
	})
}

// TestHugeClaims: an index that claims a 1 GiB tensor in a 4-byte shard is
// an error, found before anything that large is allocated.
func TestHugeClaims(t *testing.T) {
	prefix := filepath.Join(t.TempDir(), "huge")
	writeIndex(t, prefix, Header{NumShards: 1, Producer: 1},
		Entry{Key: "f", DType: DTFloat, Shape: []int{1 << 28}, Size: 4 << 28, CRC32C: 1},
		Entry{Key: "s", DType: DTString, Shape: []int{1 << 30}, Size: 1 << 30, CRC32C: 1})
	if err := os.WriteFile(ShardPath(prefix, 0, 1), make([]byte, 4), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := OpenBundle(prefix)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for _, key := range []string{"f", "s"} {
		if _, err := b.Tensor(key); !errors.Is(err, ErrFormat) {
			t.Errorf("Tensor(%s): %v, want ErrFormat", key, err)
		}
	}
	if err := b.Verify(); !errors.Is(err, ErrFormat) {
		t.Errorf("Verify: %v, want ErrFormat", err)
	}
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Errorf("allocated %d bytes", n)
	}
}

func TestAbort(t *testing.T) {
	dir := t.TempDir()
	w, err := CreateBundle(filepath.Join(dir, "x"))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.AddFloat32("a", []int{2}, []float32{1, 2}); err != nil {
		t.Fatal(err)
	}
	w.Abort()
	if err := w.Close(); err == nil {
		t.Error("Close after Abort succeeded")
	}
	if names, _ := filepath.Glob(filepath.Join(dir, "*")); len(names) != 0 {
		t.Errorf("files left behind: %q", names)
	}
}

func TestShards(t *testing.T) {
	prefix := filepath.Join(t.TempDir(), "sharded")
	one := []byte{0, 0, 0x80, 0x3f} // float32 1
	two := []byte{0, 0, 0, 0x40}    // float32 2
	writeIndex(t, prefix, Header{NumShards: 3, Producer: 1},
		Entry{Key: "in0", DType: DTFloat, Size: 4, CRC32C: util.NewCRC(one).Value()},
		Entry{Key: "in2", DType: DTFloat, Shard: 2, Offset: 4, Size: 4, CRC32C: util.NewCRC(two).Value()},
		Entry{Key: "in1", DType: DTFloat, Shard: 1, Size: 4, CRC32C: util.NewCRC(one).Value()})
	if ShardPath(prefix, 2, 3) != prefix+".data-00002-of-00003" {
		t.Fatalf("ShardPath = %s", ShardPath(prefix, 2, 3))
	}
	os.WriteFile(ShardPath(prefix, 0, 3), one, 0o644)
	os.WriteFile(ShardPath(prefix, 2, 3), append(slices.Clone(two), two...), 0o644)
	b, err := OpenBundle(prefix)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for key, want := range map[string]float32{"in0": 1, "in2": 2} {
		v := make([]float32, 1)
		if err := b.ReadFloat32(v, key); err != nil || v[0] != want {
			t.Errorf("%s = %v, %v; want %v", key, v, err, want)
		}
	}
	// Shard 1 is missing: only its tensor is unreadable.
	if _, err := b.Tensor("in1"); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), ".data-00001-of-00003") {
		t.Errorf("tensor in the missing shard: %v", err)
	}
}

// TestRelativePrefix writes a bundle in the working directory: the
// temporary files must be made there too, not in os.TempDir.
func TestRelativePrefix(t *testing.T) {
	t.Chdir(t.TempDir())
	w, err := CreateBundle("ckpt")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.AddFloat32("a", nil, []float32{1}); err != nil {
		t.Fatal(err)
	}
	if names, _ := filepath.Glob(".ckpt.data-00000-of-00001.tmp*"); len(names) != 1 {
		t.Errorf("temporary files in the working directory: %q, want one", names)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if names, _ := filepath.Glob("*"); !slices.Equal(names, []string{"ckpt.data-00000-of-00001", "ckpt.index"}) {
		t.Errorf("files %q", names)
	}
}

// FuzzIndex feeds whole index files to the reader: no input may make it
// panic or return an error that is not a *FormatError, and the entries of
// an index it accepts have strictly increasing keys. It is seeded with every
// fixture's index and with crafted ones whose checksums are right.
func FuzzIndex(f *testing.F) {
	for _, tt := range bundleTests {
		idx, err := os.ReadFile(IndexPath(fixturePrefix(tt.dir)))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(idx)
	}
	one := encodeHeader(Header{NumShards: 1, Producer: 1})
	x := encodeEntry(&Entry{DType: DTFloat, Shape: []int{1}, Size: 4})
	f.Add(rawTable([][]kv{{{"", one}, {"x", x}}}, nil))
	f.Add(rawTable([][]kv{{{"", one}, {"y", x}, {"x", x}}}, nil))
	f.Add(rawTable([][]kv{{{"", one}}, {{"x", x}}, {{"x", x}}}, nil))
	f.Add(rawTable([][]kv{{{"", one}}, {{"x", x}}}, func(i int, off, length uint64) (uint64, uint64) { return off, length << 20 }))
	f.Fuzz(func(t *testing.T, index []byte) {
		b, err := readIndex(bytes.NewReader(index), int64(len(index)), "fuzz.index")
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is not a *FormatError", err)
			}
			return
		}
		keys := b.Keys()
		for i := 1; i < len(keys); i++ {
			if keys[i-1] >= keys[i] {
				t.Fatalf("key %q after %q", keys[i], keys[i-1])
			}
		}
	})
}
