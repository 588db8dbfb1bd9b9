package dataset

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestUnpickle(t *testing.T) {
	tests := []struct {
		name    string
		pickle  string
		want    any
		wantErr string
	}{
		{"none", "N.", nil, ""},
		{"bools", "\x80\x02\x88\x89\x86.", pyTuple{true, false}, ""},
		{"protocol 0 bools", "(I01\nI00\nt.", pyTuple{true, false}, ""},
		{"ints", "(K\xffM\x00\x01J\xff\xff\xff\xffI-7\nL12345678901L\nt.", pyTuple{int64(255), int64(256), int64(-1), int64(-7), int64(12345678901)}, ""},
		{"long1", "\x80\x02\x8a\x02\x00\xff\x8a\x00\x8a\x01\x7f\x87.", pyTuple{int64(-256), int64(0), int64(127)}, ""},
		{"long4", "\x80\x02\x8b\x01\x00\x00\x00\x80.", int64(-128), ""},
		{"floats", "(F0.5\nG?\xf0\x00\x00\x00\x00\x00\x00t.", pyTuple{0.5, 1.0}, ""},
		{"strings", "(S'a\\'b\\x00\\n\\\\'\nS\"it's\"\nU\x02hiT\x01\x00\x00\x00xC\x01yB\x01\x00\x00\x00z\x8e\x01\x00\x00\x00\x00\x00\x00\x00wt.",
			pyTuple{pyBytes("a'b\x00\n\\"), pyBytes("it's"), pyBytes("hi"), pyBytes("x"), pyBytes("y"), pyBytes("z"), pyBytes("w")}, ""},
		{"unicode", "(Vcaf\\u00e9\\\\x\nX\x02\x00\x00\x00\xc3\xa9\x8c\x01z\x8d\x01\x00\x00\x00\x00\x00\x00\x00yt.",
			pyTuple{"café\\\\x", "é", "z", "y"}, ""},
		{"latin1 bytes", "c_codecs\nencode\n(V\xff\x00\nVlatin1\ntR.", pyBytes{0xff, 0}, ""},
		{"list and memo", "\x80\x02]q\x01(K\x01K\x02eh\x01\x86.", pyTuple{&pyList{[]any{int64(1), int64(2)}}, &pyList{[]any{int64(1), int64(2)}}}, ""},
		{"protocol 0 list", "(lp0\nI1\naI2\nag0\n\x86.", pyTuple{&pyList{[]any{int64(1), int64(2)}}, &pyList{[]any{int64(1), int64(2)}}}, ""},
		{"memoize and long get", "\x80\x04\x95\x0a\x00\x00\x00\x00\x00\x00\x00K\x05\x94j\x00\x00\x00\x00\x86.", pyTuple{int64(5), int64(5)}, ""},
		{"dict", "(dp0\nS'a'\nI1\nsU\x01b(K\x02l\x85s.", &pyDict{keys: []any{pyBytes("a"), pyBytes("b")}, vals: []any{int64(1), pyTuple{&pyList{[]any{int64(2)}}}}}, ""},
		{"set", "\x80\x04\x8f(K\x01\x90(K\x02\x91\x86.", pyTuple{&pyList{[]any{int64(1)}}, &pyList{[]any{int64(2)}}}, ""},
		{"pop, dup, pop mark", "K\x010K\x02\x32(K\x031\x86.", pyTuple{int64(2), int64(2)}, ""},
		{"empty tuple", ").", pyTuple{}, ""},

		{"empty", "", nil, "no STOP"},
		{"no stop", "K\x01", nil, "no STOP"},
		{"stop on empty stack", ".", nil, "pops an empty stack"},
		{"unknown opcode", "\xff.", nil, "unknown opcode 0xff"},
		{"protocol 6", "\x80\x06N.", nil, "protocol 6"},
		{"arbitrary callable", "cos\nsystem\n(S'echo hi'\ntR.", nil, "unsupported callable os.system"},
		{"stack global callable", "\x80\x04\x8c\x08builtins\x8c\x04eval\x93\x8c\x011\x85R.", nil, "unsupported callable builtins.eval"},
		{"object opcodes", "(cfoo\nBar\no.", nil, "unsupported opcode 0x6f"},
		{"newobj", "\x80\x02cfoo\nBar\n)\x81.", nil, "unsupported opcode 0x81"},
		{"persistent id", "Pabc\n.", nil, "unsupported opcode 0x50"},
		{"missing memo", "\x80\x02h\x07.", nil, "memo entry 7 was never stored"},
		{"append to int", "K\x01K\x02a.", nil, "APPEND to a int"},
		{"setitem to list", "]K\x01K\x02s.", nil, "SETITEM on a list"},
		{"odd dict", "(K\x01d.", nil, "odd number"},
		{"tuple without mark", "K\x01t.", nil, "without MARK"},
		{"tuple2 short", "K\x01\x86.", nil, "TUPLE2 needs 2"},
		{"truncated binstring", "T\x10\x00\x00\x00abc", nil, "needs 16 bytes, only 3 left"},
		{"negative binstring", "T\xff\xff\xff\xff.", nil, "negative length"},
		{"huge binbytes8", "\x8e\xff\xff\xff\xff\xff\xff\xff\xff.", nil, "only 1 left"},
		{"truncated line", "I12", nil, "newline-terminated"},
		{"bad int", "I1x\n.", nil, "INT \"1x\""},
		{"huge long", "\x80\x02\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x01.", nil, "does not fit 64 bits"},
		{"bad utf-8", "X\x01\x00\x00\x00\xff.", nil, "not valid UTF-8"},
		{"reduce non-global", "K\x01)R.", nil, "REDUCE calls a int"},
		{"build int", "K\x01)b.", nil, "BUILD of a int"},
		{"non-latin1 bytes", "c_codecs\nencode\n(V\\u0100\nVlatin1\ntR.", nil, "not latin-1"},
		{"frame too long", "\x80\x04\x95\xff\x00\x00\x00\x00\x00\x00\x00N.", nil, "frame of 255 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := unpickle([]byte(tt.pickle), "p.pkl")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, error %v; want error containing %q", got, err, tt.wantErr)
				}
				if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "p.pkl") {
					t.Errorf("error %v does not wrap ErrFormat or name the file", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

// arrayPickle returns a protocol 2 pickle of one numpy array, the way
// cPickle writes it (see cpickleBatch), with the given dtype name and byte
// order, shape, fortran flag and raw data.
func arrayPickle(dtype, order string, shape []int, fortran bool, raw string) string {
	var b strings.Builder
	b.WriteString("\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85U\x01b\x87R(K\x01(")
	for _, d := range shape {
		b.WriteString("M" + string([]byte{byte(d), byte(d >> 8)}))
	}
	b.WriteString("tcnumpy\ndtype\nU" + string([]byte{byte(len(dtype))}) + dtype + "K\x00K\x01\x87R(K\x03U\x01" + order + "NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb")
	if fortran {
		b.WriteString("\x88")
	} else {
		b.WriteString("\x89")
	}
	b.WriteString("T" + string([]byte{byte(len(raw)), byte(len(raw) >> 8), 0, 0}) + raw + "tb.")
	return b.String()
}

func TestUnpickleArray(t *testing.T) {
	tests := []struct {
		name    string
		pickle  string
		shape   []int
		ints    []int
		wantErr string
	}{
		{"uint8", arrayPickle("u1", "|", []int{2, 3}, false, "\x00\x01\x02\x03\x04\xff"), []int{2, 3}, []int{0, 1, 2, 3, 4, 255}, ""},
		{"int8", arrayPickle("i1", "|", []int{2}, false, "\x01\xff"), []int{2}, []int{1, -1}, ""},
		{"int16 big-endian", arrayPickle("i2", ">", []int{2}, false, "\x01\x00\xff\xfe"), []int{2}, []int{256, -2}, ""},
		{"uint32", arrayPickle("u4", "<", []int{1}, false, "\x01\x00\x00\x80"), []int{1}, []int{1<<31 + 1}, ""},
		{"int64", arrayPickle("i8", "<", []int{2}, false, "\x07\x00\x00\x00\x00\x00\x00\x00\xfe\xff\xff\xff\xff\xff\xff\xff"), []int{2}, []int{7, -2}, ""},
		{"fortran vector", arrayPickle("u1", "|", []int{2}, true, "\x05\x06"), []int{2}, []int{5, 6}, ""},
		{"short data", arrayPickle("u1", "|", []int{2, 3}, false, "\x00\x01"), nil, nil, "needs 6 bytes, has 2"},
		{"float dtype", arrayPickle("f4", "<", []int{1}, false, "\x00\x00\x80\x3f"), nil, nil, "dtype \"f4\" is not supported"},
		{"fortran matrix", arrayPickle("u1", "|", []int{2, 2}, true, "\x00\x01\x02\x03"), nil, nil, "Fortran-ordered"},
		{"bad byte order", arrayPickle("u1", "x", []int{1}, false, "\x00"), nil, nil, "byte order"},
		{"object array", "\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85U\x01b\x87R(K\x01K\x01\x85cnumpy\ndtype\nU\x02O8K\x00K\x01\x87R\x89]tb.",
			nil, nil, "object arrays are not supported"},
		{"reconstruct of another class", "\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nmatrix\nK\x00\x85U\x01b\x87R.", nil, nil, "want (numpy.ndarray"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := unpickle([]byte(tt.pickle), "a.pkl")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, error %v; want error containing %q", v, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			a, ok := v.(*npArray)
			if !ok || !a.built {
				t.Fatalf("got %#v, want a built array", v)
			}
			if !equalInts(a.shape, tt.shape) {
				t.Errorf("shape %v, want %v", a.shape, tt.shape)
			}
			ints, err := a.ints()
			if err != nil || !equalInts(ints, tt.ints) {
				t.Errorf("ints %v (%v), want %v", ints, err, tt.ints)
			}
		})
	}
}

func TestUnquotePyString(t *testing.T) {
	tests := []struct {
		in, want, wantErr string
	}{
		{`''`, "", ""},
		{`'abc'`, "abc", ""},
		{`"a'b"`, "a'b", ""},
		{`'\x00\xff\t\r\n\\\'\"'`, "\x00\xff\t\r\n\\'\"", ""},
		{`'\a\b\f\v'`, "\a\b\f\v", ""},
		{`'\0\12\1234'`, "\x00\n\x534", ""},
		{`'\q'`, `\q`, ""},
		{`'abc`, "", "not a quoted string"},
		{`abc`, "", "not a quoted string"},
		{`'\x4'`, "", "short \\x escape"},
		{`'\xzz'`, "", "bad \\x escape"},
		{`'ab\'`, "", "ends in a backslash"},
	}
	for _, tt := range tests {
		got, err := unquotePyString(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: got %q, %v; want error %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || string(got) != tt.want {
			t.Errorf("%s: got %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestDecodeRawUnicodeEscape(t *testing.T) {
	tests := []struct{ in, want string }{
		{"abc", "abc"},
		{"\xe9", "é"},
		{`\u00e9\U0001F600`, "é😀"},
		{`\u005c`, `\`},
		{`\uzz`, `\uzz`},
		{`a\`, `a\`},
		{`\x41`, `\x41`},
	}
	for _, tt := range tests {
		if got := decodeRawUnicodeEscape(tt.in); got != tt.want {
			t.Errorf("%q: got %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzUnpickle checks that no input makes the reader panic or loop, seeded
// with every pickle in testdata.
func FuzzUnpickle(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.pkl")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(arrayPickle("i8", "<", []int{1}, false, "\x01\x00\x00\x00\x00\x00\x00\x00")))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := unpickle(b, "fuzz")
		if err != nil && !errors.Is(err, ErrFormat) {
			t.Fatalf("error %v does not wrap ErrFormat", err)
		}
		if err == nil {
			parseCIFARPickle(b, "fuzz")
			if a, ok := v.(*npArray); ok && a.built {
				a.ints()
			}
		}
	})
}
