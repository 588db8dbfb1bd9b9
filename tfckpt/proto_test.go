package tfckpt

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

func TestProtoRoundTrip(t *testing.T) {
	h := Header{NumShards: 3, BigEndian: true, Producer: 1, MinConsumer: 1, BadConsumers: []int{2, -1}}
	got, err := decodeHeader(encodeHeader(h))
	if err != nil || got.NumShards != 3 || !got.BigEndian || got.Producer != 1 || got.MinConsumer != 1 || !slices.Equal(got.BadConsumers, h.BadConsumers) {
		t.Errorf("header %+v, %v; want %+v", got, err, h)
	}
	e := Entry{DType: DTInt64, Shape: []int{2, 0, 5}, Shard: 2, Offset: 1 << 40, Size: 80, CRC32C: 0xdeadbeef}
	raw, err := decodeEntry(encodeEntry(&e))
	if err != nil || raw.dtype != e.DType || !slices.Equal(raw.shape, []int64{2, 0, 5}) || raw.shard != 2 ||
		raw.offset != e.Offset || raw.size != e.Size || raw.crc != e.CRC32C || raw.slices != 0 || raw.unknownRank {
		t.Errorf("entry %+v, %v; want %+v", raw, err, e)
	}
}

// TestProtoUnknownFields: fields this package does not know are skipped,
// whatever their wire type, and packed repeated fields are read.
func TestProtoUnknownFields(t *testing.T) {
	var unknown []byte
	unknown = appendVarintField(unknown, 100, 7)
	unknown = protowire.AppendFixed64(protowire.AppendTag(unknown, 101, protowire.Fixed64Type), 1)
	unknown = protowire.AppendFixed32(protowire.AppendTag(unknown, 102, protowire.Fixed32Type), 1)
	unknown = appendBytesField(unknown, 103, []byte("x"))
	unknown = protowire.AppendGroup(protowire.AppendTag(unknown, 104, protowire.StartGroupType), 104, appendVarintField(nil, 1, 1))

	packed := protowire.AppendVarint(protowire.AppendVarint(nil, 2), 3)
	version := appendBytesField(appendVarintField(unknown, 1, 1), 3, packed)
	h, err := decodeHeader(appendBytesField(appendVarintField(unknown, 1, 1), 3, version))
	if err != nil || h.NumShards != 1 || h.Producer != 1 || !slices.Equal(h.BadConsumers, []int{2, 3}) {
		t.Errorf("header %+v, %v", h, err)
	}

	dim := appendBytesField(appendVarintField(unknown, 1, 4), 2, []byte("name"))
	shape := appendBytesField(unknown, 2, dim)
	raw, err := decodeEntry(appendBytesField(append(unknown, encodeEntry(&Entry{DType: DTFloat, Size: 16})...), 2, shape))
	if err != nil || raw.dtype != DTFloat || raw.size != 16 || !slices.Equal(raw.shape, []int64{4}) {
		t.Errorf("entry %+v, %v", raw, err)
	}
}

func TestProtoErrors(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
		msg  string
	}{
		{"field number 0", []byte{0x00, 0x01}, "invalid field number"},
		{"field number too large", protowire.AppendTag(nil, protowire.MaxValidNumber+1, protowire.VarintType), "field number 536870912"},
		{"truncated varint", []byte{0x08, 0x80}, "field 1: unexpected EOF"},
		{"truncated tag", []byte{0x80}, "unexpected EOF"},
		{"bytes past the end", []byte{0x12, 0x05, 0x00}, "field 2: unexpected EOF"},
		{"wrong wire type", []byte{0x0d, 0, 0, 0, 0}, "field 1 has wire type 5, want 0"},
		{"crc as varint", []byte{0x30, 0x01}, "field 6 has wire type 0, want 5"},
		{"reserved wire type", []byte{0x0e}, "cannot parse reserved wire type"},
		{"end group", []byte{0x0c}, "mismatching end group marker"},
		{"bad shape", appendBytesField(nil, 2, []byte{0x12, 0x02, 0x08}), "field 2: unexpected EOF"},
		{"dimension name as varint", appendBytesField(nil, 2, appendBytesField(nil, 2, []byte{0x08, 0x01, 0x0a})), "unexpected EOF"},
	}
	for _, tt := range tests {
		_, err := decodeEntry(tt.b)
		if !errors.Is(err, errProto) || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%s: decodeEntry: %v, want a malformed protocol buffer error containing %q", tt.name, err, tt.msg)
		}
	}
	for _, b := range [][]byte{
		appendVarintField(nil, 2, 2),                                       // unknown endianness
		appendBytesField(nil, 3, appendBytesField(nil, 3, []byte{0x80})),   // packed varint truncated
		appendBytesField(nil, 3, protowire.AppendFixed32([]byte{0x0d}, 1)), // producer as fixed32
	} {
		if _, err := decodeHeader(b); err == nil {
			t.Errorf("decodeHeader(% x) succeeded", b)
		}
	}
}
