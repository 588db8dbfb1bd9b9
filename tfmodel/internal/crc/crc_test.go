package crc

import "testing"

func TestCRC(t *testing.T) {
	tests := []struct {
		name   string
		data   []byte
		masked uint32
	}{
		// The CRC-32C check value is 0xe3069283.
		{"check", []byte("123456789"), Mask(0xe3069283)},
		// Stored checksums of little-endian float32 scalars in TensorFlow's
		// fixtures (../../testdata/tfckpt/EXPECTED.md).
		{"0.5", []byte{0, 0, 0, 0x3f}, 0x1f273806},
		{"2.0", []byte{0, 0, 0, 0x40}, 0x4f78fd10},
		{"3.0", []byte{0, 0, 0x40, 0x40}, 0xc382d6ef},
		{"0.0", []byte{0, 0, 0, 0}, 0x3a117ba6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New(tt.data)
			if c.Value() != tt.masked {
				t.Errorf("Value = %#08x, want %#08x", c.Value(), tt.masked)
			}
			if Unmask(tt.masked) != uint32(c) {
				t.Errorf("Unmask(%#08x) = %#08x, want %#08x", tt.masked, Unmask(tt.masked), uint32(c))
			}
			// Update in two pieces gives the same CRC as in one.
			h := len(tt.data) / 2
			if got := New(tt.data[:h]).Update(tt.data[h:]); got != c {
				t.Errorf("split Update = %#08x, want %#08x", uint32(got), uint32(c))
			}
		})
	}
	if got := New([]byte("123456789")); uint32(got) != 0xe3069283 {
		t.Errorf("New(check) = %#08x, want 0xe3069283", uint32(got))
	}
}
