package dataset

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// idxBytes assembles an idx file: magic, big-endian dims, data.
func idxBytes(magic uint32, dims []uint32, data []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, magic)
	for _, d := range dims {
		binary.Write(&b, binary.BigEndian, d)
	}
	b.Write(data)
	return b.Bytes()
}

func gzipBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func seq(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i * 7)
	}
	return b
}

func TestReadIDX(t *testing.T) {
	tests := []struct {
		name    string
		file    []byte
		magic   uint32
		dims    []int
		wantErr string // substring of the error; "" for success
	}{
		{"images", idxBytes(idxImagesMagic, []uint32{2, 3, 4}, seq(24)), idxImagesMagic, []int{2, 3, 4}, ""},
		{"labels", idxBytes(idxLabelsMagic, []uint32{5}, seq(5)), idxLabelsMagic, []int{5}, ""},
		{"empty set", idxBytes(idxImagesMagic, []uint32{0, 28, 28}, nil), idxImagesMagic, []int{0, 28, 28}, ""},
		{"labels as images", idxBytes(idxLabelsMagic, []uint32{5}, seq(5)), idxImagesMagic, nil, "bad idx magic number 0x00000801, want 0x00000803"},
		{"float type", idxBytes(0x00000d03, []uint32{1, 1, 1}, seq(4)), idxImagesMagic, nil, "bad idx magic"},
		{"empty file", nil, idxImagesMagic, nil, "truncated idx header"},
		{"short magic", []byte{0, 0, 8}, idxImagesMagic, nil, "truncated idx header"},
		{"short dims", idxBytes(idxImagesMagic, []uint32{2, 3}, nil), idxImagesMagic, nil, "want 3 dimensions"},
		{"truncated data", idxBytes(idxImagesMagic, []uint32{2, 3, 4}, seq(23)), idxImagesMagic, nil, "need 24 data bytes, found 23"},
		{"trailing data", idxBytes(idxLabelsMagic, []uint32{5}, seq(6)), idxLabelsMagic, nil, "trailing data"},
		{"huge dimension", idxBytes(idxImagesMagic, []uint32{1 << 30, 28, 28}, nil), idxImagesMagic, nil, "more than"},
		{"huge product", idxBytes(idxImagesMagic, []uint32{1 << 24, 1 << 24, 1}, seq(10)), idxImagesMagic, nil, "more than 2^40"},
		{"lying count", idxBytes(idxImagesMagic, []uint32{1 << 20, 28, 28}, seq(100)), idxImagesMagic, nil, "found 100"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dims, data, err := readIDX(bytes.NewReader(tt.file), "f.idx", tt.magic)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "f.idx") {
					t.Errorf("error %v does not wrap ErrFormat or name the file", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !equalInts(dims, tt.dims) {
				t.Errorf("dims %v, want %v", dims, tt.dims)
			}
			n := 1
			for _, d := range tt.dims {
				n *= d
			}
			if !bytes.Equal(data, seq(n)) {
				t.Errorf("data % x, want % x", data, seq(n))
			}
		})
	}
}

func TestReadFullGrows(t *testing.T) {
	for _, n := range []int{0, 1, readChunk - 1, readChunk, 3*readChunk + 5} {
		src := seq(n)
		got, err := readFull(bytes.NewReader(src), n)
		if err != nil || !bytes.Equal(got, src) {
			t.Errorf("n=%d: got %d bytes, err %v", n, len(got), err)
		}
		if n > 0 {
			got, err = readFull(bytes.NewReader(src[:n-1]), n)
			if err == nil || len(got) != n-1 {
				t.Errorf("n=%d short source: got %d bytes, err %v", n, len(got), err)
			}
		}
	}
}

func TestParseMNIST(t *testing.T) {
	pix := []byte{0, 255, 51, 102, 0, 0, 0, 0, 255, 255, 255, 255} // 3 images of 2×2
	images := gzipBytes(t, idxBytes(idxImagesMagic, []uint32{3, 2, 2}, pix))
	tests := []struct {
		name    string
		labels  []byte
		wantErr string
	}{
		{"ok", gzipBytes(t, idxBytes(idxLabelsMagic, []uint32{3}, []byte{7, 0, 9})), ""},
		{"count mismatch", gzipBytes(t, idxBytes(idxLabelsMagic, []uint32{2}, []byte{7, 0})), "2 labels for the 3 images"},
		{"not a digit", gzipBytes(t, idxBytes(idxLabelsMagic, []uint32{3}, []byte{7, 10, 9})), "label 10 of example 1"},
		{"not gzip", idxBytes(idxLabelsMagic, []uint32{3}, []byte{7, 0, 9}), "gzip"},
		{"truncated gzip", gzipBytes(t, idxBytes(idxLabelsMagic, []uint32{3}, []byte{7, 0, 9}))[:20], "labels.gz"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := parseMNIST(images, tt.labels, "images.gz", "labels.gz")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrFormat) {
					t.Fatalf("error %v, want ErrFormat containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.Len() != 3 || s.Shape != [3]int{2, 2, 1} || !equalInts(s.Labels, []int{7, 0, 9}) {
				t.Fatalf("got %d images of %v labels %v", s.Len(), s.Shape, s.Labels)
			}
			want := []float32{0, 1, 0.2, 0.4}
			for i, w := range want {
				if got := s.Image(0)[i]; got != w {
					t.Errorf("image 0 pixel %d = %v, want %v", i, got, w)
				}
			}
			if err := s.Validate(); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestMNISTFromErrors(t *testing.T) {
	dir := t.TempDir()
	// A valid idx pair that is not the official file fails the checksum.
	img := gzipBytes(t, idxBytes(idxImagesMagic, []uint32{1, 28, 28}, make([]byte, 784)))
	lab := gzipBytes(t, idxBytes(idxLabelsMagic, []uint32{1}, []byte{3}))
	if err := os.WriteFile(filepath.Join(dir, "t10k-images-idx3-ubyte.gz"), img, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "t10k-labels-idx1-ubyte.gz"), lab, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := MNISTFrom(dir, Test)
	if !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), "t10k-images-idx3-ubyte.gz") {
		t.Errorf("test split: %v, want ErrChecksum naming the file", err)
	}
	_, err = MNISTFrom(dir, Train)
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "go mod download") {
		t.Errorf("train split: %v, want ErrNotFound saying how to fetch", err)
	}
	if _, err := MNISTFrom(dir, Split(7)); err == nil {
		t.Error("split(7): no error")
	}
}

// isolateMNIST clears every place MNISTDir looks (the environment
// variable, GOMODCACHE, GOPATH, HOME, PATH and the cached answer of the go
// tool) for the test, and returns an empty directory now on $PATH.
func isolateMNIST(t *testing.T) (bin string) {
	t.Helper()
	bin = t.TempDir()
	for _, v := range []string{MNISTDirEnv, "GOMODCACHE", "GOPATH"} {
		t.Setenv(v, "")
	}
	t.Setenv("HOME", t.TempDir())
	t.Setenv("PATH", bin)
	goModule.Lock()
	oldDir := goModule.dir
	goModule.dir = ""
	goModule.Unlock()
	t.Cleanup(func() {
		goModule.Lock()
		goModule.dir = oldDir
		goModule.Unlock()
	})
	return bin
}

// fakeCache makes MNISTModule's data/ folder in the module cache root, with
// the four files (symbolic links to those in real if not "", else empty),
// and returns the folder.
func fakeCache(t *testing.T, root, real string) string {
	t.Helper()
	dir := filepath.Join(root, mnistModuleCachePath(), "data")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, files := range mnistFiles {
		for _, f := range files {
			var err error
			if real != "" {
				err = os.Symlink(filepath.Join(real, f.name), filepath.Join(dir, f.name))
			} else {
				err = os.WriteFile(filepath.Join(dir, f.name), nil, 0o644)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

// fakeGo puts on $PATH (the directory bin) a go command that records its
// arguments in the file it returns and prints what go mod download -json
// would for a module in dir (or fails, if dir is "").
func fakeGo(t *testing.T, bin, dir string) (calls string) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("the fake go command is a shell script")
	}
	calls = filepath.Join(t.TempDir(), "calls")
	script := "#!/bin/sh\necho \"$@\" >> " + calls + "\n"
	if dir != "" {
		script += "echo '{\"Dir\": \"" + dir + "\"}'\n"
	} else {
		script += "echo '{\"Error\": \"no network\"}'\nexit 1\n"
	}
	if err := os.WriteFile(filepath.Join(bin, "go"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return calls
}

// TestMNISTDir: where MNISTDir finds the files, in its order, and that it
// runs the go command only when no module cache holds them.
func TestMNISTDir(t *testing.T) {
	tests := []struct {
		name   string
		env    string // where CONFROBUST_MNIST_DIR, GOMODCACHE, GOPATH or HOME point, or "go" for the go command
		goTool string // "": none on $PATH; "fail": one that fails; "ok": one that reports a module dir
		want   string // which fake folder MNISTDir returns; "" for an error
		runsGo bool   // whether the go command runs
	}{
		{"env var", MNISTDirEnv, "ok", MNISTDirEnv, false},
		{"GOMODCACHE", "GOMODCACHE", "ok", "GOMODCACHE", false},
		{"GOPATH", "GOPATH", "ok", "GOPATH", false},
		{"HOME", "HOME", "ok", "HOME", false},
		{"GOMODCACHE without go", "GOMODCACHE", "", "GOMODCACHE", false},
		{"HOME without go", "HOME", "", "HOME", false},
		{"go mod download", "go", "ok", "go", true},
		{"go mod download fails", "", "fail", "", true},
		{"nothing", "", "", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bin := isolateMNIST(t)
			root := t.TempDir()
			var want string
			switch tc.env {
			case MNISTDirEnv:
				want = filepath.Join(root, "mnist")
				t.Setenv(MNISTDirEnv, want)
			case "GOMODCACHE":
				want = fakeCache(t, root, "")
				t.Setenv("GOMODCACHE", root)
			case "GOPATH":
				want = fakeCache(t, filepath.Join(root, "pkg", "mod"), "")
				t.Setenv("GOPATH", t.TempDir()+string(filepath.ListSeparator)+root)
			case "HOME":
				want = fakeCache(t, filepath.Join(root, "go", "pkg", "mod"), "")
				t.Setenv("HOME", root)
			case "go":
				want = filepath.Join(root, "module", "data")
			}
			// An empty cache where GOMODCACHE points, unless it is the one.
			if tc.env != "GOMODCACHE" {
				t.Setenv("GOMODCACHE", t.TempDir())
			}
			var calls string
			switch tc.goTool {
			case "ok":
				calls = fakeGo(t, bin, filepath.Join(root, "module"))
			case "fail":
				calls = fakeGo(t, bin, "")
			}
			got, err := MNISTDir()
			if tc.want != "" {
				if err != nil || got != want {
					t.Errorf("MNISTDir() = %q, %v; want %q", got, err, want)
				}
			} else {
				if !errors.Is(err, ErrNotFound) {
					t.Fatalf("MNISTDir() = %q, %v; want ErrNotFound", got, err)
				}
				for _, w := range []string{"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
					"t10k-labels-idx1-ubyte.gz", MNISTDirEnv, "data.dir", "go mod download " + MNISTModule, mnistModuleCachePath()} {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not mention %q", err, w)
					}
				}
				if tc.goTool == "" && !strings.Contains(err.Error(), "no go command on $PATH") {
					t.Errorf("error %q does not say there is no go command", err)
				}
				if tc.goTool == "fail" && !strings.Contains(err.Error(), "no network") {
					t.Errorf("error %q does not give go's error", err)
				}
			}
			_, statErr := os.Stat(calls)
			if ran := calls != "" && statErr == nil; ran != tc.runsGo {
				t.Errorf("go command ran: %v, want %v", ran, tc.runsGo)
			}
		})
	}
}

// TestMNISTWithoutGo loads the test split as a binary on a machine without
// Go would: no go command on $PATH, the files in ~/go/pkg/mod (links to the
// real ones).
func TestMNISTWithoutGo(t *testing.T) {
	real, err := MNISTDir()
	if err != nil {
		t.Skipf("MNIST files not available (%v); run `go mod download %s` to enable", err, MNISTModule)
	}
	isolateMNIST(t)
	home := t.TempDir()
	t.Setenv("HOME", home)
	fakeCache(t, filepath.Join(home, "go", "pkg", "mod"), real)
	s, err := MNIST(Test)
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != 10000 || s.Labels[0] != 7 {
		t.Errorf("%d images, first label %d; want 10000, 7", s.Len(), s.Labels[0])
	}

	// An explicit directory without the files is not silently replaced.
	empty := t.TempDir()
	t.Setenv(MNISTDirEnv, empty)
	_, err = MNIST(Train)
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), filepath.Join(empty, "train-images-idx3-ubyte.gz")) {
		t.Errorf("with %s set: got %v, want ErrNotFound naming the missing file", MNISTDirEnv, err)
	}
}

func TestMNISTModuleCachePath(t *testing.T) {
	want := filepath.FromSlash("github.com/petar/!go!m!n!i!s!t@v0.0.0-20150320212226-2fbe10d0fa63")
	if got := mnistModuleCachePath(); got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

// TestMNIST reads the real files from the module cache.
func TestMNIST(t *testing.T) {
	dir, err := MNISTDir()
	if err != nil {
		t.Skipf("MNIST files not available (%v); run `go mod download %s` to enable", err, MNISTModule)
	}
	tests := []struct {
		split     Split
		n         int
		firstTwo  [2]int
		histFirst int // number of zeros, a known count
	}{
		{Train, 60000, [2]int{5, 0}, 5923},
		{Test, 10000, [2]int{7, 2}, 980},
	}
	for _, tt := range tests {
		t.Run(tt.split.String(), func(t *testing.T) {
			if testing.Short() && tt.split == Train {
				t.Skip("training split in -short mode")
			}
			s, err := MNISTFrom(dir, tt.split)
			if err != nil {
				t.Fatal(err)
			}
			if s.Len() != tt.n || s.Shape != [3]int{28, 28, 1} || len(s.Images) != tt.n*784 {
				t.Fatalf("%d images of %v (%d values), want %d of 28×28×1", s.Len(), s.Shape, len(s.Images), tt.n)
			}
			if got := [2]int{s.Labels[0], s.Labels[1]}; got != tt.firstTwo {
				t.Errorf("first labels %v, want %v", got, tt.firstTwo)
			}
			zeros := 0
			for _, l := range s.Labels {
				if l == 0 {
					zeros++
				}
			}
			if zeros != tt.histFirst {
				t.Errorf("%d zeros, want %d", zeros, tt.histFirst)
			}
			lo, hi := s.Images[0], s.Images[0]
			for _, v := range s.Images {
				lo, hi = min(lo, v), max(hi, v)
			}
			if lo != 0 || hi != 1 {
				t.Errorf("pixel range [%v, %v], want [0, 1]", lo, hi)
			}
			if err := s.Validate(); err != nil {
				t.Error(err)
			}
		})
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// FuzzReadIDX checks that no input makes the idx reader panic, and that
// what it accepts is consistent with its header.
func FuzzReadIDX(f *testing.F) {
	f.Add(idxBytes(idxImagesMagic, []uint32{2, 3, 4}, seq(24)), true)
	f.Add(idxBytes(idxLabelsMagic, []uint32{5}, seq(5)), false)
	f.Add(idxBytes(idxImagesMagic, []uint32{1 << 20, 28, 28}, seq(100)), true)
	f.Fuzz(func(t *testing.T, b []byte, images bool) {
		magic := uint32(idxLabelsMagic)
		if images {
			magic = idxImagesMagic
		}
		dims, data, err := readIDX(bytes.NewReader(b), "fuzz", magic)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error %v does not wrap ErrFormat", err)
			}
			return
		}
		n := 1
		for _, d := range dims {
			n *= d
		}
		if len(data) != n || len(b) != 4+4*len(dims)+n {
			t.Fatalf("dims %v, %d data bytes from a %d-byte file", dims, len(data), len(b))
		}
	})
}
