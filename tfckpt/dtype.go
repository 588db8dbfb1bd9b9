package tfckpt

import "fmt"

// DType is a TensorFlow data type, with the numbers of TensorFlow's
// types.proto.
type DType int32

// The TensorFlow data types. A bundle may hold any of them; this package
// decodes the numeric ones and DTString.
const (
	DTInvalid    DType = 0
	DTFloat      DType = 1
	DTDouble     DType = 2
	DTInt32      DType = 3
	DTUint8      DType = 4
	DTInt16      DType = 5
	DTInt8       DType = 6
	DTString     DType = 7
	DTComplex64  DType = 8
	DTInt64      DType = 9
	DTBool       DType = 10
	DTQint8      DType = 11
	DTQuint8     DType = 12
	DTQint32     DType = 13
	DTBfloat16   DType = 14
	DTQint16     DType = 15
	DTQuint16    DType = 16
	DTUint16     DType = 17
	DTComplex128 DType = 18
	DTHalf       DType = 19
	DTResource   DType = 20
	DTVariant    DType = 21
	DTUint32     DType = 22
	DTUint64     DType = 23
)

var dtypeInfo = [...]struct {
	name string
	size int // bytes per element; 0 when not fixed
}{
	DTInvalid: {"invalid", 0}, DTFloat: {"float32", 4}, DTDouble: {"float64", 8},
	DTInt32: {"int32", 4}, DTUint8: {"uint8", 1}, DTInt16: {"int16", 2}, DTInt8: {"int8", 1},
	DTString: {"string", 0}, DTComplex64: {"complex64", 8}, DTInt64: {"int64", 8},
	DTBool: {"bool", 1}, DTQint8: {"qint8", 1}, DTQuint8: {"quint8", 1}, DTQint32: {"qint32", 4},
	DTBfloat16: {"bfloat16", 2}, DTQint16: {"qint16", 2}, DTQuint16: {"quint16", 2},
	DTUint16: {"uint16", 2}, DTComplex128: {"complex128", 16}, DTHalf: {"float16", 2},
	DTResource: {"resource", 0}, DTVariant: {"variant", 0}, DTUint32: {"uint32", 4},
	DTUint64: {"uint64", 8},
}

// String returns the type's NumPy-style name ("float32", "int64", ...).
func (d DType) String() string {
	if d > 0 && int(d) < len(dtypeInfo) {
		return dtypeInfo[d].name
	}
	return fmt.Sprintf("dtype(%d)", int32(d))
}

// Size returns the number of bytes of one element, or 0 for DTString,
// DTResource, DTVariant and unknown types, whose elements have no fixed size.
func (d DType) Size() int {
	if d > 0 && int(d) < len(dtypeInfo) {
		return dtypeInfo[d].size
	}
	return 0
}

// swapUnit returns the size of the scalars a big-endian bundle byte-swaps:
// the element size, or half of it for complex types.
func (d DType) swapUnit() int {
	if d == DTComplex64 || d == DTComplex128 {
		return d.Size() / 2
	}
	return d.Size()
}
