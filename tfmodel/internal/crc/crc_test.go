package crc

import "testing"

func TestCRC(t *testing.T) {
	tests := []struct {
		name   string
		data   []byte
		crc    uint32 // unmasked
		masked uint32
	}{
		// The CRC-32C check value.
		{"check", []byte("123456789"), 0xe3069283, Mask(0xe3069283)},
		// Stored checksums of little-endian float32 scalars in TensorFlow's
		// half_plus_two fixtures (../../testdata/tfckpt/EXPECTED.md).
		{"0.5", []byte{0, 0, 0, 0x3f}, New([]byte{0, 0, 0, 0x3f}).unmasked(), 0x1f273806},
		{"2.0", []byte{0, 0, 0, 0x40}, New([]byte{0, 0, 0, 0x40}).unmasked(), 0x4f78fd10},
		{"3.0", []byte{0, 0, 0x40, 0x40}, New([]byte{0, 0, 0x40, 0x40}).unmasked(), 0xc382d6ef},
		{"0.0", []byte{0, 0, 0, 0}, New([]byte{0, 0, 0, 0}).unmasked(), 0x3a117ba6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New(tt.data)
			if uint32(c) != tt.crc {
				t.Errorf("New = %#x, want %#x", uint32(c), tt.crc)
			}
			if c.Value() != tt.masked {
				t.Errorf("Value = %#x, want %#x", c.Value(), tt.masked)
			}
			if Unmask(tt.masked) != uint32(c) {
				t.Errorf("Unmask(%#x) = %#x, want %#x", tt.masked, Unmask(tt.masked), uint32(c))
			}
			// Update in two pieces gives the same CRC as in one.
			h := len(tt.data) / 2
			if got := New(tt.data[:h]).Update(tt.data[h:]); got != c {
				t.Errorf("split Update = %#x, want %#x", uint32(got), uint32(c))
			}
		})
	}
}

func (c CRC) unmasked() uint32 { return uint32(c) }
