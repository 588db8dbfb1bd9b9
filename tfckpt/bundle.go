package tfckpt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"sync"

	"confrobust/tfckpt/internal/ldb"

	"github.com/syndtr/goleveldb/leveldb/util"
)

/*
The tensor bundle (TensorFlow's V2 checkpoint format, tensor_bundle.cc) with
prefix P is one index file and N data shards:

	P.index                         a LevelDB table (see internal/ldb)
	P.data-00000-of-0000N ...       the tensors' bytes, back to back

The index maps keys to serialized protocol buffers (see proto.go), in
strictly increasing byte order of the keys:

	""          BundleHeaderProto: num_shards, endianness, version
	tensor key  BundleEntryProto: dtype, shape, shard_id, offset, size,
	            crc32c, slices

The header's key, the empty string, sorts first. Shard file names have
exactly five digits for the shard number and the count
(data-%05d-of-%05d). A tensor's bytes are the size bytes at offset in shard
shard_id; the data files have no headers, footers or padding of their own.

A tensor of a fixed-size type is its elements in row-major order, each in the
header's byte order (little-endian unless endianness is BIG), so size =
elements · dtype size (float32 4, float64 8, float16 and bfloat16 2, int64 8,
int32 4, int16 2, int8 and uint8 and bool 1, complex64 8, complex128 16).
Its crc32c is the masked CRC-32C of those size bytes as stored.

A DT_STRING tensor is

	uvarint len[i]             one for each element
	uint32  masked CRC-32C of the lengths
	[len[0]]byte ... [len[n-1]]byte

where the lengths' CRC, and the entry's crc32c, are computed over each
length written as a 4-byte integer (8 bytes if it exceeds 2^32−1), not over
its uvarint bytes; the entry's crc32c covers those integers, the 4 stored
bytes of the lengths' CRC and the string bytes.

A partitioned variable has an entry with slices set and no bytes of its own;
its slices are stored under other keys. This package lists such entries but
does not read them. TensorFlow's writers put every tensor of one bundle in a
single shard unless the model is placed on several devices.
*/

// maxShards bounds the shard count a header may claim (num_shards is an
// int32; file names have five digits).
const maxShards = 99999

// Entry describes one tensor of a bundle, as its index entry gives it.
type Entry struct {
	Key    string
	DType  DType
	Shape  []int
	Shard  int    // the data shard holding the bytes
	Offset int64  // byte offset in the shard
	Size   int64  // number of bytes
	CRC32C uint32 // the stored, masked CRC-32C of the bytes
	Slices int    // number of slices of a partitioned variable; 0 for a plain tensor
}

// NumElements returns the product of the entry's dimensions (1 for a
// scalar).
func (e *Entry) NumElements() int {
	n := 1
	for _, d := range e.Shape {
		n *= d
	}
	return n
}

// Bundle reads a tensor bundle. Opening reads the whole index; tensor data is
// read only when asked for, from shard files opened on first use.
//
// A Bundle is safe for concurrent use by several goroutines, except that
// VerifyChecksums must not change while reads are in flight.
type Bundle struct {
	prefix  string
	header  Header
	entries []Entry // sorted by key
	byKey   map[string]int

	// VerifyChecksums says whether reads check each tensor's CRC-32C.
	// OpenBundle sets it to true; the index's own block checksums are
	// always checked.
	VerifyChecksums bool

	mu     sync.Mutex
	shards []*os.File // nil until opened
	sizes  []int64    // of the opened shards
	closed bool
}

// IndexPath returns the path of the index file of the bundle with the given
// prefix.
func IndexPath(prefix string) string { return prefix + ".index" }

// ShardPath returns the path of data shard i of n of the bundle with the
// given prefix.
func ShardPath(prefix string, i, n int) string {
	return fmt.Sprintf("%s.data-%05d-of-%05d", prefix, i, n)
}

// OpenBundle opens the bundle with the given prefix (the path of the .index
// file without ".index") and reads its index. A malformed index gives an
// error wrapping ErrFormat or ErrChecksum; keys that are not in strictly
// increasing order (TensorFlow's reader relies on it) give a *FormatError
// naming the key. What it allocates is bounded by the index file's size,
// whatever the file claims.
func OpenBundle(prefix string) (*Bundle, error) {
	path := IndexPath(prefix)
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("tfckpt: open bundle: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("tfckpt: open bundle: %w", err)
	}
	b, err := readIndex(f, fi.Size(), path)
	if err != nil {
		return nil, err
	}
	b.prefix = prefix
	return b, nil
}

// readIndex reads the index table in r, of the given size, named path in
// errors.
func readIndex(r io.ReaderAt, size int64, path string) (*Bundle, error) {
	bad := func(key string, err error, format string, a ...any) error {
		return &FormatError{File: path, Key: key, Offset: -1, Msg: fmt.Sprintf(format, a...), Err: err}
	}
	t, err := ldb.NewReader(r, size)
	if err != nil {
		return nil, tableError(path, err)
	}
	b := &Bundle{VerifyChecksums: true, byKey: map[string]int{}}
	haveHeader := false
	err = t.Scan(func(k, v []byte) error {
		key := string(k)
		if !haveHeader {
			if key != "" {
				return bad("", ErrFormat, "no header entry: the first key is %q", key)
			}
			h, err := decodeHeader(v)
			if err != nil {
				return bad("", ErrFormat, "header: %v", err)
			}
			if err := checkHeader(h); err != nil {
				return bad("", ErrFormat, "header: %v", err)
			}
			b.header, haveHeader = h, true
			return nil
		}
		raw, err := decodeEntry(v)
		if err != nil {
			return bad(key, ErrFormat, "entry: %v", err)
		}
		e, err := checkEntry(raw, b.header.NumShards)
		if err != nil {
			return bad(key, ErrFormat, "entry: %v", err)
		}
		e.Key = key
		b.byKey[key] = len(b.entries)
		b.entries = append(b.entries, e)
		return nil
	})
	if err != nil {
		var fe *FormatError
		if errors.As(err, &fe) {
			return nil, err
		}
		return nil, tableError(path, err)
	}
	if !haveHeader {
		return nil, bad("", ErrFormat, "empty index: no header entry")
	}
	b.shards = make([]*os.File, b.header.NumShards)
	b.sizes = make([]int64, b.header.NumShards)
	return b, nil
}

// tableError turns an error of the index table into a *FormatError, or
// wraps it if it is not about the table's contents (an I/O error). A key out
// of order or repeated is the FormatError's Key.
func tableError(path string, err error) error {
	var le *ldb.Error
	if !errors.As(err, &le) {
		return fmt.Errorf("tfckpt: read %s: %w", path, err)
	}
	sentinel := ErrFormat
	if errors.Is(err, ldb.ErrChecksum) {
		sentinel = ErrChecksum
	}
	return &FormatError{File: path, Key: le.Key, Offset: le.Offset, Msg: "index table: " + le.Msg, Err: sentinel}
}

// checkHeader checks a header as TensorFlow's BundleReader does, for a
// reader of version bundleVersion.
func checkHeader(h Header) error {
	if h.NumShards < 1 || h.NumShards > maxShards {
		return fmt.Errorf("num_shards %d is not in [1, %d]", h.NumShards, maxShards)
	}
	if h.Producer < 0 {
		return fmt.Errorf("producer version %d is negative", h.Producer)
	}
	if h.MinConsumer > bundleVersion {
		return fmt.Errorf("the bundle needs a reader of version %d; this is version %d", h.MinConsumer, bundleVersion)
	}
	if slices.Contains(h.BadConsumers, bundleVersion) {
		return fmt.Errorf("the bundle disallows readers of version %d", bundleVersion)
	}
	return nil
}

// checkEntry validates a decoded entry against the header: everything but
// the dtype, which is checked when the tensor is read so that one tensor of
// a type this package does not know does not make the whole bundle
// unreadable.
func checkEntry(raw rawEntry, numShards int) (Entry, error) {
	e := Entry{DType: raw.dtype, Offset: raw.offset, Size: raw.size, CRC32C: raw.crc, Slices: raw.slices}
	if raw.unknownRank {
		return e, errors.New("shape of unknown rank")
	}
	n := int64(1)
	for _, d := range raw.shape {
		if d < 0 || d > math.MaxInt32*2 {
			return e, fmt.Errorf("dimension %d in shape %v", d, raw.shape)
		}
		if d != 0 && n > math.MaxInt64/d {
			return e, fmt.Errorf("shape %v has too many elements", raw.shape)
		}
		n *= d
		e.Shape = append(e.Shape, int(d))
	}
	if raw.shard < 0 || raw.shard >= int64(numShards) {
		return e, fmt.Errorf("shard %d of %d", raw.shard, numShards)
	}
	e.Shard = int(raw.shard)
	if raw.offset < 0 || raw.size < 0 || raw.offset > math.MaxInt64-raw.size {
		return e, fmt.Errorf("bad data range [%d, +%d)", raw.offset, raw.size)
	}
	if e.Slices > 0 {
		return e, nil // the data lie in the slices' entries
	}
	if size := int64(e.DType.Size()); size > 0 && (n > raw.size/size || n*size != raw.size) {
		return e, fmt.Errorf("%d bytes for %d %s elements of shape %v", raw.size, n, e.DType, e.Shape)
	}
	if e.DType == DTString && n > raw.size {
		return e, fmt.Errorf("%d bytes for %d strings", raw.size, n)
	}
	return e, nil
}

// Prefix returns the bundle's prefix.
func (b *Bundle) Prefix() string { return b.prefix }

// Header returns the bundle's header.
func (b *Bundle) Header() Header {
	h := b.header
	h.BadConsumers = slices.Clone(h.BadConsumers)
	return h
}

// Entries returns the bundle's tensors in key order, the header excluded.
func (b *Bundle) Entries() []Entry {
	out := make([]Entry, len(b.entries))
	for i, e := range b.entries {
		e.Shape = slices.Clone(e.Shape)
		out[i] = e
	}
	return out
}

// Lookup returns the entry of the tensor with the given key, or an error
// wrapping ErrNotFound.
func (b *Bundle) Lookup(key string) (Entry, error) {
	i, ok := b.byKey[key]
	if !ok {
		return Entry{}, fmt.Errorf("%w: %q in %s", ErrNotFound, key, IndexPath(b.prefix))
	}
	e := b.entries[i]
	e.Shape = slices.Clone(e.Shape)
	return e, nil
}

// Close closes the bundle's open data shards. Reads after Close fail.
func (b *Bundle) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	var errs []error
	for i, f := range b.shards {
		if f != nil {
			errs = append(errs, f.Close())
			b.shards[i] = nil
		}
	}
	return errors.Join(errs...)
}

var errClosed = errors.New("tfckpt: bundle is closed")

// shard returns data shard i, opening it on first use, and its size.
func (b *Bundle) shard(i int) (*os.File, int64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, 0, errClosed
	}
	if b.shards[i] != nil {
		return b.shards[i], b.sizes[i], nil
	}
	f, err := os.Open(ShardPath(b.prefix, i, b.header.NumShards))
	if err != nil {
		return nil, 0, fmt.Errorf("tfckpt: open data shard: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("tfckpt: open data shard: %w", err)
	}
	b.shards[i], b.sizes[i] = f, fi.Size()
	return f, fi.Size(), nil
}

// dataOf returns the entry of key, checked to be readable, and the section
// of its shard that holds its bytes.
func (b *Bundle) dataOf(key string) (*Entry, *io.SectionReader, error) {
	i, ok := b.byKey[key]
	if !ok {
		return nil, nil, fmt.Errorf("%w: %q in %s", ErrNotFound, key, IndexPath(b.prefix))
	}
	e := &b.entries[i]
	if e.Slices > 0 {
		return nil, nil, fmt.Errorf("tfckpt: %s: tensor %q is partitioned into %d slices: %w", IndexPath(b.prefix), key, e.Slices, errors.ErrUnsupported)
	}
	if e.DType.Size() == 0 && e.DType != DTString {
		return nil, nil, &FormatError{File: IndexPath(b.prefix), Key: key, Offset: -1, Msg: "cannot read a tensor of this type",
			Want: "a numeric or string type", Got: e.DType.String(), Err: ErrDType}
	}
	f, size, err := b.shard(e.Shard)
	if err != nil {
		return nil, nil, err
	}
	if e.Offset > size || e.Size > size-e.Offset {
		return nil, nil, &FormatError{File: f.Name(), Key: key, Offset: e.Offset, Msg: "data range runs past the end of the shard",
			Want: fmt.Sprintf("%d bytes", e.Size), Got: fmt.Sprintf("%d bytes in a %d-byte shard", max(size-e.Offset, 0), size), Err: ErrFormat}
	}
	return e, io.NewSectionReader(f, e.Offset, e.Size), nil
}

// Tensor reads the tensor with the given key. Its data are checked against
// the stored CRC-32C when VerifyChecksums is set.
func (b *Bundle) Tensor(key string) (*Tensor, error) {
	return b.tensor(key, b.VerifyChecksums)
}

func (b *Bundle) tensor(key string, verify bool) (*Tensor, error) {
	e, r, err := b.dataOf(key)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, e.Size) // e.Size fits in the shard: checked by dataOf
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, fmt.Errorf("tfckpt: read tensor %q: %w", key, err)
	}
	t := &Tensor{DType: e.DType, Shape: slices.Clone(e.Shape)}
	if t.DType == DTString {
		t.Strings, err = b.decodeStrings(e, buf, verify)
		if err != nil {
			return nil, err
		}
		return t, nil
	}
	if err := b.checkCRC(e, util.NewCRC(buf), verify); err != nil {
		return nil, err
	}
	if b.header.BigEndian {
		swapBytes(buf, e.DType.swapUnit())
	}
	t.Data = buf
	return t, nil
}

// ReadFloat32 reads the DTFloat tensor with the given key into dst, which
// must have exactly one element for each of the tensor's. It reads in chunks,
// so it needs no buffer the size of the tensor.
func (b *Bundle) ReadFloat32(dst []float32, key string) error {
	return b.readFloat32(dst, key, b.VerifyChecksums)
}

func (b *Bundle) readFloat32(dst []float32, key string, verify bool) error {
	e, r, err := b.dataOf(key)
	if err != nil {
		return err
	}
	if e.DType != DTFloat {
		return &FormatError{File: IndexPath(b.prefix), Key: key, Offset: -1, Msg: "wrong dtype", Want: DTFloat.String(), Got: e.DType.String(), Err: ErrDType}
	}
	if n := e.NumElements(); n != len(dst) {
		return fmt.Errorf("tfckpt: tensor %q of shape %v has %d elements, destination has %d", key, e.Shape, n, len(dst))
	}
	const chunk = 64 << 10
	buf := make([]byte, min(chunk, len(dst)*4))
	var c util.CRC
	for i := 0; i < len(dst); {
		n := min(len(buf)/4, len(dst)-i)
		p := buf[:4*n]
		if _, err := io.ReadFull(r, p); err != nil {
			return fmt.Errorf("tfckpt: read tensor %q: %w", key, err)
		}
		c = c.Update(p)
		if b.header.BigEndian {
			swapBytes(p, 4)
		}
		decodeFloat32(dst[i:i+n], p)
		i += n
	}
	return b.checkCRC(e, c, verify)
}

// checkCRC compares the CRC computed over a tensor's bytes with the stored
// one, if verify is set.
func (b *Bundle) checkCRC(e *Entry, got util.CRC, verify bool) error {
	if !verify || got.Value() == e.CRC32C {
		return nil
	}
	f, _, _ := b.shard(e.Shard)
	name := ShardPath(b.prefix, e.Shard, b.header.NumShards)
	if f != nil {
		name = f.Name()
	}
	return &FormatError{File: name, Key: e.Key, Offset: e.Offset, Msg: "tensor data do not match the index's checksum",
		Want: fmt.Sprintf("masked crc32c %#08x", e.CRC32C), Got: fmt.Sprintf("%#08x", got.Value()), Err: ErrChecksum}
}

// decodeStrings decodes the bytes of a DT_STRING tensor (see the layout
// above).
func (b *Bundle) decodeStrings(e *Entry, buf []byte, verify bool) ([][]byte, error) {
	bad := func(off int, err error, format string, a ...any) error {
		return &FormatError{File: ShardPath(b.prefix, e.Shard, b.header.NumShards), Key: e.Key, Offset: e.Offset + int64(off),
			Msg: fmt.Sprintf(format, a...), Err: err}
	}
	var order binary.ByteOrder = binary.LittleEndian
	if b.header.BigEndian {
		order = binary.BigEndian
	}
	n := e.NumElements() // <= len(buf): checked by checkEntry
	lens := make([]uint64, n)
	var lenCRC util.CRC
	var tmp [8]byte
	pos := 0
	total := uint64(0)
	for i := range lens {
		v, k := binary.Uvarint(buf[pos:])
		if k <= 0 {
			return nil, bad(pos, ErrFormat, "bad length of string %d", i)
		}
		if v <= math.MaxUint32 {
			order.PutUint32(tmp[:], uint32(v))
			lenCRC = lenCRC.Update(tmp[:4])
		} else {
			order.PutUint64(tmp[:], v)
			lenCRC = lenCRC.Update(tmp[:8])
		}
		lens[i] = v
		pos += k
		total += min(v, uint64(len(buf))+1) // saturates instead of overflowing
	}
	if len(buf)-pos < 4 {
		return nil, bad(pos, ErrFormat, "no checksum after the string lengths")
	}
	stored := order.Uint32(buf[pos:])
	if verify && stored != lenCRC.Value() {
		return nil, &FormatError{File: ShardPath(b.prefix, e.Shard, b.header.NumShards), Key: e.Key, Offset: e.Offset + int64(pos),
			Msg: "string lengths do not match their checksum", Want: fmt.Sprintf("%#08x", stored), Got: fmt.Sprintf("%#08x", lenCRC.Value()), Err: ErrChecksum}
	}
	dataCRC := lenCRC.Update(buf[pos : pos+4])
	pos += 4
	if total != uint64(len(buf)-pos) {
		return nil, bad(pos, ErrFormat, "string lengths add up to %d bytes, but %d follow", total, len(buf)-pos)
	}
	if err := b.checkCRC(e, dataCRC.Update(buf[pos:]), verify); err != nil {
		return nil, err
	}
	out := make([][]byte, n)
	for i, l := range lens {
		out[i] = buf[pos : pos+int(l) : pos+int(l)]
		pos += int(l)
	}
	return out, nil
}

// swapBytes reverses the bytes of each unit-byte value in b.
func swapBytes(b []byte, unit int) {
	if unit <= 1 {
		return
	}
	for i := 0; i+unit <= len(b); i += unit {
		slices.Reverse(b[i : i+unit])
	}
}

// Verify reads every tensor of the bundle and checks its checksum, whatever
// VerifyChecksums says. It returns all the problems it finds, joined;
// partitioned tensors, which it cannot read, are skipped.
func (b *Bundle) Verify() error {
	var errs []error
	for _, e := range b.entries {
		if e.Slices > 0 {
			continue
		}
		var err error
		if e.DType == DTFloat {
			// Check the data range before allocating what the index claims.
			if _, _, err = b.dataOf(e.Key); err == nil {
				err = b.readFloat32(make([]float32, e.NumElements()), e.Key, true)
			}
		} else {
			_, err = b.tensor(e.Key, true)
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Keys returns the keys of the bundle's tensors in sorted order.
func (b *Bundle) Keys() []string {
	keys := make([]string, len(b.entries))
	for i, e := range b.entries {
		keys[i] = e.Key
	}
	return keys
}

// objectSuffix ends the key of a variable in a TensorFlow 2 object-based
// checkpoint ("dense/kernel/.ATTRIBUTES/VARIABLE_VALUE").
const objectSuffix = "/.ATTRIBUTES/VARIABLE_VALUE"

// LookupVariable returns the entry of the variable name: the tensor of that
// key, as a TensorFlow 1 Saver writes it, or else of its TensorFlow 2
// object-based key (name + "/.ATTRIBUTES/VARIABLE_VALUE"). The entry's Key is
// the key found. A missing variable wraps ErrNotFound.
func (b *Bundle) LookupVariable(name string) (Entry, error) {
	e, err := b.Lookup(name)
	if errors.Is(err, ErrNotFound) {
		if e2, err2 := b.Lookup(name + objectSuffix); err2 == nil {
			return e2, nil
		}
	}
	return e, err
}

// VariableName returns the variable a key holds: the key itself, or a
// TensorFlow 2 object-based key without its "/.ATTRIBUTES/VARIABLE_VALUE".
func VariableName(key string) string {
	name, _ := strings.CutSuffix(key, objectSuffix)
	return name
}
