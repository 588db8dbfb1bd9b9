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
// Reading verifies every block checksum (goleveldb's opt.StrictAll) and
// decompresses Snappy blocks; the writer never compresses and cuts blocks at
// TensorFlow's 256 KiB. Neither is safe for concurrent use.
package ldb

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	lerrors "github.com/syndtr/goleveldb/leveldb/errors"
	"github.com/syndtr/goleveldb/leveldb/opt"
	"github.com/syndtr/goleveldb/leveldb/storage"
	"github.com/syndtr/goleveldb/leveldb/table"
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

What goleveldb v1.0.0 does not check, and this package does:

  - readRawBlock allocates a block handle's length (plus the trailer) before
    it reads, and never compares the handle with the file size, so a footer
    claiming a 1 TiB block is a fatal out-of-memory error that no recover
    catches. NewReader checks the footer's two handles against the file
    first.
  - Malformed blocks whose checksum is right (a block shorter than its
    4-byte restart count, entry lengths that overflow int) make it panic;
    NewReader and Scan turn such panics into ErrFormat.
  - goleveldb's indexed iterator recurses once for each empty data block,
    and index entries can all point at the same empty block (5 bytes an
    entry): 70 million of them (a 350 MB table) overflowed the 1 GB
    goroutine stack, a fatal error; 22 million (110 MB) did not. MaxSize,
    64 MiB, allows at most 13.4 million entries. NewReader refuses larger
    files before reading them, then reads the file into memory once and
    hands goleveldb a reader of that copy.

What remains (found by reading goleveldb's table/reader.go and tried on
crafted tables): the data blocks' handles live in the index block, which
goleveldb reads with its checksum verified but decodes without comparing
them with the file size, so a deliberately crafted index block with a
correct CRC can still

  - claim a data block of up to 2^48 bytes, which goleveldb's readRawBlock
    allocates before it reads anything: a fatal out-of-memory error for a
    claim of 1 TiB (larger claims make make() panic, which Scan recovers;
    claims past the end of the file but small read as zeros and fail the
    checksum);
  - make any block Snappy-compressed (the footer's two included) with a
    header promising up to 4 GiB, which goleveldb allocates before decoding
    (an error, not a crash, where the allocation succeeds).

Closing these would mean decoding the index block here, which is the table
parser this package exists to avoid. MaxSize bounds the index block itself
and the number of its entries; it cannot bound what they claim. Accidental
corruption is caught by the checksums; only hostile files reach these
paths.
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
	Offset int64 // of the bad block or footer in the file; -1 if not known
	Msg    string
	Err    error
}

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
// memory (it refuses tables larger than MaxSize), checks its footer, and
// has goleveldb check the metaindex and index blocks; Scan reads the rest.
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
	if err := checkFooter(data); err != nil {
		return nil, err
	}
	defer recoverFormat(&err)
	r, err := table.NewReader(bytes.NewReader(data), size, storage.FileDesc{}, nil, nil, readOpts)
	if err != nil {
		return nil, classify(err)
	}
	return &Reader{r: r}, nil
}

// checkFooter checks the magic number of the table in data and that its
// two block handles lie inside the file, before the footer.
func checkFooter(data []byte) error {
	end := uint64(len(data) - footerLen)
	footer := data[end:]
	if m := binary.LittleEndian.Uint64(footer[footerLen-8:]); m != magic {
		return formatError(int64(end)+footerLen-8, "bad magic number %#016x, want %#016x", m, uint64(magic))
	}
	n := 0
	for _, name := range []string{"metaindex", "index"} {
		off, length, k := decodeBlockHandle(footer[n:])
		if k == 0 {
			return formatError(int64(end)+int64(n), "bad %s block handle", name)
		}
		if off > end || length > end-off || end-off-length < blockTrailerLen {
			return formatError(int64(end)+int64(n), "%s block [%d, +%d) and its %d-byte trailer run past the %d bytes before the footer",
				name, off, length, blockTrailerLen, end)
		}
		n += k
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
// at the first error fn returns, which it returns unchanged. The slices are
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
	for it.Next() {
		inFn = true
		if err := fn(it.Key(), it.Value()); err != nil {
			return err
		}
		inFn = false
	}
	return classify(it.Error())
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
