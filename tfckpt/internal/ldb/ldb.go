// Package ldb adapts github.com/syndtr/goleveldb's leveldb/table package to
// the two things a TensorFlow tensor bundle needs of its .index file: scan
// every key and value of a LevelDB table in order, and write a table from
// keys in increasing order.
//
//	r, err := ldb.NewReader(f, size)
//	if err != nil { ... }
//	err = r.Scan(func(key, value []byte) error {
//		// key and value are valid only during this call.
//		return nil
//	})
//
//	w := ldb.NewWriter(f)
//	w.Add([]byte("a"), []byte("1"))
//	err := w.Close() // writes the index block and the footer
//
// Reading verifies every block checksum (goleveldb's opt.StrictAll),
// decompresses Snappy blocks and refuses keys out of order; it allocates no
// more than a small multiple of the file's size whatever the file claims.
// The writer never compresses and cuts blocks at TensorFlow's 256 KiB.
// Neither is safe for concurrent use.
package ldb

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/golang/snappy"
	lerrors "github.com/syndtr/goleveldb/leveldb/errors"
	"github.com/syndtr/goleveldb/leveldb/opt"
	"github.com/syndtr/goleveldb/leveldb/storage"
	"github.com/syndtr/goleveldb/leveldb/table"
	"github.com/syndtr/goleveldb/leveldb/util"
)

/*
The table layout (LevelDB's doc/table_format.md), of which this package
reads only the footer itself; goleveldb reads the rest:

	[data block 0] ... [data block N-1] [metaindex block] [index block] [footer]

Each block is followed by a 5-byte trailer: a compression type byte and the
masked CRC-32C of the block and that byte. A block handle is two uvarints,
offset and length (trailer excluded). The footer is exactly 48 bytes long:
the metaindex and index block handles, zero padding to byte 40, and the
magic number 0xdb4775248b80fb57, little-endian. The index block maps keys to
the data blocks' handles.

What goleveldb v1.0.0 does not check, and this package does before
goleveldb reads a byte (found by reading goleveldb's table/reader.go and
tried on crafted tables):

  - readRawBlock allocates a block handle's length (plus the trailer) before
    it reads, and never compares the handle with the file size, so a footer
    or an index entry claiming a 1 TiB block is a fatal out-of-memory error
    that no recover catches. The data blocks' handles live in the index
    block, whose checksum a crafted file gets right. So NewReader checks the
    footer's two handles, then decodes the index block itself (the minimum
    of the block format: the restart count and each entry's three lengths)
    and checks every data block handle: the data blocks must lie one after
    the other, in the file's order, before the metaindex block. It verifies
    every block's checksum on the way, so that corruption is still reported
    as ErrChecksum.
  - A Snappy block's header promises a decoded length, up to 4 GiB, which
    readRawBlock allocates before decoding. A valid Snappy stream decodes to
    at most 64 bytes for each 3 (a 3-byte copy of 64 bytes), and TensorFlow
    cuts data blocks at 256 KiB before compression, so NewReader refuses a
    block whose header claims more than 64/3 of its length or more than
    MaxSize.
  - Malformed blocks whose checksum is right (a block shorter than its
    4-byte restart count, entry lengths that overflow int) make it panic;
    NewReader and Scan turn such panics into ErrFormat.
  - goleveldb's indexed iterator recurses once for each empty data block.
    Index entries that all pointed at the same empty block (5 bytes an
    entry) overflowed the 1 GB goroutine stack at 70 million of them (a
    350 MB table); 22 million (110 MB) did not. Now each data block needs
    its own bytes (an empty block and its trailer are 9), and MaxSize,
    64 MiB, allows at most 7.5 million of them. NewReader refuses larger
    files before reading them, then reads the file into memory once and
    hands goleveldb a reader of that copy.
  - goleveldb returns keys in the order they are stored. Scan refuses a key
    that is not greater than the one before it, naming both.

So the memory NewReader and Scan use is bounded by the file: its copy, the
block goleveldb is reading, and for a Snappy block its decoded contents (at
most 64/3 of the block, and at most MaxSize).
*/

const (
	footerLen       = 48
	magic           = 0xdb4775248b80fb57
	blockTrailerLen = 5

	// MaxSize is the size of the largest table NewReader accepts, read
	// whole into memory. TensorFlow's bundle indexes are kilobytes to
	// megabytes (about 100 bytes a tensor); the limit keeps goleveldb's
	// recursion over empty blocks off the stack limit (see above).
	MaxSize = 64 << 20

	// blockSize is where the writer ends a data block: TensorFlow's
	// table::Options default, so that our indexes cut blocks where
	// TensorFlow's do.
	blockSize = 256 << 10
)

// Errors a caller can test with errors.Is.
var (
	// ErrFormat means the file is not a valid LevelDB table.
	ErrFormat = errors.New("ldb: not a valid table")
	// ErrChecksum means a block's checksum does not match its contents.
	ErrChecksum = errors.New("ldb: checksum mismatch")
)

// Error describes a corrupt table. Err is ErrFormat or ErrChecksum.
type Error struct {
	Offset int64  // of the bad block or footer in the file; -1 if not known
	Key    string // the offending key, for a key out of order; "" otherwise
	Msg    string // what is wrong; it quotes Key when there is one
	Err    error
}

// Error returns "ldb: at byte N: " and the message.
func (e *Error) Error() string {
	if e.Offset < 0 {
		return "ldb: " + e.Msg
	}
	return fmt.Sprintf("ldb: at byte %d: %s", e.Offset, e.Msg)
}

// Unwrap returns ErrFormat or ErrChecksum.
func (e *Error) Unwrap() error { return e.Err }

func formatError(off int64, format string, a ...any) error {
	return &Error{Offset: off, Msg: fmt.Sprintf(format, a...), Err: ErrFormat}
}

var (
	// readOpts makes goleveldb verify every block checksum and refuse any
	// corruption instead of skipping it.
	readOpts = &opt.Options{Strict: opt.StrictAll}
	// writeOpts writes uncompressed blocks the size of TensorFlow's.
	writeOpts = &opt.Options{Strict: opt.StrictAll, Compression: opt.NoCompression, BlockSize: blockSize}
)

// Reader reads a LevelDB table.
type Reader struct {
	r *table.Reader
}

// NewReader reads the table held by f, which is size bytes long, into
// memory (it refuses tables larger than MaxSize), checks its footer, the
// checksums of all its blocks and that every block handle lies inside the
// file, and has goleveldb read the metaindex and index blocks; Scan reads the
// rest. What it allocates is bounded by size whatever the table claims (see
// the comment at the top of ldb.go).
func NewReader(f io.ReaderAt, size int64) (_ *Reader, err error) {
	if size > MaxSize {
		return nil, formatError(-1, "table of %d bytes is larger than the %d-byte limit", size, MaxSize)
	}
	if size < footerLen {
		return nil, formatError(-1, "file of %d bytes is shorter than the %d-byte footer", max(size, 0), footerLen)
	}
	data := make([]byte, size) // size <= MaxSize
	if n, err := f.ReadAt(data, 0); n < len(data) {
		return nil, fmt.Errorf("ldb: read table: %w", err)
	}
	meta, index, err := checkFooter(data)
	if err != nil {
		return nil, err
	}
	if err := checkBlocks(data, meta, index); err != nil {
		return nil, err
	}
	defer recoverFormat(&err)
	r, err := table.NewReader(bytes.NewReader(data), size, storage.FileDesc{}, nil, nil, readOpts)
	if err != nil {
		return nil, classify(err)
	}
	return &Reader{r: r}, nil
}

// blockHandle locates a block: its offset and length in the file, the
// 5-byte trailer excluded.
type blockHandle struct {
	offset, length uint64
}

// end returns the offset just after the block's trailer.
func (h blockHandle) end() uint64 { return h.offset + h.length + blockTrailerLen }

// within reports whether the block and its trailer lie in [from, to).
func (h blockHandle) within(from, to uint64) bool {
	return h.offset >= from && h.offset <= to && h.length <= to-h.offset && to-h.offset-h.length >= blockTrailerLen
}

// checkFooter checks the magic number of the table in data and that its
// two block handles lie inside the file, before the footer, and returns
// them.
func checkFooter(data []byte) (meta, index blockHandle, err error) {
	end := uint64(len(data) - footerLen)
	footer := data[end:]
	if m := binary.LittleEndian.Uint64(footer[footerLen-8:]); m != magic {
		return meta, index, formatError(int64(end)+footerLen-8, "bad magic number %#016x, want %#016x", m, uint64(magic))
	}
	n := 0
	for _, b := range []struct {
		name string
		h    *blockHandle
	}{{"metaindex", &meta}, {"index", &index}} {
		off, length, k := decodeBlockHandle(footer[n:])
		if k == 0 {
			return meta, index, formatError(int64(end)+int64(n), "bad %s block handle", b.name)
		}
		*b.h = blockHandle{off, length}
		if !b.h.within(0, end) {
			return meta, index, formatError(int64(end)+int64(n), "%s block [%d, +%d) and its %d-byte trailer run past the %d bytes before the footer",
				b.name, off, length, blockTrailerLen, end)
		}
		n += k
	}
	return meta, index, nil
}

// checkBlocks checks the blocks of the table in data that goleveldb will
// read: the metaindex and index blocks the footer names (already checked to
// lie inside the file) and every data block the index block names. Each
// must have a correct checksum and a credible Snappy header if compressed;
// the data blocks must come one after the other, in the order of the index,
// and end before the metaindex block.
func checkBlocks(data []byte, meta, index blockHandle) error {
	for _, b := range []struct {
		name string
		h    blockHandle
	}{{"metaindex", meta}, {"index", index}} {
		if err := checkBlock(data, b.name, b.h); err != nil {
			return err
		}
	}
	contents, err := blockContents(data, index)
	if err != nil {
		return err
	}
	var prev blockHandle // the previous data block; none yet
	i := 0
	return blockValues(contents, int64(index.offset), func(v []byte) error {
		off, length, n := decodeBlockHandle(v)
		if n == 0 {
			return formatError(int64(index.offset), "index block entry %d: bad data block handle", i)
		}
		h := blockHandle{off, length}
		from := uint64(0)
		if i > 0 {
			from = prev.end()
		}
		if !h.within(from, meta.offset) {
			return formatError(int64(index.offset), "index block entry %d: data block [%d, +%d) and its %d-byte trailer do not lie in [%d, %d), "+
				"after the previous data block and before the metaindex block",
				i, off, length, blockTrailerLen, from, meta.offset)
		}
		if err := checkBlock(data, "data", h); err != nil {
			return err
		}
		prev = h
		i++
		return nil
	})
}

// Block compression types, the first byte of a block's trailer.
const (
	noCompression     = 0
	snappyCompression = 1
)

// checkBlock verifies the checksum of the block h of data, which lies inside
// data, and, if it is Snappy-compressed, that its header's decoded length
// is one the block could hold. Other compression types are left for
// goleveldb to refuse.
func checkBlock(data []byte, name string, h blockHandle) error {
	raw := data[h.offset : h.offset+h.length+1] // the block and its type byte
	stored := binary.LittleEndian.Uint32(data[h.offset+h.length+1:])
	if got := util.NewCRC(raw).Value(); got != stored {
		return &Error{Offset: int64(h.offset), Msg: fmt.Sprintf("%s block of %d bytes: checksum mismatch, want=%#x got=%#x", name, h.length, stored, got), Err: ErrChecksum}
	}
	if raw[h.length] != snappyCompression {
		return nil
	}
	n, k := binary.Uvarint(raw[:h.length]) // Snappy's header: the decoded length
	if k <= 0 {
		return formatError(int64(h.offset), "%s block of %d bytes: bad Snappy header", name, h.length)
	}
	if limit := min(h.length/3*64+64, MaxSize); n > limit {
		return formatError(int64(h.offset), "%s block of %d bytes: Snappy header claims %d decoded bytes, more than the %d it can hold",
			name, h.length, n, limit)
	}
	return nil
}

// blockContents returns the contents of the block h of data, which
// checkBlock has checked: a slice of data, or the decoded Snappy block.
func blockContents(data []byte, h blockHandle) ([]byte, error) {
	raw := data[h.offset : h.offset+h.length]
	switch data[h.offset+h.length] {
	case noCompression:
		return raw, nil
	case snappyCompression:
		b, err := snappy.Decode(nil, raw) // its length is bounded by checkBlock
		if err != nil {
			return nil, formatError(int64(h.offset), "block of %d bytes: snappy: %v", h.length, err)
		}
		return b, nil
	}
	return nil, formatError(int64(h.offset), "block of %d bytes: unknown compression type %#x", h.length, data[h.offset+h.length])
}

/*
A block's contents (LevelDB's doc/table_format.md) are its entries, then
the restart array:

	[entry 0] ... [entry N-1] [restart 0 uint32] ... [restart R-1 uint32] [R uint32]

and an entry is three uvarints, shared, unshared and value lengths, then
the key's last unshared bytes (the first shared come from the key before)
and the value. In the index block the values are data block handles.
*/

// restartLen is the size of a restart array element and of its count.
const restartLen = 4

// blockValues calls fn with the value of each entry of the contents b of the
// index block at offset off, in order; it decodes nothing of the keys.
func blockValues(b []byte, off int64, fn func(value []byte) error) error {
	if len(b) < restartLen {
		return formatError(off, "index block of %d bytes is shorter than its %d-byte restart count", len(b), restartLen)
	}
	restarts := uint64(binary.LittleEndian.Uint32(b[len(b)-restartLen:]))
	if avail := uint64(len(b)-restartLen) / restartLen; restarts > avail {
		return formatError(off, "index block of %d bytes claims %d restart points, room for %d", len(b), restarts, avail)
	}
	entries := b[:uint64(len(b)-restartLen)-restarts*restartLen]
	for i := 0; len(entries) > 0; i++ {
		var lens [3]uint64 // shared, unshared, value
		for j := range lens {
			v, k := binary.Uvarint(entries)
			if k <= 0 {
				return formatError(off, "index block entry %d: bad length", i)
			}
			lens[j], entries = v, entries[k:]
		}
		unshared, vlen := lens[1], lens[2]
		if unshared > uint64(len(entries)) || vlen > uint64(len(entries))-unshared {
			return formatError(off, "index block entry %d: key of %d and value of %d bytes run past the block's %d remaining bytes", i, unshared, vlen, len(entries))
		}
		if err := fn(entries[unshared : unshared+vlen]); err != nil {
			return err
		}
		entries = entries[unshared+vlen:]
	}
	return nil
}

// decodeBlockHandle returns the block handle at the start of src and its
// length in bytes, or n = 0 if src does not start with one.
func decodeBlockHandle(src []byte) (offset, length uint64, n int) {
	offset, k := binary.Uvarint(src)
	if k <= 0 {
		return 0, 0, 0
	}
	length, m := binary.Uvarint(src[k:])
	if m <= 0 {
		return 0, 0, 0
	}
	return offset, length, k + m
}

// recoverFormat, deferred, turns a panic of goleveldb on a malformed table
// into an ErrFormat error in *err.
func recoverFormat(err *error) {
	if p := recover(); p != nil {
		*err = panicError(p)
	}
}

func panicError(p any) error {
	return formatError(-1, "malformed block (goleveldb panicked: %v)", p)
}

// Scan calls fn with every key and value in increasing key order, and stops
// at the first error fn returns, which it returns unchanged. A key that is
// not greater than the key before it (out of order, or a duplicate) stops
// the scan with an *Error wrapping ErrFormat that names it. The slices are
// valid only during the call. A panic in fn is not recovered.
func (r *Reader) Scan(fn func(key, value []byte) error) (err error) {
	inFn := false
	defer func() {
		if inFn {
			return // not ours to recover
		}
		if p := recover(); p != nil {
			err = panicError(p)
		}
	}()
	it := r.r.NewIterator(nil, &opt.ReadOptions{Strict: opt.StrictAll})
	defer it.Release()
	var prev []byte // the previous key, copied; nil before the first
	for first := true; it.Next(); first = false {
		key := it.Key()
		if !first {
			if err := checkOrder(prev, key); err != nil {
				return err
			}
		}
		prev = append(prev[:0], key...)
		inFn = true
		if err := fn(key, it.Value()); err != nil {
			return err
		}
		inFn = false
	}
	return classify(it.Error())
}

// checkOrder returns an *Error naming key unless it is greater than prev, as
// a table's keys must be.
func checkOrder(prev, key []byte) error {
	switch bytes.Compare(prev, key) {
	case -1:
		return nil
	case 0:
		return &Error{Offset: -1, Key: string(key), Msg: fmt.Sprintf("duplicate key %q", key), Err: ErrFormat}
	}
	return &Error{Offset: -1, Key: string(key), Msg: fmt.Sprintf("key %q is out of order: it follows %q (keys must increase)", key, prev), Err: ErrFormat}
}

// classify maps goleveldb's corruption errors onto *Error values wrapping
// ErrChecksum or ErrFormat, keeping goleveldb's description of the place.
func classify(err error) error {
	if err == nil {
		return nil
	}
	// goleveldb v1.0.0's errors have no Unwrap methods.
	if w, ok := err.(*lerrors.ErrCorrupted); ok {
		err = w.Err
	}
	c, ok := err.(*table.ErrCorrupted)
	if !ok {
		if lerrors.IsCorrupted(err) {
			return formatError(-1, "%v", err)
		}
		return err
	}
	e := &Error{Offset: c.Pos, Msg: fmt.Sprintf("%s of %d bytes: %s", c.Kind, c.Size, c.Reason), Err: ErrFormat}
	if strings.HasPrefix(c.Reason, "checksum mismatch") {
		e.Err = ErrChecksum
	}
	return e
}

// Writer writes a LevelDB table.
type Writer struct {
	w *table.Writer
}

// NewWriter returns a writer of an uncompressed table to w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: table.NewWriter(w, writeOpts)}
}

// Add appends a key and its value; keys must come in strictly increasing
// byte order.
func (w *Writer) Add(key, value []byte) error {
	if err := w.w.Append(key, value); err != nil {
		return fmt.Errorf("ldb: %w", err)
	}
	return nil
}

// Close writes the metaindex and index blocks and the footer. It does not
// close the underlying writer.
func (w *Writer) Close() error {
	if err := w.w.Close(); err != nil {
		return fmt.Errorf("ldb: %w", err)
	}
	return nil
}
