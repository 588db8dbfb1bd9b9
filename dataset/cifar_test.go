package dataset

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// cifarPixel is the byte the synthetic files store for channel c of pixel
// (y, x) of image i: distinct enough that a swapped channel, row or column
// order gives different values.
func cifarPixel(i, c, y, x int) byte {
	return byte(i*53 + c*101 + y*7 + x*3 + (y*x)%5)
}

// cifarPlanar returns n images in CIFAR-10's planar layout (R, G, B planes).
func cifarPlanar(first, n int) []byte {
	b := make([]byte, 0, n*cifarImageBytes)
	for i := first; i < first+n; i++ {
		for c := range 3 {
			for y := range 32 {
				for x := range 32 {
					b = append(b, cifarPixel(i, c, y, x))
				}
			}
		}
	}
	return b
}

// cifarBinaryBatch returns a binary-version batch of the given labels, for
// images first, first+1, ….
func cifarBinaryBatch(first int, labels []int) []byte {
	planar := cifarPlanar(first, len(labels))
	var b []byte
	for i, l := range labels {
		b = append(b, byte(l))
		b = append(b, planar[i*cifarImageBytes:(i+1)*cifarImageBytes]...)
	}
	return b
}

// cpickleBatch returns the bytes Python 2.7's cPickle.dump(batch, f, 2)
// writes for a CIFAR-10 python batch, batch = {'data': a numpy uint8 array
// of shape (n, 3072), 'labels': [...], 'batch_label': ..., 'filenames':
// [...]}, opcode by opcode; Python 2.7 iterates that dict in the order data,
// labels, batch_label, filenames. TestCPickleBatchMatchesPython checks it
// against testdata/cifar_py2_proto2.pkl, which cPickle wrote.
func cpickleBatch(data []byte, labels []int, batchLabel string, filenames []string) []byte {
	var b bytes.Buffer
	memo := 0
	put := func() { // BINPUT of the next memo index
		memo++
		if memo < 256 {
			b.Write([]byte{opBinPut, byte(memo)})
		} else {
			b.WriteByte(opLongBinPut)
			binary.Write(&b, binary.LittleEndian, uint32(memo))
		}
	}
	str := func(s string) { // a Python 2 str; cPickle memoizes those longer than 1
		if len(s) < 256 {
			b.Write([]byte{opShortBinString, byte(len(s))})
		} else {
			b.WriteByte(opBinString)
			binary.Write(&b, binary.LittleEndian, uint32(len(s)))
		}
		b.WriteString(s)
		if len(s) > 1 {
			put()
		}
	}
	integer := func(v int) {
		switch {
		case 0 <= v && v < 256:
			b.Write([]byte{opBinInt1, byte(v)})
		case 0 <= v && v < 65536:
			b.Write([]byte{opBinInt2, byte(v), byte(v >> 8)})
		default:
			b.WriteByte(opBinInt)
			binary.Write(&b, binary.LittleEndian, int32(v))
		}
	}
	global := func(module, name string) {
		b.WriteByte(opGlobal)
		b.WriteString(module + "\n" + name + "\n")
		put()
	}
	list := func(n int, item func(i int)) { // cPickle batches appends by 1000
		b.WriteByte(opEmptyList)
		put()
		for i := 0; i < n; i += 1000 {
			k := min(n-i, 1000)
			if k == 1 {
				item(i)
				b.WriteByte(opAppend)
				continue
			}
			b.WriteByte(opMark)
			for j := i; j < i+k; j++ {
				item(j)
			}
			b.WriteByte(opAppends)
		}
	}

	b.Write([]byte{opProto, 2, opEmptyDict})
	put()
	b.WriteByte(opMark)
	// 'data': _reconstruct(ndarray, (0,), 'b') then BUILD (1, shape, dtype, False, raw).
	str("data")
	global("numpy.core.multiarray", "_reconstruct")
	global("numpy", "ndarray")
	integer(0)
	b.WriteByte(opTuple1)
	put()
	str("b")
	b.Write([]byte{opTuple3, opReduce})
	put()
	b.WriteByte(opMark)
	integer(1)
	integer(len(data) / cifarImageBytes)
	integer(cifarImageBytes)
	b.WriteByte(opTuple2)
	put()
	// dtype('u1', 0, 1) then BUILD (3, '|', None, None, None, -1, -1, 0).
	global("numpy", "dtype")
	str("u1")
	integer(0)
	integer(1)
	b.Write([]byte{opTuple3, opReduce})
	put()
	b.WriteByte(opMark)
	integer(3)
	str("|")
	b.Write([]byte{opNone, opNone, opNone})
	integer(-1)
	integer(-1)
	integer(0)
	b.WriteByte(opTuple)
	put()
	b.WriteByte(opBuild)
	b.WriteByte(opNewFalse)
	str(string(data))
	b.Write([]byte{opTuple, opBuild})
	// 'labels'
	str("labels")
	list(len(labels), func(i int) { integer(labels[i]) })
	str("batch_label")
	str(batchLabel)
	str("filenames")
	list(len(filenames), func(i int) { str(filenames[i]) })
	b.Write([]byte{opSetItems, opStop})
	return b.Bytes()
}

// firstDiff reports where two byte strings first differ, with a dump of both.
func firstDiff(got, want []byte) string {
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	lo := max(i-8, 0)
	return fmt.Sprintf("first difference at byte %d (len %d vs %d):\ngot  % x\nwant % x",
		i, len(got), len(want), got[lo:min(len(got), i+16)], want[lo:min(len(want), i+16)])
}

func TestCPickleBatchMatchesPython(t *testing.T) {
	want, err := os.ReadFile("testdata/cifar_py2_proto2.pkl")
	if err != nil {
		t.Fatal(err)
	}
	got := cpickleBatch(cifarFixturePlanar(3), []int{3, 8, 0}, "testing batch 1 of 1", []string{"a.png", "b.png", "c.png"})
	if !bytes.Equal(got, want) {
		t.Fatal(firstDiff(got, want))
	}
}

// cifarFixturePlanar is the data of the pickles in testdata, written by
// make_pickles_py{2,3}.py: byte k is (37k + 11) mod 256.
func cifarFixturePlanar(n int) []byte {
	b := make([]byte, n*cifarImageBytes)
	for k := range b {
		b[k] = byte((k*37 + 11) % 256)
	}
	return b
}

func TestParseCIFARPickleFixtures(t *testing.T) {
	tests := []struct {
		file   string
		labels []int
	}{
		{"cifar_py2_proto0.pkl", []int{3, 8, 0}},
		{"cifar_py2_proto1.pkl", []int{3, 8, 0}},
		{"cifar_py2_proto2.pkl", []int{3, 8, 0}},
		{"cifar_py3_proto0.pkl", []int{9, 1}},
		{"cifar_py3_proto2.pkl", []int{9, 1}},
		{"cifar_py3_proto4.pkl", []int{9, 1}},
		{"cifar_py3_proto5.pkl", []int{9, 1}},
		{"cifar_py3_arraylabels.pkl", []int{9, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			images, labels, err := parseCIFARPickle(raw, tt.file)
			if err != nil {
				t.Fatal(err)
			}
			var pix []byte
			for _, img := range images {
				pix = append(pix, img...)
			}
			if !equalInts(labels, tt.labels) {
				t.Errorf("labels %v, want %v", labels, tt.labels)
			}
			if want := cifarFixturePlanar(len(tt.labels)); !bytes.Equal(pix, want) {
				t.Error(firstDiff(pix, want))
			}
		})
	}
}

// checkNHWC checks image k of s against cifarPixel(first+k, …), reading
// NHWC by hand: value (y, x, c) sits at ((y·32)+x)·3+c.
func checkNHWC(t *testing.T, s *Set, k, first int) {
	t.Helper()
	img := s.Image(k)
	for y := range 32 {
		for x := range 32 {
			for c := range 3 {
				got, want := img[(y*32+x)*3+c], float32(cifarPixel(first+k, c, y, x))/255
				if got != want {
					t.Fatalf("image %d pixel (y=%d, x=%d, c=%d) = %v, want %v", k, y, x, c, got, want)
				}
			}
		}
	}
}

// writeCIFAR writes a full synthetic CIFAR-10 copy in one format: five
// training batches of sizes 3, 4, 5, 3, 4 and a test batch of 5, labels
// cycling through 0–9. It returns the labels of each split.
func writeCIFAR(t *testing.T, dir, format string) (train, test []int) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	sizes := []int{3, 4, 5, 3, 4, 5}
	names := []string{"data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"}
	first := 0
	for b, n := range sizes {
		labels := make([]int, n)
		for i := range labels {
			labels[i] = (first + i) % 10
		}
		var raw []byte
		name := names[b]
		switch format {
		case "binary":
			raw, name = cifarBinaryBatch(first, labels), name+".bin"
		case "python":
			files := make([]string, n)
			for i := range files {
				files[i] = fmt.Sprintf("img_%d.png", first+i)
			}
			raw = cpickleBatch(cifarPlanar(first, n), labels, "batch "+name, files)
		}
		if err := os.WriteFile(filepath.Join(dir, name), raw, 0o644); err != nil {
			t.Fatal(err)
		}
		if b < 5 {
			train = append(train, labels...)
		} else {
			test = labels
		}
		first += n
	}
	return train, test
}

func TestCIFAR10(t *testing.T) {
	tests := []struct {
		name, format, sub string // files go to dir/sub
	}{
		{"binary in dir", "binary", ""},
		{"binary in archive folder", "binary", "cifar-10-batches-bin"},
		{"python in dir", "python", ""},
		{"python in archive folder", "python", "cifar-10-batches-py"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			train, test := writeCIFAR(t, filepath.Join(dir, tt.sub), tt.format)
			for _, split := range []struct {
				split  Split
				labels []int
				first  int
			}{{Train, train, 0}, {Test, test, len(train)}} {
				s, err := CIFAR10(dir, split.split)
				if err != nil {
					t.Fatalf("%v: %v", split.split, err)
				}
				if err := s.Validate(); err != nil {
					t.Fatal(err)
				}
				if s.Shape != [3]int{32, 32, 3} || s.Classes != 10 || s.Name != "cifar10-"+split.split.String() {
					t.Errorf("%v: set %s of shape %v, %d classes", split.split, s.Name, s.Shape, s.Classes)
				}
				if !equalInts(s.Labels, split.labels) {
					t.Errorf("%v: labels %v, want %v", split.split, s.Labels, split.labels)
				}
				for k := range s.Len() {
					checkNHWC(t, s, k, split.first)
				}
			}
		})
	}
}

// TestCIFAR10ChannelOrder pins the layout with a single hand-made record:
// red plane all 10, green 20, blue 30, except red at (y=1, x=2) = 255.
func TestCIFAR10ChannelOrder(t *testing.T) {
	rec := make([]byte, cifarRecordLen)
	rec[0] = 6
	for p := range cifarPlane {
		rec[1+p], rec[1+cifarPlane+p], rec[1+2*cifarPlane+p] = 10, 20, 30
	}
	rec[1+1*32+2] = 255
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "test_batch.bin"), rec, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := CIFAR10(dir, Test)
	if err != nil {
		t.Fatal(err)
	}
	img := s.Image(0)
	want := map[int]float32{0: 10. / 255, 1: 20. / 255, 2: 30. / 255, (1*32 + 2) * 3: 1, (1*32+2)*3 + 1: 20. / 255, (2*32 + 1) * 3: 10. / 255}
	for i, w := range want {
		if img[i] != w {
			t.Errorf("value %d = %v, want %v", i, img[i], w)
		}
	}
	if s.Labels[0] != 6 {
		t.Errorf("label %d, want 6", s.Labels[0])
	}
}

func TestCIFAR10Errors(t *testing.T) {
	good := cifarBinaryBatch(0, []int{1, 2, 3})
	goodPickle := cpickleBatch(cifarPlanar(0, 3), []int{1, 2, 3}, "b", []string{"x", "y", "z"})
	tests := []struct {
		name    string
		files   map[string][]byte
		split   Split
		is      error
		wantErr []string
	}{
		{"empty dir", nil, Test, ErrNotFound, []string{"scripts/fetch-cifar10.sh", "test_batch.bin", "cifar-10-batches-py"}},
		{"missing training batch", map[string][]byte{
			"data_batch_1.bin": good, "data_batch_2.bin": good, "data_batch_4.bin": good, "data_batch_5.bin": good,
		}, Train, ErrNotFound, []string{"data_batch_3.bin is missing", "scripts/fetch-cifar10.sh"}},
		{"truncated binary", map[string][]byte{"test_batch.bin": good[:len(good)-1]}, Test, ErrFormat,
			[]string{"test_batch.bin", "not a positive multiple of the 3073-byte record"}},
		{"empty binary", map[string][]byte{"test_batch.bin": {}}, Test, ErrFormat, []string{"test_batch.bin"}},
		{"binary record too long", map[string][]byte{"test_batch.bin": append(bytes.Clone(good), 0)}, Test, ErrFormat, []string{"3073-byte record"}},
		{"bad label", map[string][]byte{"test_batch.bin": cifarBinaryBatch(0, []int{1, 12})}, Test, ErrFormat, []string{"record 1 has label 12"}},
		{"truncated pickle", map[string][]byte{"test_batch": goodPickle[:len(goodPickle)/2]}, Test, ErrFormat, []string{"test_batch", "truncated"}},
		{"pickle without STOP", map[string][]byte{"test_batch": goodPickle[:len(goodPickle)-1]}, Test, ErrFormat, []string{"no STOP"}},
		{"pickle of a list", map[string][]byte{"test_batch": []byte("\x80\x02]q\x01.")}, Test, ErrFormat, []string{"want a dict"}},
		{"pickle without data", map[string][]byte{"test_batch": []byte("\x80\x02}q\x01U\x06labels]\x85s.")}, Test, ErrFormat, []string{"no \"data\" entry"}},
		{"label count", map[string][]byte{"test_batch": cpickleBatch(cifarPlanar(0, 3), []int{1, 2}, "b", nil)}, Test, ErrFormat, []string{"2 labels for 3 images"}},
		{"pickle label out of range", map[string][]byte{"test_batch": cpickleBatch(cifarPlanar(0, 2), []int{1, 10}, "b", nil)}, Test, ErrFormat, []string{"label 10 of example 1"}},
		{"bad split", nil, Split(3), nil, []string{"unknown split"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, b := range tt.files {
				if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			_, err := CIFAR10(dir, tt.split)
			if err == nil {
				t.Fatal("no error")
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v does not wrap %v", err, tt.is)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestCIFAR10DefaultDir(t *testing.T) {
	t.Chdir(t.TempDir())
	_, err := CIFAR10("", Test)
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), filepath.Join(DefaultCIFAR10Dir, "test_batch.bin")) {
		t.Errorf("got %v, want ErrNotFound naming %s", err, DefaultCIFAR10Dir)
	}
}

// TestCIFAR10Real reads the real data set when scripts/fetch-cifar10.sh has
// put it in the repository's data/cifar10 or CONFROBUST_CIFAR10_DIR names it.
func TestCIFAR10Real(t *testing.T) {
	dir := os.Getenv("CONFROBUST_CIFAR10_DIR")
	if dir == "" {
		dir = filepath.Join("..", DefaultCIFAR10Dir)
	}
	if _, _, err := findCIFAR10(dir, "test_batch"); err != nil {
		t.Skipf("CIFAR-10 not found (%v); run scripts/fetch-cifar10.sh or set CONFROBUST_CIFAR10_DIR to enable", err)
	}
	tests := []struct {
		split    Split
		n, first int
	}{
		{Train, 50000, 6}, // a frog
		{Test, 10000, 3},  // a cat
	}
	for _, tt := range tests {
		t.Run(tt.split.String(), func(t *testing.T) {
			if testing.Short() && tt.split == Train {
				t.Skip("training split in -short mode")
			}
			s, err := CIFAR10(dir, tt.split)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Validate(); err != nil {
				t.Fatal(err)
			}
			if s.Len() != tt.n || s.Labels[0] != tt.first {
				t.Errorf("%d images, first label %d; want %d, %d", s.Len(), s.Labels[0], tt.n, tt.first)
			}
			var counts [10]int
			for _, l := range s.Labels {
				counts[l]++
			}
			for c, k := range counts {
				if k != tt.n/10 {
					t.Errorf("class %d has %d images, want %d", c, k, tt.n/10)
				}
			}
		})
	}
}
