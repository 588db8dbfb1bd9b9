package table

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"

	"confrobust/tfmodel/internal/crc"
)

// blockHandle is the position of a block in the file, trailer excluded.
type blockHandle struct {
	offset, length uint64
}

// decodeBlockHandle returns the handle encoded at the start of src and the
// number of bytes read, or 0 if src does not start with a handle.
func decodeBlockHandle(src []byte) (blockHandle, int) {
	offset, n := binary.Uvarint(src)
	if n <= 0 {
		return blockHandle{}, 0
	}
	length, m := binary.Uvarint(src[n:])
	if m <= 0 {
		return blockHandle{}, 0
	}
	return blockHandle{offset, length}, n + m
}

// Reader reads a table. It holds the index block; data blocks are read when
// they are scanned.
type Reader struct {
	f     io.ReaderAt
	size  int64
	index []blockHandle // data blocks, in key order

	// VerifyChecksums says whether to check each block's CRC as it is read.
	// NewReader sets it to true. The footer's index block is always checked.
	VerifyChecksums bool
}

// NewReader returns a reader of the table in f, which is size bytes long. It
// reads the footer and the index block; a malformed table gives an error
// wrapping ErrFormat or ErrChecksum.
func NewReader(f io.ReaderAt, size int64) (*Reader, error) {
	r := &Reader{f: f, size: size, VerifyChecksums: true}
	if size < footerLen {
		return nil, r.formatError(0, "file of %d bytes is shorter than the %d-byte footer", size, footerLen)
	}
	var footer [footerLen]byte
	if _, err := f.ReadAt(footer[:], size-footerLen); err != nil {
		return nil, fmt.Errorf("table: read footer: %w", err)
	}
	if m := binary.LittleEndian.Uint64(footer[footerLen-8:]); m != magic {
		return nil, r.formatError(size-8, "bad magic number %#016x, want %#016x", m, uint64(magic))
	}
	metaBH, n := decodeBlockHandle(footer[:])
	if n == 0 {
		return nil, r.formatError(size-footerLen, "bad metaindex block handle")
	}
	indexBH, m := decodeBlockHandle(footer[n:])
	if m == 0 {
		return nil, r.formatError(size-footerLen+int64(n), "bad index block handle")
	}
	// The metaindex block only names filter blocks, which a scan has no use
	// for, but its position bounds the data blocks.
	if err := r.checkHandle(metaBH, "metaindex"); err != nil {
		return nil, err
	}
	block, err := r.readBlock(indexBH, "index", true)
	if err != nil {
		return nil, err
	}
	err = scanBlock(block, func(key, value []byte) error {
		bh, n := decodeBlockHandle(value)
		if n == 0 || n != len(value) {
			return fmt.Errorf("bad data block handle % x", value)
		}
		if bh.offset > metaBH.offset || metaBH.offset-bh.offset < blockTrailerLen || bh.length > metaBH.offset-bh.offset-blockTrailerLen {
			return fmt.Errorf("data block [%d, +%d) overlaps the metaindex block at %d", bh.offset, bh.length, metaBH.offset)
		}
		r.index = append(r.index, bh)
		return nil
	})
	if err != nil {
		return nil, r.formatError(int64(indexBH.offset), "index block: %v", err)
	}
	return r, nil
}

// Blocks returns the number of data blocks.
func (r *Reader) Blocks() int { return len(r.index) }

// Scan calls fn for every entry of the table in key order. The key and value
// passed to fn are valid only during the call and must not be modified. Scan
// stops at the first error, from fn or from the table, and returns it; keys
// that do not strictly increase are an ErrFormat error.
func (r *Reader) Scan(fn func(key, value []byte) error) error {
	var prev []byte
	first := true
	for i, bh := range r.index {
		block, err := r.readBlock(bh, fmt.Sprintf("data block %d", i), r.VerifyChecksums)
		if err != nil {
			return err
		}
		var fnErr error
		err = scanBlock(block, func(key, value []byte) error {
			if !first && bytes.Compare(prev, key) >= 0 {
				return fmt.Errorf("key %q does not come after %q", key, prev)
			}
			first = false
			prev = append(prev[:0], key...)
			if fnErr = fn(key, value); fnErr != nil {
				return fnErr
			}
			return nil
		})
		if fnErr != nil {
			return fnErr
		}
		if err != nil {
			return r.formatError(int64(bh.offset), "data block %d: %v", i, err)
		}
	}
	return nil
}

// checkHandle checks that the block bh and its trailer lie inside the file.
func (r *Reader) checkHandle(bh blockHandle, kind string) error {
	end := bh.offset + bh.length + blockTrailerLen
	if bh.length > uint64(r.size) || bh.offset > uint64(r.size) || end > uint64(r.size-footerLen) {
		return r.formatError(int64(min(bh.offset, uint64(r.size))), "%s block [%d, +%d) runs past the end of the %d-byte table", kind, bh.offset, bh.length, r.size)
	}
	return nil
}

// readBlock reads the block bh, checks its trailer and returns its
// uncompressed contents.
func (r *Reader) readBlock(bh blockHandle, kind string, verify bool) ([]byte, error) {
	if err := r.checkHandle(bh, kind); err != nil {
		return nil, err
	}
	buf := make([]byte, bh.length+blockTrailerLen)
	if _, err := r.f.ReadAt(buf, int64(bh.offset)); err != nil {
		return nil, fmt.Errorf("table: read %s block at %d: %w", kind, bh.offset, err)
	}
	data, typ := buf[:bh.length], buf[bh.length]
	if verify {
		want := binary.LittleEndian.Uint32(buf[bh.length+1:])
		if got := crc.New(buf[:bh.length+1]).Value(); got != want {
			return nil, fmt.Errorf("%w: %s block at %d: stored crc %#08x, computed %#08x", ErrChecksum, kind, bh.offset, want, got)
		}
	}
	switch typ {
	case noCompression:
		return data, nil
	case snappyCompression:
		out, err := snappyDecode(data)
		if err != nil {
			return nil, r.formatError(int64(bh.offset), "%s block: %v", kind, err)
		}
		return out, nil
	default:
		return nil, r.formatError(int64(bh.offset+bh.length), "%s block: unknown compression type %d", kind, typ)
	}
}

// scanBlock calls fn for every entry of the uncompressed block b. The key
// passed to fn is reused between calls.
func scanBlock(b []byte, fn func(key, value []byte) error) error {
	if len(b) < restartEntryLen {
		return fmt.Errorf("block of %d bytes has no restart count", len(b))
	}
	nRestarts := uint64(binary.LittleEndian.Uint32(b[len(b)-restartEntryLen:]))
	if nRestarts == 0 || (nRestarts+1)*restartEntryLen > uint64(len(b)) {
		return fmt.Errorf("restart count %d does not fit a block of %d bytes", nRestarts, len(b))
	}
	end := len(b) - int(nRestarts+1)*restartEntryLen
	var key []byte
	for off := 0; off < end; {
		start := off
		var v [3]uint64
		for i := range v {
			x, n := binary.Uvarint(b[off:end])
			if n <= 0 {
				return fmt.Errorf("entry at %d: bad length", start)
			}
			v[i], off = x, off+n
		}
		shared, unshared, valueLen := v[0], v[1], v[2]
		if shared > uint64(len(key)) {
			return fmt.Errorf("entry at %d shares %d bytes with a %d-byte key", start, shared, len(key))
		}
		if unshared > uint64(end-off) || valueLen > uint64(end-off)-unshared {
			return fmt.Errorf("entry at %d: key and value lengths %d, %d run past the block", start, unshared, valueLen)
		}
		key = append(key[:shared], b[off:off+int(unshared)]...)
		off += int(unshared)
		value := b[off : off+int(valueLen) : off+int(valueLen)]
		off += int(valueLen)
		if err := fn(key, value); err != nil {
			return err
		}
	}
	return nil
}

func (r *Reader) formatError(off int64, format string, a ...any) error {
	return fmt.Errorf("%w: at byte %d: %s", ErrFormat, off, fmt.Sprintf(format, a...))
}
