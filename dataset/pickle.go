package dataset

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode/utf8"
)

// A small reader for Python pickles, enough for the CIFAR-10 python batches:
// a dict of strings, ints, lists and numpy arrays. It runs the pickle stack
// machine (protocols 0 to 5, in-band data only) but calls no Python: of the
// globals a pickle may name, it knows exactly these and rejects the rest:
//
//	numpy.core.multiarray._reconstruct(numpy.ndarray, (0,), b'b')  an empty array, then BUILD
//	numpy.dtype(name, align, copy)                                 a dtype, then BUILD
//	numpy.core.numeric._frombuffer(buf, dtype, shape, order)       protocol 5 arrays
//	_codecs.encode(text, 'latin1')                                 Python 3 bytes in protocols 0–2
//
// (also under numpy 2's numpy._core). An array is pickled as
//
//	GLOBAL numpy.core.multiarray _reconstruct, (GLOBAL numpy ndarray, (0,), 'b'), REDUCE,
//	(1, shape tuple, dtype, is_fortran bool, raw data string), BUILD
//
// and its dtype as
//
//	GLOBAL numpy dtype, ('u1', 0, 1), REDUCE,
//	(3, byte-order char '|' '<' or '>', subarray, names, fields, elsize, alignment, flags), BUILD
//
// Python 2's cPickle writes the raw data as BINSTRING (4-byte little-endian
// length) in protocols 1 and 2 and as a quoted STRING line in protocol 0.

// Pickle opcodes (Python's Lib/pickletools.py documents each).
const (
	opMark           = '('
	opStop           = '.'
	opPop            = '0'
	opPopMark        = '1'
	opDup            = '2'
	opFloat          = 'F'
	opInt            = 'I'
	opBinInt         = 'J'
	opBinInt1        = 'K'
	opLong           = 'L'
	opBinInt2        = 'M'
	opNone           = 'N'
	opPersID         = 'P'
	opBinPersID      = 'Q'
	opReduce         = 'R'
	opString         = 'S'
	opBinString      = 'T'
	opShortBinString = 'U'
	opUnicode        = 'V'
	opBinUnicode     = 'X'
	opAppend         = 'a'
	opBuild          = 'b'
	opGlobal         = 'c'
	opDict           = 'd'
	opEmptyDict      = '}'
	opAppends        = 'e'
	opGet            = 'g'
	opBinGet         = 'h'
	opInst           = 'i'
	opLongBinGet     = 'j'
	opList           = 'l'
	opEmptyList      = ']'
	opObj            = 'o'
	opPut            = 'p'
	opBinPut         = 'q'
	opLongBinPut     = 'r'
	opSetItem        = 's'
	opTuple          = 't'
	opEmptyTuple     = ')'
	opSetItems       = 'u'
	opBinFloat       = 'G'
	// protocol 2
	opProto    = 0x80
	opNewObj   = 0x81
	opExt1     = 0x82
	opExt2     = 0x83
	opExt4     = 0x84
	opTuple1   = 0x85
	opTuple2   = 0x86
	opTuple3   = 0x87
	opNewTrue  = 0x88
	opNewFalse = 0x89
	opLong1    = 0x8a
	opLong4    = 0x8b
	// protocol 3
	opBinBytes      = 'B'
	opShortBinBytes = 'C'
	// protocol 4
	opShortBinUnicode = 0x8c
	opBinUnicode8     = 0x8d
	opBinBytes8       = 0x8e
	opEmptySet        = 0x8f
	opAddItems        = 0x90
	opFrozenSet       = 0x91
	opNewObjEx        = 0x92
	opStackGlobal     = 0x93
	opMemoize         = 0x94
	opFrame           = 0x95
	// protocol 5
	opByteArray8     = 0x96
	opNextBuffer     = 0x97
	opReadOnlyBuffer = 0x98
)

const pickleMaxProto = 5

// Python values as the reader builds them. Python 2 str and Python 3 bytes
// are pyBytes; unicode text is a Go string; None is nil; bool, int64 and
// float64 stand for themselves; sets become lists.
type (
	pyBytes  []byte
	pyTuple  []any
	pyList   struct{ items []any }
	pyDict   struct{ keys, vals []any }
	pyGlobal struct{ module, name string }
)

// npDType is a numpy dtype: its name as numpy.dtype received it ("u1",
// "i8", …) and its byte order from BUILD.
type npDType struct {
	name  string
	order byte // '|' not applicable, '<' little, '>' big, '=' native
}

// npArray is a numpy array in C order.
type npArray struct {
	shape []int
	dtype *npDType
	data  []byte
	built bool
}

// get returns the value of the dict entry whose key is the text or bytes key.
func (d *pyDict) get(key string) (any, bool) {
	for i, k := range d.keys {
		if s, ok := pyString(k); ok && s == key {
			return d.vals[i], true
		}
	}
	return nil, false
}

// pyString returns the text of a unicode or bytes value.
func pyString(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case pyBytes:
		return string(v), true
	}
	return "", false
}

// pyInt returns the value of an int or bool.
func pyInt(v any) (int64, bool) {
	switch v := v.(type) {
	case int64:
		return v, true
	case bool:
		if v {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

// pyTypeName names a value's Python type, for messages.
func pyTypeName(v any) string {
	switch v := v.(type) {
	case nil:
		return "None"
	case bool:
		return "bool"
	case int64:
		return "int"
	case float64:
		return "float"
	case string:
		return "unicode"
	case pyBytes:
		return "bytes"
	case pyTuple:
		return "tuple"
	case *pyList:
		return "list"
	case *pyDict:
		return "dict"
	case pyGlobal:
		return v.module + "." + v.name
	case *npDType:
		return "numpy.dtype"
	case *npArray:
		return "numpy.ndarray"
	}
	return fmt.Sprintf("%T", v)
}

// itemSize returns the size in bytes of one element, or 0 for a dtype the
// reader cannot convert.
func (d *npDType) itemSize() int {
	switch d.name {
	case "u1", "i1", "b1":
		return 1
	case "u2", "i2":
		return 2
	case "u4", "i4":
		return 4
	case "u8", "i8":
		return 8
	}
	return 0
}

// ints returns the array's elements as ints; it handles the integer dtypes
// of itemSize in either byte order.
func (a *npArray) ints() ([]int, error) {
	size := a.dtype.itemSize()
	if size == 0 {
		return nil, fmt.Errorf("dtype %s is not an integer type", a.dtype.name)
	}
	var order binary.ByteOrder = binary.LittleEndian
	if a.dtype.order == '>' {
		order = binary.BigEndian
	}
	signed := a.dtype.name[0] == 'i'
	out := make([]int, len(a.data)/size)
	for i := range out {
		b := a.data[i*size : (i+1)*size]
		switch {
		case size == 1 && signed:
			out[i] = int(int8(b[0]))
		case size == 1:
			out[i] = int(b[0])
		case size == 2 && signed:
			out[i] = int(int16(order.Uint16(b)))
		case size == 2:
			out[i] = int(order.Uint16(b))
		case size == 4 && signed:
			out[i] = int(int32(order.Uint32(b)))
		case size == 4:
			out[i] = int(order.Uint32(b))
		case signed:
			out[i] = int(int64(order.Uint64(b)))
		default:
			v := order.Uint64(b)
			if v > math.MaxInt64 {
				return nil, fmt.Errorf("element %d is %d, too large", i, v)
			}
			out[i] = int(v)
		}
	}
	return out, nil
}

// unpickler runs the pickle machine over an in-memory file. Strings and byte
// strings it returns alias buf.
type unpickler struct {
	name  string // the file, for errors
	buf   []byte
	pos   int
	op    int // offset of the opcode being run, for errors
	stack []any
	marks []int // stack lengths at each MARK
	memo  map[uint64]any
}

// unpickle returns the value of the pickle in buf. name is used in errors.
func unpickle(buf []byte, name string) (any, error) {
	u := &unpickler{name: name, buf: buf, memo: map[uint64]any{}}
	return u.run()
}

func (u *unpickler) errf(format string, a ...any) error {
	return formatErr(u.name, int64(u.op), "pickle: "+format, a...)
}

func (u *unpickler) take(n uint64) ([]byte, error) {
	if n > uint64(len(u.buf)-u.pos) {
		return nil, u.errf("opcode %#x needs %d bytes, only %d left (truncated file?)", u.buf[u.op], n, len(u.buf)-u.pos)
	}
	b := u.buf[u.pos : u.pos+int(n)]
	u.pos += int(n)
	return b, nil
}

func (u *unpickler) uint(n int) (uint64, error) {
	b, err := u.take(uint64(n))
	if err != nil {
		return 0, err
	}
	var v uint64
	for i := n - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v, nil
}

// line returns the text up to the next newline, which it consumes.
func (u *unpickler) line() (string, error) {
	i := bytes.IndexByte(u.buf[u.pos:], '\n')
	if i < 0 {
		return "", u.errf("opcode %q needs a newline-terminated argument (truncated file?)", u.buf[u.op])
	}
	s := string(u.buf[u.pos : u.pos+i])
	u.pos += i + 1
	return s, nil
}

func (u *unpickler) push(v any) { u.stack = append(u.stack, v) }

func (u *unpickler) base() int {
	if len(u.marks) > 0 {
		return u.marks[len(u.marks)-1]
	}
	return 0
}

func (u *unpickler) pop() (any, error) {
	if len(u.stack) <= u.base() {
		return nil, u.errf("opcode %q pops an empty stack", u.buf[u.op])
	}
	v := u.stack[len(u.stack)-1]
	u.stack = u.stack[:len(u.stack)-1]
	return v, nil
}

func (u *unpickler) top() (any, error) {
	if len(u.stack) <= u.base() {
		return nil, u.errf("opcode %q needs a value on the stack", u.buf[u.op])
	}
	return u.stack[len(u.stack)-1], nil
}

// popMark pops the values above the last MARK and the mark.
func (u *unpickler) popMark() ([]any, error) {
	if len(u.marks) == 0 {
		return nil, u.errf("opcode %q without MARK", u.buf[u.op])
	}
	k := u.marks[len(u.marks)-1]
	u.marks = u.marks[:len(u.marks)-1]
	items := append([]any(nil), u.stack[k:]...)
	u.stack = u.stack[:k]
	return items, nil
}

func (u *unpickler) run() (any, error) {
	for {
		if u.pos >= len(u.buf) {
			u.op = u.pos
			return nil, u.errf("no STOP opcode before the end of the file (truncated file?)")
		}
		u.op = u.pos
		op := u.buf[u.pos]
		u.pos++
		if op == opStop {
			v, err := u.pop()
			if err != nil {
				return nil, err
			}
			return v, nil
		}
		if err := u.step(op); err != nil {
			return nil, err
		}
	}
}

func (u *unpickler) step(op byte) error {
	switch op {
	case opProto:
		v, err := u.uint(1)
		if err != nil {
			return err
		}
		if v > pickleMaxProto {
			return u.errf("protocol %d, the reader knows up to %d", v, pickleMaxProto)
		}
	case opFrame:
		n, err := u.uint(8)
		if err != nil {
			return err
		}
		if n > uint64(len(u.buf)-u.pos) {
			return u.errf("frame of %d bytes, only %d left (truncated file?)", n, len(u.buf)-u.pos)
		}
	case opMark:
		u.marks = append(u.marks, len(u.stack))
	case opPop:
		if len(u.stack) > u.base() {
			u.stack = u.stack[:len(u.stack)-1]
		} else if _, err := u.popMark(); err != nil {
			return err
		}
	case opPopMark:
		if _, err := u.popMark(); err != nil {
			return err
		}
	case opDup:
		v, err := u.top()
		if err != nil {
			return err
		}
		u.push(v)
	case opNone:
		u.push(nil)
	case opNewTrue:
		u.push(true)
	case opNewFalse:
		u.push(false)
	case opInt:
		s, err := u.line()
		if err != nil {
			return err
		}
		switch s {
		case "00":
			u.push(false)
		case "01":
			u.push(true)
		default:
			v, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return u.errf("INT %q: %v", s, err)
			}
			u.push(v)
		}
	case opLong:
		s, err := u.line()
		if err != nil {
			return err
		}
		v, err := strconv.ParseInt(strings.TrimSuffix(s, "L"), 10, 64)
		if err != nil {
			return u.errf("LONG %q: %v", s, err)
		}
		u.push(v)
	case opBinInt:
		v, err := u.uint(4)
		if err != nil {
			return err
		}
		u.push(int64(int32(uint32(v))))
	case opBinInt1, opBinInt2:
		v, err := u.uint(lengthSize(op))
		if err != nil {
			return err
		}
		u.push(int64(v))
	case opLong1, opLong4:
		n, err := u.uint(lengthSize(op))
		if err != nil {
			return err
		}
		b, err := u.take(n)
		if err != nil {
			return err
		}
		v, err := u.long(b)
		if err != nil {
			return err
		}
		u.push(v)
	case opFloat:
		s, err := u.line()
		if err != nil {
			return err
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return u.errf("FLOAT %q: %v", s, err)
		}
		u.push(v)
	case opBinFloat:
		b, err := u.take(8)
		if err != nil {
			return err
		}
		u.push(math.Float64frombits(binary.BigEndian.Uint64(b)))
	case opString:
		s, err := u.line()
		if err != nil {
			return err
		}
		b, err := unquotePyString(s)
		if err != nil {
			return u.errf("STRING: %v", err)
		}
		u.push(pyBytes(b))
	case opBinString, opShortBinString, opBinBytes, opShortBinBytes, opBinBytes8, opByteArray8:
		n, err := u.uint(lengthSize(op))
		if err != nil {
			return err
		}
		if op == opBinString && int32(uint32(n)) < 0 {
			return u.errf("BINSTRING with negative length %d", int32(uint32(n)))
		}
		b, err := u.take(n)
		if err != nil {
			return err
		}
		u.push(pyBytes(b))
	case opUnicode:
		s, err := u.line()
		if err != nil {
			return err
		}
		u.push(decodeRawUnicodeEscape(s))
	case opBinUnicode, opShortBinUnicode, opBinUnicode8:
		n, err := u.uint(lengthSize(op))
		if err != nil {
			return err
		}
		b, err := u.take(n)
		if err != nil {
			return err
		}
		if !utf8.Valid(b) {
			return u.errf("unicode string is not valid UTF-8")
		}
		u.push(string(b))
	case opEmptyTuple:
		u.push(pyTuple{})
	case opTuple:
		items, err := u.popMark()
		if err != nil {
			return err
		}
		u.push(pyTuple(items))
	case opTuple1, opTuple2, opTuple3:
		n := int(op-opTuple1) + 1
		if len(u.stack)-u.base() < n {
			return u.errf("TUPLE%d needs %d values on the stack", n, n)
		}
		items := append(pyTuple(nil), u.stack[len(u.stack)-n:]...)
		u.stack = u.stack[:len(u.stack)-n]
		u.push(items)
	case opEmptyList, opEmptySet:
		u.push(&pyList{})
	case opList, opFrozenSet:
		items, err := u.popMark()
		if err != nil {
			return err
		}
		u.push(&pyList{items: items})
	case opAppend:
		v, err := u.pop()
		if err != nil {
			return err
		}
		if err := u.appendTo([]any{v}); err != nil {
			return err
		}
	case opAppends, opAddItems:
		items, err := u.popMark()
		if err != nil {
			return err
		}
		if err := u.appendTo(items); err != nil {
			return err
		}
	case opEmptyDict:
		u.push(&pyDict{})
	case opDict:
		items, err := u.popMark()
		if err != nil {
			return err
		}
		d := &pyDict{}
		if err := u.setItems(d, items); err != nil {
			return err
		}
		u.push(d)
	case opSetItem, opSetItems:
		var items []any
		if op == opSetItem {
			v, err := u.pop()
			if err != nil {
				return err
			}
			k, err := u.pop()
			if err != nil {
				return err
			}
			items = []any{k, v}
		} else {
			var err error
			if items, err = u.popMark(); err != nil {
				return err
			}
		}
		t, err := u.top()
		if err != nil {
			return err
		}
		d, ok := t.(*pyDict)
		if !ok {
			return u.errf("SETITEM on a %s, not a dict", pyTypeName(t))
		}
		if err := u.setItems(d, items); err != nil {
			return err
		}
	case opGlobal:
		module, err := u.line()
		if err != nil {
			return err
		}
		name, err := u.line()
		if err != nil {
			return err
		}
		u.push(pyGlobal{module, name})
	case opStackGlobal:
		name, err := u.pop()
		if err != nil {
			return err
		}
		module, err := u.pop()
		if err != nil {
			return err
		}
		m, ok1 := module.(string)
		n, ok2 := name.(string)
		if !ok1 || !ok2 {
			return u.errf("STACK_GLOBAL of a %s and a %s, want two strings", pyTypeName(module), pyTypeName(name))
		}
		u.push(pyGlobal{m, n})
	case opReduce:
		args, err := u.pop()
		if err != nil {
			return err
		}
		fn, err := u.pop()
		if err != nil {
			return err
		}
		g, ok1 := fn.(pyGlobal)
		t, ok2 := args.(pyTuple)
		if !ok1 || !ok2 {
			return u.errf("REDUCE calls a %s with a %s, want a global and a tuple", pyTypeName(fn), pyTypeName(args))
		}
		v, err := u.call(g, t)
		if err != nil {
			return err
		}
		u.push(v)
	case opBuild:
		state, err := u.pop()
		if err != nil {
			return err
		}
		obj, err := u.top()
		if err != nil {
			return err
		}
		if err := u.build(obj, state); err != nil {
			return err
		}
	case opPut, opBinPut, opLongBinPut, opMemoize:
		var idx uint64
		var err error
		switch op {
		case opPut:
			var s string
			if s, err = u.line(); err == nil {
				idx, err = strconv.ParseUint(s, 10, 64)
			}
		case opBinPut:
			idx, err = u.uint(1)
		case opLongBinPut:
			idx, err = u.uint(4)
		case opMemoize:
			idx = uint64(len(u.memo))
		}
		if err != nil {
			return u.errf("memo index: %v", err)
		}
		v, err := u.top()
		if err != nil {
			return err
		}
		u.memo[idx] = v
	case opGet, opBinGet, opLongBinGet:
		var idx uint64
		var err error
		switch op {
		case opGet:
			var s string
			if s, err = u.line(); err == nil {
				idx, err = strconv.ParseUint(s, 10, 64)
			}
		case opBinGet:
			idx, err = u.uint(1)
		case opLongBinGet:
			idx, err = u.uint(4)
		}
		if err != nil {
			return u.errf("memo index: %v", err)
		}
		v, ok := u.memo[idx]
		if !ok {
			return u.errf("memo entry %d was never stored", idx)
		}
		u.push(v)
	case opPersID, opBinPersID, opInst, opObj, opNewObj, opNewObjEx, opExt1, opExt2, opExt4, opNextBuffer, opReadOnlyBuffer:
		return u.errf("unsupported opcode %#x (this reader handles numpy arrays, lists, dicts and scalars only)", op)
	default:
		return u.errf("unknown opcode %#x", op)
	}
	return nil
}

// lengthSize returns the size in bytes of the little-endian integer or
// length that follows op.
func lengthSize(op byte) int {
	switch op {
	case opBinInt1, opLong1, opShortBinString, opShortBinBytes, opShortBinUnicode:
		return 1
	case opBinInt2:
		return 2
	case opLong4, opBinString, opBinBytes, opBinUnicode:
		return 4
	}
	return 8 // opBinBytes8, opByteArray8, opBinUnicode8
}

// long decodes a little-endian two's-complement integer of LONG1 or LONG4.
func (u *unpickler) long(b []byte) (int64, error) {
	if len(b) == 0 {
		return 0, nil
	}
	// Big-endian magnitude for math/big.
	be := make([]byte, len(b))
	for i := range b {
		be[len(b)-1-i] = b[i]
	}
	v := new(big.Int).SetBytes(be)
	if b[len(b)-1]&0x80 != 0 {
		v.Sub(v, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	if !v.IsInt64() {
		return 0, u.errf("integer %v does not fit 64 bits", v)
	}
	return v.Int64(), nil
}

func (u *unpickler) appendTo(items []any) error {
	t, err := u.top()
	if err != nil {
		return err
	}
	l, ok := t.(*pyList)
	if !ok {
		return u.errf("APPEND to a %s, not a list", pyTypeName(t))
	}
	l.items = append(l.items, items...)
	return nil
}

func (u *unpickler) setItems(d *pyDict, items []any) error {
	if len(items)%2 != 0 {
		return u.errf("dict items: odd number %d of keys and values", len(items))
	}
	for i := 0; i < len(items); i += 2 {
		d.keys = append(d.keys, items[i])
		d.vals = append(d.vals, items[i+1])
	}
	return nil
}

func isNumpyModule(module, sub string) bool {
	return module == "numpy.core."+sub || module == "numpy._core."+sub
}

// call runs one of the few callables the reader knows.
func (u *unpickler) call(g pyGlobal, args pyTuple) (any, error) {
	bad := func(want string) error {
		types := make([]string, len(args))
		for i, a := range args {
			types[i] = pyTypeName(a)
		}
		return u.errf("%s.%s(%s), want %s", g.module, g.name, strings.Join(types, ", "), want)
	}
	switch {
	case isNumpyModule(g.module, "multiarray") && g.name == "_reconstruct":
		if len(args) != 3 || args[0] != (pyGlobal{"numpy", "ndarray"}) {
			return nil, bad("(numpy.ndarray, shape, typecode)")
		}
		return &npArray{}, nil
	case g.module == "numpy" && g.name == "dtype":
		if len(args) < 1 {
			return nil, bad("(name, align, copy)")
		}
		name, ok := pyString(args[0])
		if !ok {
			return nil, bad("a dtype name")
		}
		return &npDType{name: name, order: '|'}, nil
	case g.module == "_codecs" && g.name == "encode":
		if len(args) != 2 {
			return nil, bad("(text, 'latin1')")
		}
		text, ok1 := args[0].(string)
		enc, ok2 := pyString(args[1])
		if !ok1 || !ok2 || (enc != "latin1" && enc != "latin-1") {
			return nil, bad("(text, 'latin1')")
		}
		b := make([]byte, 0, len(text))
		for _, r := range text {
			if r > 0xff {
				return nil, u.errf("_codecs.encode: character %U is not latin-1", r)
			}
			b = append(b, byte(r))
		}
		return pyBytes(b), nil
	case isNumpyModule(g.module, "numeric") && g.name == "_frombuffer":
		if len(args) != 4 {
			return nil, bad("(buffer, dtype, shape, order)")
		}
		data, ok1 := args[0].(pyBytes)
		dt, ok2 := args[1].(*npDType)
		shape, ok3 := args[2].(pyTuple)
		order, ok4 := pyString(args[3])
		if !ok1 || !ok2 || !ok3 || !ok4 {
			return nil, bad("(bytes, dtype, shape tuple, order)")
		}
		a := &npArray{}
		if err := u.setArray(a, shape, dt, order == "F", data); err != nil {
			return nil, err
		}
		return a, nil
	}
	return nil, u.errf("unsupported callable %s.%s", g.module, g.name)
}

// build applies a BUILD state to an array or a dtype.
func (u *unpickler) build(obj, state any) error {
	st, ok := state.(pyTuple)
	if !ok {
		return u.errf("BUILD of a %s with a %s state, want a tuple", pyTypeName(obj), pyTypeName(state))
	}
	switch obj := obj.(type) {
	case *npDType:
		// (version, byte order, subarray, names, fields, elsize, alignment, flags[, metadata])
		if len(st) < 2 {
			return u.errf("numpy.dtype state has %d items", len(st))
		}
		order, ok := pyString(st[1])
		if !ok || len(order) != 1 || !strings.Contains("|<>=", order) {
			return u.errf("numpy.dtype byte order %v", st[1])
		}
		obj.order = order[0]
		return nil
	case *npArray:
		// ([version,] shape, dtype, is_fortran, raw data)
		if len(st) == 5 {
			st = st[1:]
		}
		if len(st) != 4 {
			return u.errf("numpy.ndarray state has %d items, want 4 or 5", len(st))
		}
		if obj.built {
			return u.errf("numpy.ndarray built twice")
		}
		shape, ok1 := st[0].(pyTuple)
		dt, ok2 := st[1].(*npDType)
		fortran, ok3 := pyInt(st[2])
		data, ok4 := st[3].(pyBytes)
		if !ok1 || !ok2 || !ok3 || !ok4 {
			return u.errf("numpy.ndarray state (%s, %s, %s, %s), want (shape tuple, dtype, bool, bytes); object arrays are not supported",
				pyTypeName(st[0]), pyTypeName(st[1]), pyTypeName(st[2]), pyTypeName(st[3]))
		}
		return u.setArray(obj, shape, dt, fortran != 0, data)
	}
	return u.errf("BUILD of a %s is not supported", pyTypeName(obj))
}

func (u *unpickler) setArray(a *npArray, shape pyTuple, dt *npDType, fortran bool, data []byte) error {
	size := dt.itemSize()
	if size == 0 {
		return u.errf("numpy dtype %q is not supported (integer dtypes only)", dt.name)
	}
	dims := make([]int, len(shape))
	n := uint64(1)
	for i, d := range shape {
		v, ok := pyInt(d)
		if !ok || v < 0 || v > math.MaxInt32 {
			return u.errf("numpy.ndarray shape %v", shape)
		}
		dims[i] = int(v)
		if n *= uint64(v); n > 1<<40 {
			return u.errf("numpy.ndarray shape %v is too large", dims)
		}
	}
	if fortran && len(dims) > 1 {
		return u.errf("Fortran-ordered numpy arrays are not supported")
	}
	if n*uint64(size) != uint64(len(data)) {
		return u.errf("numpy.ndarray of shape %v and dtype %s needs %d bytes, has %d", dims, dt.name, n*uint64(size), len(data))
	}
	a.shape, a.dtype, a.data, a.built = dims, dt, data, true
	return nil
}

// unquotePyString decodes the quoted repr of a Python 2 str, as protocol 0's
// STRING writes it: 'text' or "text" with backslash escapes.
func unquotePyString(s string) ([]byte, error) {
	if len(s) < 2 || (s[0] != '\'' && s[0] != '"') || s[len(s)-1] != s[0] {
		return nil, fmt.Errorf("%.40q is not a quoted string", s)
	}
	s = s[1 : len(s)-1]
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		if i+1 >= len(s) {
			return nil, fmt.Errorf("string ends in a backslash")
		}
		i++
		switch c = s[i]; c {
		case '\\', '\'', '"':
			out = append(out, c)
		case 'a':
			out = append(out, '\a')
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'v':
			out = append(out, '\v')
		case '\n':
		case 'x':
			if i+2 >= len(s) {
				return nil, fmt.Errorf("short \\x escape")
			}
			v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
			if err != nil {
				return nil, fmt.Errorf("bad \\x escape %q", s[i-1:i+3])
			}
			out = append(out, byte(v))
			i += 2
		case '0', '1', '2', '3', '4', '5', '6', '7':
			v, j := 0, i
			for ; j < len(s) && j < i+3 && '0' <= s[j] && s[j] <= '7'; j++ {
				v = v*8 + int(s[j]-'0')
			}
			out = append(out, byte(v))
			i = j - 1
		default:
			out = append(out, '\\', c)
		}
	}
	return out, nil
}

// decodeRawUnicodeEscape decodes Python's raw-unicode-escape, as protocol 0's
// UNICODE writes it: each byte is a latin-1 character except \uXXXX and
// \UXXXXXXXX escapes.
func decodeRawUnicodeEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) && (s[i+1] == 'u' || s[i+1] == 'U') {
			n := 4
			if s[i+1] == 'U' {
				n = 8
			}
			if i+2+n <= len(s) {
				if v, err := strconv.ParseUint(s[i+2:i+2+n], 16, 32); err == nil && v <= utf8.MaxRune {
					b.WriteRune(rune(v))
					i += 1 + n
					continue
				}
			}
		}
		b.WriteRune(rune(s[i]))
	}
	return b.String()
}
