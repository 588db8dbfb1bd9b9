// Package crc computes the masked CRC-32C (Castagnoli) checksums that LevelDB
// tables and TensorFlow tensor bundles store.
//
// A CRC stored next to the data it covers is masked (rotated right by 15 bits
// and offset by a constant), because computing the CRC of a string that
// contains embedded CRCs is otherwise problematic.
package crc

import "hash/crc32"

var table = crc32.MakeTable(crc32.Castagnoli)

// maskDelta is the constant LevelDB and TensorFlow add when masking a CRC.
const maskDelta = 0xa282ead8

// CRC is an unmasked CRC-32C value.
type CRC uint32

// New returns the CRC-32C of b.
func New(b []byte) CRC { return CRC(0).Update(b) }

// Update returns the CRC-32C of the bytes c was computed over followed by b.
func (c CRC) Update(b []byte) CRC { return CRC(crc32.Update(uint32(c), table, b)) }

// Value returns the masked form of c, the form stored in files.
func (c CRC) Value() uint32 { return Mask(uint32(c)) }

// Mask returns the masked form of the CRC c.
func Mask(c uint32) uint32 { return (c>>15 | c<<17) + maskDelta }

// Unmask returns the CRC whose masked form is m.
func Unmask(m uint32) uint32 {
	r := m - maskDelta
	return r>>17 | r<<15
}
