package table

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"confrobust/tfmodel/internal/crc"
)

// blockWriter builds one block. Its buffers are reused across blocks.
type blockWriter struct {
	buf      []byte
	restarts []uint32
	prevKey  []byte
	entries  int
	interval int
}

func (b *blockWriter) add(key, value []byte) {
	shared := 0
	if b.entries%b.interval == 0 {
		b.restarts = append(b.restarts, uint32(len(b.buf)))
	} else {
		for shared < len(key) && shared < len(b.prevKey) && key[shared] == b.prevKey[shared] {
			shared++
		}
	}
	b.buf = binary.AppendUvarint(b.buf, uint64(shared))
	b.buf = binary.AppendUvarint(b.buf, uint64(len(key)-shared))
	b.buf = binary.AppendUvarint(b.buf, uint64(len(value)))
	b.buf = append(b.buf, key[shared:]...)
	b.buf = append(b.buf, value...)
	b.prevKey = append(b.prevKey[:0], key...)
	b.entries++
}

// finish appends the restart array and returns the block's contents.
func (b *blockWriter) finish() []byte {
	if len(b.restarts) == 0 {
		b.restarts = append(b.restarts, 0)
	}
	for _, r := range b.restarts {
		b.buf = binary.LittleEndian.AppendUint32(b.buf, r)
	}
	b.buf = binary.LittleEndian.AppendUint32(b.buf, uint32(len(b.restarts)))
	return b.buf
}

func (b *blockWriter) reset() {
	b.buf, b.restarts, b.entries = b.buf[:0], b.restarts[:0], 0
}

// Writer writes a table with uncompressed blocks, as TensorFlow writes a
// bundle's index: 256 KiB data blocks, a restart point every 16 entries.
type Writer struct {
	w       io.Writer
	offset  uint64
	data    blockWriter
	index   blockWriter
	lastKey []byte
	pending bool        // a data block was written and awaits its index entry
	pendBH  blockHandle // its handle
	n       int
	err     error // sticky
	scratch []byte
}

// NewWriter returns a writer of a table to w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: w, data: blockWriter{interval: restartInterval}, index: blockWriter{interval: 1}}
}

// Add appends an entry. Keys must strictly increase in byte order. The
// writer copies key and value.
func (w *Writer) Add(key, value []byte) error {
	if w.err != nil {
		return w.err
	}
	if w.n > 0 && bytes.Compare(w.lastKey, key) >= 0 {
		return fmt.Errorf("table: key %q added after %q", key, w.lastKey)
	}
	if w.pending {
		w.addIndexEntry(separator(w.scratch[:0], w.lastKey, key))
	}
	w.data.add(key, value)
	w.lastKey = append(w.lastKey[:0], key...)
	w.n++
	if len(w.data.buf)+len(w.data.restarts)*restartEntryLen+restartEntryLen >= defaultBlockSize {
		w.finishDataBlock()
	}
	return w.err
}

func (w *Writer) finishDataBlock() {
	w.pendBH = w.writeBlock(w.data.finish())
	w.pending = true
	w.data.reset()
}

func (w *Writer) addIndexEntry(key []byte) {
	w.scratch = key
	var h [maxBlockHandleLen]byte
	n := binary.PutUvarint(h[:], w.pendBH.offset)
	n += binary.PutUvarint(h[n:], w.pendBH.length)
	w.index.add(key, h[:n])
	w.pending = false
}

// writeBlock writes the block contents b and its trailer.
func (w *Writer) writeBlock(b []byte) blockHandle {
	if w.err != nil {
		return blockHandle{}
	}
	var trailer [blockTrailerLen]byte
	trailer[0] = noCompression
	binary.LittleEndian.PutUint32(trailer[1:], crc.New(b).Update(trailer[:1]).Value())
	bh := blockHandle{w.offset, uint64(len(b))}
	if _, err := w.w.Write(b); err != nil {
		w.err = fmt.Errorf("table: write: %w", err)
		return bh
	}
	if _, err := w.w.Write(trailer[:]); err != nil {
		w.err = fmt.Errorf("table: write: %w", err)
		return bh
	}
	w.offset += uint64(len(b)) + blockTrailerLen
	return bh
}

// Close writes the last data block, the metaindex and index blocks and the
// footer. It does not close the underlying writer.
func (w *Writer) Close() error {
	if w.err != nil {
		return w.err
	}
	if w.data.entries > 0 || w.n == 0 {
		w.finishDataBlock()
	}
	if w.pending {
		w.addIndexEntry(successor(w.scratch[:0], w.lastKey))
	}
	w.data.reset()
	metaBH := w.writeBlock(w.data.finish())
	indexBH := w.writeBlock(w.index.finish())
	var footer [footerLen]byte
	n := binary.PutUvarint(footer[:], metaBH.offset)
	n += binary.PutUvarint(footer[n:], metaBH.length)
	n += binary.PutUvarint(footer[n:], indexBH.offset)
	binary.PutUvarint(footer[n:], indexBH.length)
	binary.LittleEndian.PutUint64(footer[footerLen-8:], magic)
	if w.err == nil {
		if _, err := w.w.Write(footer[:]); err != nil {
			w.err = fmt.Errorf("table: write: %w", err)
		}
	}
	if w.err != nil {
		return w.err
	}
	w.err = errors.New("table: writer is closed")
	return nil
}

// separator appends to dst a short key k with a <= k < b, as LevelDB's
// bytewise comparator's FindShortestSeparator does.
func separator(dst, a, b []byte) []byte {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	if i < len(a) && i < len(b) {
		if c := a[i]; c < 0xff && c+1 < b[i] {
			dst = append(dst, a[:i+1]...)
			dst[i]++
			return dst
		}
	}
	return append(dst, a...)
}

// successor appends to dst a short key k >= a, as LevelDB's bytewise
// comparator's FindShortSuccessor does.
func successor(dst, a []byte) []byte {
	for i, c := range a {
		if c != 0xff {
			dst = append(dst, a[:i+1]...)
			dst[i]++
			return dst
		}
	}
	return append(dst, a...)
}
