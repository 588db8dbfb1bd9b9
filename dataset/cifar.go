package dataset

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// The two CIFAR-10 layouts (https://www.cs.toronto.edu/~kriz/cifar.html):
//
// Binary version, cifar-10-batches-bin/{data_batch_1..5,test_batch}.bin:
// 10,000 records per file, each exactly 3073 bytes:
//
//	[label: 1 byte, 0–9] [red: 1024 bytes] [green: 1024 bytes] [blue: 1024 bytes]
//
// each colour plane 32 rows of 32 bytes, row-major.
//
// Python version, cifar-10-batches-py/{data_batch_1..5,test_batch}: a
// Python 2 cPickle (protocol 2) of a dict whose "data" entry is a numpy
// uint8 array of shape (10000, 3072), each row one record's three planes as
// above, and whose "labels" entry is a list of 10,000 ints.
const (
	cifarSide       = 32
	cifarPlane      = cifarSide * cifarSide // 1024
	cifarImageBytes = 3 * cifarPlane        // 3072
	cifarRecordLen  = 1 + cifarImageBytes   // 3073
	cifarClasses    = 10
)

// CIFAR10FetchCommand is the command that downloads CIFAR-10 (binary
// version) into its default directory, DefaultCIFAR10Dir.
const CIFAR10FetchCommand = "scripts/fetch-cifar10.sh"

// DefaultCIFAR10Dir is where scripts/fetch-cifar10.sh puts the data by
// default, relative to the repository root; CIFAR10 reads it when given "".
const DefaultCIFAR10Dir = "data/cifar10"

// cifarFormat is one of the two CIFAR-10 layouts.
type cifarFormat struct {
	name   string // "binary" or "python"
	subdir string // the archive's folder
	ext    string // file name suffix
	// parse decodes one batch file into its images (each 3072 planar
	// bytes, aliasing b) and labels.
	parse func(b []byte, name string) (images [][]byte, labels []int, err error)
}

var cifarFormats = []cifarFormat{
	{name: "binary", subdir: "cifar-10-batches-bin", ext: ".bin", parse: parseCIFARBinary},
	{name: "python", subdir: "cifar-10-batches-py", ext: "", parse: parseCIFARPickle},
}

// cifarBatches returns the batch file names of a split, without suffix.
func cifarBatches(split Split) ([]string, error) {
	switch split {
	case Train:
		return []string{"data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5"}, nil
	case Test:
		return []string{"test_batch"}, nil
	}
	return nil, fmt.Errorf("dataset: CIFAR-10: unknown split %v", split)
}

// CIFAR10 returns the CIFAR-10 training (50,000 images) or test (10,000
// images) split as 32×32×3 images on [0,1] with labels 0–9, read from dir
// (DefaultCIFAR10Dir when dir is ""). It finds the binary version
// (data_batch_1.bin …, test_batch.bin) in dir or dir/cifar-10-batches-bin,
// or else the python version (data_batch_1 …, test_batch) in dir or
// dir/cifar-10-batches-py, trying them in that order. Missing files give an
// error wrapping ErrNotFound that names the command fetching them
// (scripts/fetch-cifar10.sh); malformed ones an error wrapping ErrFormat.
func CIFAR10(dir string, split Split) (*Set, error) {
	if dir == "" {
		dir = DefaultCIFAR10Dir
	}
	batches, err := cifarBatches(split)
	if err != nil {
		return nil, err
	}
	folder, format, err := findCIFAR10(dir, batches[0])
	if err != nil {
		return nil, err
	}
	// Read and check every batch first, then convert into one allocation.
	var images [][]byte // each one image's 3072 planar bytes, aliasing the files
	var labels []int
	for _, b := range batches {
		path := filepath.Join(folder, b+format.ext)
		raw, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w: CIFAR-10 %s: %s is missing (the %s version is incomplete); run %s %s",
				ErrNotFound, split, path, format.name, CIFAR10FetchCommand, dir)
		}
		if err != nil {
			return nil, fmt.Errorf("dataset: CIFAR-10 %s: %w", split, err)
		}
		imgs, labs, err := format.parse(raw, path)
		if err != nil {
			return nil, err
		}
		images = append(images, imgs...)
		labels = append(labels, labs...)
	}
	s := &Set{Name: "cifar10-" + split.String(), Shape: Shape{cifarSide, cifarSide, 3}, Classes: cifarClasses,
		Images: make([]float32, len(images)*cifarImageBytes), Labels: labels}
	for i, img := range images {
		planarToNHWC(s.Images[i*cifarImageBytes:(i+1)*cifarImageBytes], img)
	}
	return s, nil
}

// findCIFAR10 looks for the file first (a batch name without suffix) of
// either version in dir and its archive subfolders.
func findCIFAR10(dir, first string) (string, cifarFormat, error) {
	var tried []string
	for _, f := range cifarFormats {
		for _, folder := range []string{dir, filepath.Join(dir, f.subdir)} {
			path := filepath.Join(folder, first+f.ext)
			if st, err := os.Stat(path); err == nil && st.Mode().IsRegular() {
				return folder, f, nil
			}
			tried = append(tried, path)
		}
	}
	return "", cifarFormat{}, fmt.Errorf("%w: CIFAR-10: none of %s exists; run %s %s to download it",
		ErrNotFound, strings.Join(tried, ", "), CIFAR10FetchCommand, dir)
}

// parseCIFARBinary splits a binary-version batch into its images (3072
// planar bytes each, aliasing b) and labels.
func parseCIFARBinary(b []byte, name string) ([][]byte, []int, error) {
	if len(b) == 0 || len(b)%cifarRecordLen != 0 {
		return nil, nil, formatErr(name, int64(len(b)), "size %d bytes is not a positive multiple of the %d-byte record (1 label byte + 3072 pixel bytes); truncated or not a CIFAR-10 binary batch",
			len(b), cifarRecordLen)
	}
	n := len(b) / cifarRecordLen
	images := make([][]byte, n)
	labels := make([]int, n)
	for i := range n {
		rec := b[i*cifarRecordLen : (i+1)*cifarRecordLen]
		if rec[0] >= cifarClasses {
			return nil, nil, formatErr(name, int64(i*cifarRecordLen), "record %d has label %d, want 0–9", i, rec[0])
		}
		labels[i] = int(rec[0])
		images[i] = rec[1:]
	}
	return images, labels, nil
}

// parseCIFARPickle decodes a python-version batch into its images (3072
// planar bytes each, aliasing b when the pickle holds them raw) and labels.
func parseCIFARPickle(b []byte, name string) ([][]byte, []int, error) {
	v, err := unpickle(b, name)
	if err != nil {
		return nil, nil, err
	}
	bad := func(format string, a ...any) error {
		return formatErr(name, 0, "CIFAR-10 python batch: "+format, a...)
	}
	d, ok := v.(*pyDict)
	if !ok {
		return nil, nil, bad("pickle holds a %s, want a dict", pyTypeName(v))
	}
	dv, ok := d.get("data")
	if !ok {
		return nil, nil, bad("no \"data\" entry")
	}
	data, ok := dv.(*npArray)
	if !ok || !data.built {
		return nil, nil, bad("\"data\" is a %s, want a numpy array", pyTypeName(dv))
	}
	if data.dtype.name != "u1" || len(data.shape) == 0 || data.shape[0]*cifarImageBytes != len(data.data) {
		return nil, nil, bad("\"data\" has shape %v and dtype %s, want (n, 3072) uint8", data.shape, data.dtype.name)
	}
	n := data.shape[0]
	lv, ok := d.get("labels")
	if !ok {
		return nil, nil, bad("no \"labels\" entry")
	}
	var labels []int
	switch l := lv.(type) {
	case *pyList:
		labels = make([]int, len(l.items))
		for i, x := range l.items {
			v, ok := x.(int64)
			if !ok || v < 0 || v >= cifarClasses {
				return nil, nil, bad("label %d of example %d (%s), want 0–9", x, i, pyTypeName(x))
			}
			labels[i] = int(v)
		}
	case *npArray:
		if labels, err = l.ints(); err != nil {
			return nil, nil, bad("\"labels\": %v", err)
		}
	default:
		return nil, nil, bad("\"labels\" is a %s, want a list of ints", pyTypeName(lv))
	}
	if len(labels) != n {
		return nil, nil, bad("%d labels for %d images", len(labels), n)
	}
	for i, l := range labels {
		if l < 0 || l >= cifarClasses {
			return nil, nil, bad("label %d of example %d, want 0–9", l, i)
		}
	}
	images := make([][]byte, n)
	for i := range images {
		images[i] = data.data[i*cifarImageBytes : (i+1)*cifarImageBytes]
	}
	return images, labels, nil
}

// planarToNHWC converts one CIFAR-10 image from its planes (1024 red, 1024
// green, 1024 blue bytes, each plane row-major) to NHWC on the [0,1] scale.
func planarToNHWC(dst []float32, src []byte) {
	r, g, b := src[:cifarPlane], src[cifarPlane:2*cifarPlane], src[2*cifarPlane:3*cifarPlane]
	dst = dst[:3*cifarPlane]
	for p := range cifarPlane { // p = y·32 + x
		dst[3*p] = pixelScale[r[p]]
		dst[3*p+1] = pixelScale[g[p]]
		dst[3*p+2] = pixelScale[b[p]]
	}
}
