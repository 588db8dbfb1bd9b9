package tfmodel

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// This file encodes and decodes the two protocol buffers of a bundle's index,
// BundleHeaderProto and BundleEntryProto (tensorflow/core/protobuf/
// tensor_bundle.proto), with the few fields they use written out by hand:
//
//	BundleHeaderProto: 1 num_shards int32, 2 endianness enum (0 LITTLE,
//	    1 BIG), 3 version VersionDef {1 producer int32, 2 min_consumer int32,
//	    3 bad_consumers repeated int32}
//	BundleEntryProto: 1 dtype enum, 2 shape TensorShapeProto {2 dim repeated
//	    {1 size int64, 2 name string}, 3 unknown_rank bool}, 3 shard_id int32,
//	    4 offset int64, 5 size int64, 6 crc32c fixed32, 7 slices repeated
//	    TensorSliceProto
//
// Unknown fields are skipped, as protobuf parsers do.

// Protocol buffer wire types.
const (
	wireVarint  = 0
	wireFixed64 = 1
	wireBytes   = 2
	wireFixed32 = 5
)

var errProto = errors.New("malformed protocol buffer")

// protoReader consumes a protocol buffer message field by field. Its first
// error is sticky; after it every read returns zero values.
type protoReader struct {
	b   []byte
	err error
}

// next returns the next field's number and wire type, or ok false at the end
// of the message or after an error.
func (p *protoReader) next() (field, wire int, ok bool) {
	if p.err != nil || len(p.b) == 0 {
		return 0, 0, false
	}
	tag := p.varint()
	if p.err != nil {
		return 0, 0, false
	}
	if tag>>3 == 0 || tag>>3 > 1<<29-1 {
		p.err = fmt.Errorf("%w: field number %d", errProto, tag>>3)
		return 0, 0, false
	}
	return int(tag >> 3), int(tag & 7), true
}

func (p *protoReader) varint() uint64 {
	if p.err != nil {
		return 0
	}
	v, n := binary.Uvarint(p.b)
	if n <= 0 {
		p.err = fmt.Errorf("%w: bad varint", errProto)
		return 0
	}
	p.b = p.b[n:]
	return v
}

func (p *protoReader) fixed32() uint32 {
	if p.err != nil {
		return 0
	}
	if len(p.b) < 4 {
		p.err = fmt.Errorf("%w: truncated fixed32", errProto)
		return 0
	}
	v := binary.LittleEndian.Uint32(p.b)
	p.b = p.b[4:]
	return v
}

func (p *protoReader) bytes() []byte {
	n := p.varint()
	if p.err != nil {
		return nil
	}
	if n > uint64(len(p.b)) {
		p.err = fmt.Errorf("%w: field of %d bytes in %d", errProto, n, len(p.b))
		return nil
	}
	v := p.b[:n:n]
	p.b = p.b[n:]
	return v
}

// skip skips a field of the given wire type.
func (p *protoReader) skip(wire int) {
	switch wire {
	case wireVarint:
		p.varint()
	case wireFixed64:
		if len(p.b) < 8 {
			p.err = fmt.Errorf("%w: truncated fixed64", errProto)
			return
		}
		p.b = p.b[8:]
	case wireBytes:
		p.bytes()
	case wireFixed32:
		p.fixed32()
	default:
		p.err = fmt.Errorf("%w: wire type %d", errProto, wire)
	}
}

// want checks that a known field has the wire type its .proto declares. A
// repeated scalar may also come packed (wireBytes); callers handle that.
func (p *protoReader) want(field, wire, declared int) bool {
	if p.err == nil && wire != declared {
		p.err = fmt.Errorf("%w: field %d has wire type %d, want %d", errProto, field, wire, declared)
	}
	return p.err == nil
}

// Endianness values of BundleHeaderProto.
const (
	littleEndian = 0
	bigEndian    = 1
)

// Header is a bundle's BundleHeaderProto: the number of data shards, the byte
// order of the tensor data, and the format version that wrote it.
type Header struct {
	NumShards    int
	BigEndian    bool
	Producer     int   // VersionDef.producer (1 for every bundle TensorFlow writes)
	MinConsumer  int   // the oldest reader version that can read the bundle
	BadConsumers []int // reader versions that must not read the bundle
}

// bundleVersion is the version of the tensor-bundle format this package
// reads and writes (TensorFlow's kTensorBundleVersion).
const bundleVersion = 1

func decodeHeader(b []byte) (Header, error) {
	var h Header
	p := protoReader{b: b}
	var endianness uint64
	for {
		f, w, ok := p.next()
		if !ok {
			break
		}
		switch f {
		case 1:
			if p.want(f, w, wireVarint) {
				h.NumShards = int(int32(p.varint()))
			}
		case 2:
			if p.want(f, w, wireVarint) {
				endianness = p.varint()
			}
		case 3:
			if p.want(f, w, wireBytes) {
				h.Producer, h.MinConsumer, h.BadConsumers = decodeVersion(&p, p.bytes())
			}
		default:
			p.skip(w)
		}
	}
	if p.err != nil {
		return Header{}, p.err
	}
	switch endianness {
	case littleEndian:
	case bigEndian:
		h.BigEndian = true
	default:
		return Header{}, fmt.Errorf("unknown endianness %d", endianness)
	}
	return h, nil
}

// decodeVersion decodes a VersionDef, reporting errors through outer.
func decodeVersion(outer *protoReader, b []byte) (producer, minConsumer int, bad []int) {
	p := protoReader{b: b}
	for {
		f, w, ok := p.next()
		if !ok {
			break
		}
		switch {
		case f == 1 && p.want(f, w, wireVarint):
			producer = int(int32(p.varint()))
		case f == 2 && p.want(f, w, wireVarint):
			minConsumer = int(int32(p.varint()))
		case f == 3 && w == wireBytes: // packed
			q := protoReader{b: p.bytes()}
			for len(q.b) > 0 && q.err == nil {
				bad = append(bad, int(int32(q.varint())))
			}
			p.err = errors.Join(p.err, q.err)
		case f == 3 && p.want(f, w, wireVarint):
			bad = append(bad, int(int32(p.varint())))
		case f > 3:
			p.skip(w)
		}
	}
	if outer.err == nil {
		outer.err = p.err
	}
	return producer, minConsumer, bad
}

func encodeHeader(h Header) []byte {
	var b []byte
	if h.NumShards != 0 {
		b = appendVarintField(b, 1, uint64(int64(h.NumShards)))
	}
	if h.BigEndian {
		b = appendVarintField(b, 2, bigEndian)
	}
	var v []byte
	if h.Producer != 0 {
		v = appendVarintField(v, 1, uint64(int64(h.Producer)))
	}
	if h.MinConsumer != 0 {
		v = appendVarintField(v, 2, uint64(int64(h.MinConsumer)))
	}
	for _, c := range h.BadConsumers {
		v = appendVarintField(v, 3, uint64(int64(c)))
	}
	return appendBytesField(b, 3, v)
}

// rawEntry is a decoded BundleEntryProto before validation.
type rawEntry struct {
	dtype        DType
	shape        []int64
	unknownRank  bool
	shard        int64
	offset, size int64
	crc          uint32
	slices       int
}

func decodeEntry(b []byte) (rawEntry, error) {
	var e rawEntry
	p := protoReader{b: b}
	for {
		f, w, ok := p.next()
		if !ok {
			break
		}
		switch f {
		case 1:
			if p.want(f, w, wireVarint) {
				e.dtype = DType(int32(p.varint()))
			}
		case 2:
			if p.want(f, w, wireBytes) {
				e.shape, e.unknownRank = decodeShape(&p, p.bytes())
			}
		case 3:
			if p.want(f, w, wireVarint) {
				e.shard = int64(int32(p.varint()))
			}
		case 4:
			if p.want(f, w, wireVarint) {
				e.offset = int64(p.varint())
			}
		case 5:
			if p.want(f, w, wireVarint) {
				e.size = int64(p.varint())
			}
		case 6:
			if p.want(f, w, wireFixed32) {
				e.crc = p.fixed32()
			}
		case 7:
			if p.want(f, w, wireBytes) {
				p.bytes()
				e.slices++
			}
		default:
			p.skip(w)
		}
	}
	return e, p.err
}

// decodeShape decodes a TensorShapeProto, reporting errors through outer.
func decodeShape(outer *protoReader, b []byte) (dims []int64, unknownRank bool) {
	p := protoReader{b: b}
	for {
		f, w, ok := p.next()
		if !ok {
			break
		}
		switch {
		case f == 2 && p.want(f, w, wireBytes):
			q := protoReader{b: p.bytes()}
			var size int64
			for {
				g, v, ok := q.next()
				if !ok {
					break
				}
				if g == 1 && q.want(g, v, wireVarint) {
					size = int64(q.varint())
				} else if g != 1 {
					q.skip(v) // the dimension's name
				}
			}
			p.err = errors.Join(p.err, q.err)
			dims = append(dims, size)
		case f == 3 && p.want(f, w, wireVarint):
			unknownRank = p.varint() != 0
		case f != 2 && f != 3:
			p.skip(w)
		}
	}
	if outer.err == nil {
		outer.err = p.err
	}
	return dims, unknownRank
}

// encodeEntry encodes e as TensorFlow does: zero scalars omitted, the shape
// always present (empty for a scalar).
func encodeEntry(e *Entry) []byte {
	var b []byte
	b = appendVarintField(b, 1, uint64(e.DType))
	var shape []byte
	for _, d := range e.Shape {
		var dim []byte
		if d != 0 {
			dim = appendVarintField(dim, 1, uint64(d))
		}
		shape = appendBytesField(shape, 2, dim)
	}
	b = appendBytesField(b, 2, shape)
	if e.Shard != 0 {
		b = appendVarintField(b, 3, uint64(e.Shard))
	}
	if e.Offset != 0 {
		b = appendVarintField(b, 4, uint64(e.Offset))
	}
	if e.Size != 0 {
		b = appendVarintField(b, 5, uint64(e.Size))
	}
	if e.CRC32C != 0 {
		b = binary.AppendUvarint(b, 6<<3|wireFixed32)
		b = binary.LittleEndian.AppendUint32(b, e.CRC32C)
	}
	return b
}

func appendVarintField(b []byte, field int, v uint64) []byte {
	b = binary.AppendUvarint(b, uint64(field)<<3|wireVarint)
	return binary.AppendUvarint(b, v)
}

func appendBytesField(b []byte, field int, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(field)<<3|wireBytes)
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}
