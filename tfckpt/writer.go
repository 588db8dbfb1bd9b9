package tfckpt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"

	"confrobust/internal/atomicfile"
	"confrobust/tfckpt/internal/ldb"

	"github.com/syndtr/goleveldb/leveldb/util"
)

// BundleWriter writes a tensor bundle with one data shard, as TensorFlow's
// BundleWriter does: tensors' bytes in the order they are added, then the
// index, uncompressed. Nothing appears under the bundle's names until Close
// succeeds: the data and the index are written to temporary files in the
// same directory, synced and renamed (package atomicfile), the index last,
// so that after a crash a bundle's index names only complete data. A
// BundleWriter is not safe for concurrent use.
type BundleWriter struct {
	prefix  string
	data    *atomicfile.File
	offset  int64
	entries []Entry
	keys    map[string]bool
	scratch []byte
	err     error // sticky
}

// CreateBundle starts a bundle with the given prefix, creating its
// directory if needed. Existing files of a bundle with the same prefix are
// replaced when Close succeeds.
func CreateBundle(prefix string) (*BundleWriter, error) {
	dir, base := filepath.Split(prefix)
	if base == "" {
		return nil, fmt.Errorf("tfckpt: create bundle: prefix %q names a directory", prefix)
	}
	if dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("tfckpt: create bundle: %w", err)
		}
	}
	f, err := atomicfile.Create(ShardPath(prefix, 0, 1))
	if err != nil {
		return nil, fmt.Errorf("tfckpt: create bundle: %w", err)
	}
	return &BundleWriter{prefix: prefix, data: f, keys: map[string]bool{}}, nil
}

// Add appends the tensor t under key. Keys must be unique and not empty
// (the empty key is the header's). An invalid key or tensor is an error
// that adds nothing and leaves the writer usable; a write error is sticky.
func (w *BundleWriter) Add(key string, t *Tensor) error {
	if err := w.start(key); err != nil {
		return err
	}
	if err := t.check(); err != nil {
		return fmt.Errorf("tfckpt: add %q: %w", key, err)
	}
	e := Entry{Key: key, DType: t.DType, Shape: slices.Clone(t.Shape), Offset: w.offset}
	var c util.CRC
	if t.DType == DTString {
		c = w.writeStrings(t.Strings)
	} else {
		c = util.NewCRC(t.Data)
		w.write(t.Data)
	}
	return w.finish(e, c)
}

// AddFloat32 appends a DTFloat tensor of the given shape and values under
// key, converting in chunks rather than building a Tensor.
func (w *BundleWriter) AddFloat32(key string, shape []int, values []float32) error {
	if err := w.start(key); err != nil {
		return err
	}
	n, err := numElements(shape)
	if err != nil {
		return fmt.Errorf("tfckpt: add %q: %w", key, err)
	}
	if n != int64(len(values)) {
		return fmt.Errorf("tfckpt: add %q: %d values for shape %v", key, len(values), shape)
	}
	e := Entry{Key: key, DType: DTFloat, Shape: slices.Clone(shape), Offset: w.offset}
	var c util.CRC
	const chunk = 16 << 10
	for i := 0; i < len(values); i += chunk {
		p := w.scratch[:0]
		for _, v := range values[i:min(i+chunk, len(values))] {
			p = binary.LittleEndian.AppendUint32(p, math.Float32bits(v))
		}
		w.scratch = p
		c = c.Update(p)
		w.write(p)
	}
	return w.finish(e, c)
}

func (w *BundleWriter) start(key string) error {
	if w.err != nil {
		return w.err
	}
	if key == "" {
		return errors.New("tfckpt: add: empty key (reserved for the bundle header)")
	}
	if w.keys[key] {
		return fmt.Errorf("tfckpt: add %q: key added twice", key)
	}
	return nil
}

func (w *BundleWriter) finish(e Entry, c util.CRC) error {
	if w.err != nil {
		return w.err
	}
	e.Size = w.offset - e.Offset
	e.CRC32C = c.Value()
	w.keys[e.Key] = true
	w.entries = append(w.entries, e)
	return nil
}

// write appends p to the data file.
func (w *BundleWriter) write(p []byte) {
	if w.err == nil {
		if _, err := w.data.Write(p); err != nil {
			w.err = fmt.Errorf("tfckpt: %w", err)
		}
	}
	w.offset += int64(len(p))
}

// writeStrings appends a DT_STRING tensor's bytes and returns their CRC as
// TensorFlow computes it (see the layout in bundle.go).
func (w *BundleWriter) writeStrings(s [][]byte) util.CRC {
	var lens []byte
	var c util.CRC
	var tmp [8]byte
	for _, x := range s {
		lens = binary.AppendUvarint(lens, uint64(len(x)))
		if uint64(len(x)) <= math.MaxUint32 {
			binary.LittleEndian.PutUint32(tmp[:], uint32(len(x)))
			c = c.Update(tmp[:4])
		} else {
			binary.LittleEndian.PutUint64(tmp[:], uint64(len(x)))
			c = c.Update(tmp[:8])
		}
	}
	w.write(lens)
	binary.LittleEndian.PutUint32(tmp[:], c.Value())
	w.write(tmp[:4])
	c = c.Update(tmp[:4])
	for _, x := range s {
		w.write(x)
		c = c.Update(x)
	}
	return c
}

// Close writes the index and moves the data shard and the index to their
// final names. After an error the temporary files are removed and nothing
// of the bundle is left; Close returns the first error of the writer.
func (w *BundleWriter) Close() error {
	if errors.Is(w.err, errWriterClosed) {
		return w.err
	}
	err := w.close()
	w.data.Abort() // a no-op after a successful commit
	w.err = errWriterClosed
	return err
}

var errWriterClosed = errors.New("tfckpt: bundle writer is closed")

// Abort discards the bundle: it removes the temporary data file and writes
// nothing under the bundle's names. Use it instead of Close after an Add
// error that should not leave a bundle behind.
func (w *BundleWriter) Abort() {
	if errors.Is(w.err, errWriterClosed) {
		return
	}
	w.data.Abort()
	w.err = errWriterClosed
}

func (w *BundleWriter) close() error {
	if w.err != nil {
		return w.err
	}
	index, err := encodeIndex(Header{NumShards: 1, Producer: bundleVersion}, w.entries)
	if err != nil {
		return err
	}
	// The data first, then the index: an index on disk always names
	// complete, synced data.
	if err := w.data.Commit(); err != nil {
		return fmt.Errorf("tfckpt: write bundle %s: %w", w.prefix, err)
	}
	if err := atomicfile.Write(IndexPath(w.prefix), index); err != nil {
		return fmt.Errorf("tfckpt: write bundle %s: %w", w.prefix, err)
	}
	return nil
}

// encodeIndex returns the index table of a bundle with the given header and
// entries.
func encodeIndex(h Header, entries []Entry) ([]byte, error) {
	sorted := slices.Clone(entries)
	slices.SortFunc(sorted, func(a, b Entry) int { return bytes.Compare([]byte(a.Key), []byte(b.Key)) })
	var buf bytes.Buffer
	t := ldb.NewWriter(&buf)
	if err := t.Add(nil, encodeHeader(h)); err != nil {
		return nil, fmt.Errorf("tfckpt: write index: %w", err)
	}
	for i := range sorted {
		if err := t.Add([]byte(sorted[i].Key), encodeEntry(&sorted[i])); err != nil {
			return nil, fmt.Errorf("tfckpt: write index: %w", err)
		}
	}
	if err := t.Close(); err != nil {
		return nil, fmt.Errorf("tfckpt: write index: %w", err)
	}
	return buf.Bytes(), nil
}
