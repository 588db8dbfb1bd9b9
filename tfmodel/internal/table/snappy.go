package table

import (
	"encoding/binary"
	"errors"
)

// errSnappy is wrapped into ErrFormat by the reader.
var errSnappy = errors.New("corrupt snappy block")

// snappyDecodedLen returns the length that the Snappy block src decodes to and
// the number of bytes of its length header.
func snappyDecodedLen(src []byte) (int, int, error) {
	v, n := binary.Uvarint(src)
	if n <= 0 || v > 0xffffffff {
		return 0, 0, errSnappy
	}
	// A block cannot expand by more than maxSnappyExpansion; checking this
	// keeps a corrupt header from asking for gigabytes.
	if v > uint64(len(src))*maxSnappyExpansion {
		return 0, 0, errSnappy
	}
	return int(v), n, nil
}

// snappyDecode decodes the Snappy block src (the block format, not the
// framing format) into a new slice.
func snappyDecode(src []byte) ([]byte, error) {
	dLen, s, err := snappyDecodedLen(src)
	if err != nil {
		return nil, err
	}
	dst := make([]byte, 0, dLen)
	for s < len(src) {
		tag := src[s]
		var length, offset int
		switch tag & 3 {
		case 0: // literal
			length = int(tag >> 2)
			s++
			if length >= 60 {
				extra := length - 59 // 1 to 4 bytes of length-1
				if s+extra > len(src) {
					return nil, errSnappy
				}
				length = 0
				for i := extra - 1; i >= 0; i-- {
					length = length<<8 | int(src[s+i])
				}
				s += extra
			}
			length++
			if length > len(src)-s || length > dLen-len(dst) {
				return nil, errSnappy
			}
			dst = append(dst, src[s:s+length]...)
			s += length
			continue
		case 1: // copy, 1-byte offset
			if s+2 > len(src) {
				return nil, errSnappy
			}
			length = 4 + int(tag>>2&7)
			offset = int(tag>>5)<<8 | int(src[s+1])
			s += 2
		case 2: // copy, 2-byte offset
			if s+3 > len(src) {
				return nil, errSnappy
			}
			length = 1 + int(tag>>2)
			offset = int(binary.LittleEndian.Uint16(src[s+1:]))
			s += 3
		case 3: // copy, 4-byte offset
			if s+5 > len(src) {
				return nil, errSnappy
			}
			length = 1 + int(tag>>2)
			offset = int(binary.LittleEndian.Uint32(src[s+1:]))
			s += 5
		}
		if offset <= 0 || offset > len(dst) || length > dLen-len(dst) {
			return nil, errSnappy
		}
		// The source and destination may overlap: copy byte by byte.
		for i := len(dst) - offset; length > 0; i, length = i+1, length-1 {
			dst = append(dst, dst[i])
		}
	}
	if len(dst) != dLen {
		return nil, errSnappy
	}
	return dst, nil
}
