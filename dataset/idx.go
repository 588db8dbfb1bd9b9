package dataset

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
)

// The idx format of the MNIST files (http://yann.lecun.com/exdb/mnist/):
//
//	[magic: 4 bytes big-endian] [dim 0: 4 bytes big-endian] ... [dim k-1] [data]
//
// The magic number is 0x00000803 for an image file (unsigned bytes, 3
// dimensions: count, rows, columns) and 0x00000801 for a label file
// (unsigned bytes, 1 dimension: count). Its third byte is the element type
// (0x08 = unsigned byte) and its fourth the number of dimensions, so an image
// header is 16 bytes and a label header 8. The data follow as the product of
// the dimensions in bytes, row-major, and nothing comes after them.
const (
	idxImagesMagic = 0x00000803
	idxLabelsMagic = 0x00000801
	idxMaxDim      = 1 << 24 // far above any real file
	idxMaxBytes    = 1 << 40 // bounds count·rows·cols
)

// readChunk is the most memory readFull allocates ahead of the data it has
// actually read, so that a header claiming a huge count costs no more memory
// than the bytes that are really there.
const readChunk = 1 << 20

// readFull reads exactly n bytes from r, growing its buffer as data arrive.
// It returns the bytes read so far and io.ErrUnexpectedEOF if r ends early.
func readFull(r io.Reader, n int) ([]byte, error) {
	if n < 0 {
		return nil, fmt.Errorf("dataset: read %d bytes", n)
	}
	buf := make([]byte, 0, min(n, readChunk))
	for len(buf) < n {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, min(n-len(buf), max(cap(buf), readChunk)))
		}
		m, err := io.ReadFull(r, buf[len(buf):min(n, cap(buf))])
		buf = buf[:len(buf)+m]
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return buf, err
		}
	}
	return buf, nil
}

// readIDX reads one idx file with the given magic number from r: its
// dimensions and its data. name is used in errors.
func readIDX(r io.Reader, name string, magic uint32) (dims []int, data []byte, err error) {
	var head [4]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return nil, nil, formatErr(name, 0, "truncated idx header: %v", err)
	}
	if got := binary.BigEndian.Uint32(head[:]); got != magic {
		return nil, nil, formatErr(name, 0, "bad idx magic number %#08x, want %#08x", got, magic)
	}
	k := int(magic & 0xff)
	raw := make([]byte, 4*k)
	if _, err := io.ReadFull(r, raw); err != nil {
		return nil, nil, formatErr(name, 4, "truncated idx header: want %d dimensions: %v", k, err)
	}
	total := 1
	dims = make([]int, k)
	for i := range dims {
		d := binary.BigEndian.Uint32(raw[4*i:])
		if d > idxMaxDim {
			return nil, nil, formatErr(name, int64(4+4*i), "idx dimension %d is %d, more than %d", i, d, idxMaxDim)
		}
		dims[i] = int(d)
		if d != 0 && total > idxMaxBytes/int(d) {
			return nil, nil, formatErr(name, int64(4+4*i), "idx dimensions %v give more than 2^40 bytes", dims[:i+1])
		}
		total *= dims[i]
	}
	off := int64(4 + 4*k)
	data, err = readFull(r, total)
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, nil, formatErr(name, off+int64(len(data)), "truncated: dimensions %v need %d data bytes, found %d", dims, total, len(data))
		}
		return nil, nil, formatErr(name, off+int64(len(data)), "read data: %v", err)
	}
	var one [1]byte
	switch m, err := io.ReadFull(r, one[:]); {
	case m > 0:
		return nil, nil, formatErr(name, off+int64(total), "trailing data after the %d bytes that dimensions %v give", total, dims)
	case !errors.Is(err, io.EOF):
		return nil, nil, formatErr(name, off+int64(total), "read past data: %v", err)
	}
	return dims, data, nil
}

// readIDXImages reads an idx image file: count·rows·cols pixel bytes.
func readIDXImages(r io.Reader, name string) (count, rows, cols int, pix []byte, err error) {
	dims, pix, err := readIDX(r, name, idxImagesMagic)
	if err != nil {
		return 0, 0, 0, nil, err
	}
	return dims[0], dims[1], dims[2], pix, nil
}

// readIDXLabels reads an idx label file: one byte per label.
func readIDXLabels(r io.Reader, name string) ([]byte, error) {
	_, labels, err := readIDX(r, name, idxLabelsMagic)
	return labels, err
}
