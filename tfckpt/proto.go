package tfckpt

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// This file encodes and decodes the two protocol buffers of a bundle's index,
// BundleHeaderProto and BundleEntryProto (tensorflow/core/protobuf/
// tensor_bundle.proto), with google.golang.org/protobuf's protowire and the
// few fields they use written out here:
//
//	BundleHeaderProto: 1 num_shards int32, 2 endianness enum (0 LITTLE,
//	    1 BIG), 3 version VersionDef {1 producer int32, 2 min_consumer int32,
//	    3 bad_consumers repeated int32}
//	BundleEntryProto: 1 dtype enum, 2 shape TensorShapeProto {2 dim repeated
//	    {1 size int64, 2 name string}, 3 unknown_rank bool}, 3 shard_id int32,
//	    4 offset int64, 5 size int64, 6 crc32c fixed32, 7 slices repeated
//	    TensorSliceProto
//
// Unknown fields are skipped, as protobuf parsers do. A known field of the
// wrong wire type is an error (a parser would skip it as unknown), and so is
// any malformed field.

var errProto = errors.New("malformed protocol buffer")

// eachField calls fn with the number, wire type and value bytes of every
// field of the message b, in order, and stops at the first error.
func eachField(b []byte, fn func(num protowire.Number, typ protowire.Type, val []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("%w: %v", errProto, protowire.ParseError(n))
		}
		if num > protowire.MaxValidNumber {
			return fmt.Errorf("%w: field number %d", errProto, num)
		}
		b = b[n:]
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return fmt.Errorf("%w: field %d: %v", errProto, num, protowire.ParseError(m))
		}
		if err := fn(num, typ, b[:m]); err != nil {
			return err
		}
		b = b[m:]
	}
	return nil
}

// wireTypeError reports a known field whose wire type is not the one its
// .proto declares.
func wireTypeError(num protowire.Number, typ, want protowire.Type) error {
	return fmt.Errorf("%w: field %d has wire type %d, want %d", errProto, num, typ, want)
}

// varintValue returns the value of a varint field that eachField consumed.
func varintValue(num protowire.Number, typ protowire.Type, val []byte) (uint64, error) {
	if typ != protowire.VarintType {
		return 0, wireTypeError(num, typ, protowire.VarintType)
	}
	v, _ := protowire.ConsumeVarint(val)
	return v, nil
}

// bytesValue returns the value of a length-delimited field that eachField
// consumed.
func bytesValue(num protowire.Number, typ protowire.Type, val []byte) ([]byte, error) {
	if typ != protowire.BytesType {
		return nil, wireTypeError(num, typ, protowire.BytesType)
	}
	v, _ := protowire.ConsumeBytes(val)
	return v, nil
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
	var endianness uint64
	err := eachField(b, func(num protowire.Number, typ protowire.Type, val []byte) error {
		var err error
		switch num {
		case 1:
			var v uint64
			v, err = varintValue(num, typ, val)
			h.NumShards = int(int32(v))
		case 2:
			endianness, err = varintValue(num, typ, val)
		case 3:
			var v []byte
			if v, err = bytesValue(num, typ, val); err == nil {
				h.Producer, h.MinConsumer, h.BadConsumers, err = decodeVersion(v)
			}
		}
		return err
	})
	if err != nil {
		return Header{}, err
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

// decodeVersion decodes a VersionDef.
func decodeVersion(b []byte) (producer, minConsumer int, bad []int, err error) {
	err = eachField(b, func(num protowire.Number, typ protowire.Type, val []byte) error {
		switch {
		case num == 1 || num == 2:
			v, err := varintValue(num, typ, val)
			if num == 1 {
				producer = int(int32(v))
			} else {
				minConsumer = int(int32(v))
			}
			return err
		case num == 3 && typ == protowire.BytesType: // packed
			p, _ := protowire.ConsumeBytes(val)
			for len(p) > 0 {
				v, n := protowire.ConsumeVarint(p)
				if n < 0 {
					return fmt.Errorf("%w: field 3: %v", errProto, protowire.ParseError(n))
				}
				bad = append(bad, int(int32(v)))
				p = p[n:]
			}
		case num == 3:
			v, err := varintValue(num, typ, val)
			bad = append(bad, int(int32(v)))
			return err
		}
		return nil
	})
	return producer, minConsumer, bad, err
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
	err := eachField(b, func(num protowire.Number, typ protowire.Type, val []byte) error {
		var v uint64
		var err error
		switch num {
		case 1:
			v, err = varintValue(num, typ, val)
			e.dtype = DType(int32(v))
		case 2:
			var shape []byte
			if shape, err = bytesValue(num, typ, val); err == nil {
				e.shape, e.unknownRank, err = decodeShape(shape)
			}
		case 3:
			v, err = varintValue(num, typ, val)
			e.shard = int64(int32(v))
		case 4:
			v, err = varintValue(num, typ, val)
			e.offset = int64(v)
		case 5:
			v, err = varintValue(num, typ, val)
			e.size = int64(v)
		case 6:
			if typ != protowire.Fixed32Type {
				return wireTypeError(num, typ, protowire.Fixed32Type)
			}
			e.crc, _ = protowire.ConsumeFixed32(val)
		case 7:
			if _, err = bytesValue(num, typ, val); err == nil {
				e.slices++
			}
		}
		return err
	})
	return e, err
}

// decodeShape decodes a TensorShapeProto.
func decodeShape(b []byte) (dims []int64, unknownRank bool, err error) {
	err = eachField(b, func(num protowire.Number, typ protowire.Type, val []byte) error {
		switch num {
		case 2:
			dim, err := bytesValue(num, typ, val)
			if err != nil {
				return err
			}
			var size uint64
			err = eachField(dim, func(num protowire.Number, typ protowire.Type, val []byte) error {
				if num != 1 {
					return nil // the dimension's name
				}
				var err error
				size, err = varintValue(num, typ, val)
				return err
			})
			dims = append(dims, int64(size))
			return err
		case 3:
			v, err := varintValue(num, typ, val)
			unknownRank = v != 0
			return err
		}
		return nil
	})
	return dims, unknownRank, err
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
		b = protowire.AppendTag(b, 6, protowire.Fixed32Type)
		b = protowire.AppendFixed32(b, e.CRC32C)
	}
	return b
}

func appendVarintField(b []byte, num protowire.Number, v uint64) []byte {
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func appendBytesField(b []byte, num protowire.Number, v []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}
