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
// decompresses Snappy blocks; the writer never compresses. Neither is safe
// for concurrent use.
package ldb

import (
	"errors"
	"fmt"
	"io"
	"strings"

	lerrors "github.com/syndtr/goleveldb/leveldb/errors"
	"github.com/syndtr/goleveldb/leveldb/opt"
	"github.com/syndtr/goleveldb/leveldb/storage"
	"github.com/syndtr/goleveldb/leveldb/table"
)

// Errors a caller can test with errors.Is.
var (
	// ErrFormat means the file is not a valid LevelDB table.
	ErrFormat = errors.New("ldb: not a valid table")
	// ErrChecksum means a block's checksum does not match its contents.
	ErrChecksum = errors.New("ldb: checksum mismatch")
)

// strict makes goleveldb verify every block checksum and refuse any
// corruption instead of skipping it.
var strict = &opt.Options{Strict: opt.StrictAll, Compression: opt.NoCompression}

// Reader reads a LevelDB table.
type Reader struct {
	r *table.Reader
}

// NewReader opens the table held by f, which is size bytes long. It checks
// the footer and the metaindex block; Scan reads the rest.
func NewReader(f io.ReaderAt, size int64) (*Reader, error) {
	r, err := table.NewReader(f, size, storage.FileDesc{Type: storage.TypeTable}, nil, nil, strict)
	if err != nil {
		return nil, classify(err)
	}
	return &Reader{r: r}, nil
}

// Scan calls fn with every key and value in increasing key order, and stops
// at the first error fn returns, which it returns unchanged. The slices are
// valid only during the call.
func (r *Reader) Scan(fn func(key, value []byte) error) error {
	it := r.r.NewIterator(nil, &opt.ReadOptions{Strict: opt.StrictAll})
	defer it.Release()
	for it.Next() {
		if err := fn(it.Key(), it.Value()); err != nil {
			return err
		}
	}
	return classify(it.Error())
}

// classify maps goleveldb's corruption errors onto ErrChecksum and ErrFormat,
// keeping goleveldb's message (which says where the corruption is).
func classify(err error) error {
	if err == nil {
		return nil
	}
	var c *lerrors.ErrCorrupted
	if !errors.As(err, &c) && !lerrors.IsCorrupted(err) {
		return err
	}
	msg := strings.TrimPrefix(err.Error(), "leveldb: ")
	if strings.Contains(msg, "checksum mismatch") {
		return fmt.Errorf("%w: %s", ErrChecksum, msg)
	}
	return fmt.Errorf("%w: %s", ErrFormat, msg)
}

// Writer writes a LevelDB table.
type Writer struct {
	w *table.Writer
}

// NewWriter returns a writer of an uncompressed table to w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: table.NewWriter(w, strict)}
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
