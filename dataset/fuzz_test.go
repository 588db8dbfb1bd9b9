package dataset

import (
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// gzipped compresses b, for fuzz inputs (gzip cannot fail on a buffer).
func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// FuzzParseMNIST checks that no pair of image and label files makes the
// MNIST parser panic, and that a set it accepts is valid: one label 0–9 for
// each image, pixels on [0,1]. The fuzzer's bytes are gzipped first when
// compress is set, so that mutations reach the idx parser past gzip's CRC.
func FuzzParseMNIST(f *testing.F) {
	img := idxBytes(idxImagesMagic, []uint32{3, 2, 2}, []byte{0, 255, 51, 102, 0, 0, 0, 0, 255, 255, 255, 255})
	lab := idxBytes(idxLabelsMagic, []uint32{3}, []byte{7, 0, 9})
	f.Add(img, lab, true)
	f.Add(gzipped(img), gzipped(lab), false)
	f.Add(idxBytes(idxImagesMagic, []uint32{1, 28, 28}, make([]byte, 784)), idxBytes(idxLabelsMagic, []uint32{1}, []byte{3}), true)
	f.Add(idxBytes(idxImagesMagic, []uint32{2, 1, 1}, []byte{1, 2}), idxBytes(idxLabelsMagic, []uint32{3}, []byte{1, 2, 3}), true)
	f.Add(idxBytes(idxImagesMagic, []uint32{1 << 20, 28, 28}, nil), lab, true)
	f.Add(idxBytes(idxImagesMagic, []uint32{1, 1, 1}, []byte{1}), idxBytes(idxLabelsMagic, []uint32{1}, []byte{10}), true)
	f.Fuzz(func(t *testing.T, images, labels []byte, compress bool) {
		if compress {
			images, labels = gzipped(images), gzipped(labels)
		}
		s, err := parseMNIST(images, labels, "images.gz", "labels.gz")
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error %v does not wrap ErrFormat", err)
			}
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("accepted an invalid set: %v", err)
		}
	})
}

// FuzzCIFARBinary checks that no input makes the binary-batch parser panic,
// and that what it accepts is one 3072-byte image and one label 0–9 per
// 3073-byte record.
func FuzzCIFARBinary(f *testing.F) {
	f.Add(cifarBinaryBatch(0, []int{3, 9}))
	f.Add(cifarBinaryBatch(5, []int{0})[:cifarRecordLen-1])
	f.Add(append(cifarBinaryBatch(0, []int{1}), 10))
	f.Fuzz(func(t *testing.T, b []byte) {
		images, labels, err := parseCIFARBinary(b, "fuzz.bin")
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error %v does not wrap ErrFormat", err)
			}
			return
		}
		checkCIFAR(t, images, labels, len(b)/cifarRecordLen)
		if len(b) != len(images)*cifarRecordLen {
			t.Fatalf("%d images from %d bytes", len(images), len(b))
		}
	})
}

// FuzzCIFARPickle checks that no input makes the python-batch parser panic
// or accept a batch whose images are not 3072 bytes each with a label 0–9,
// seeded with every pickle in testdata and with cPickle-style batches.
func FuzzCIFARPickle(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.pkl")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(cpickleBatch(cifarPlanar(0, 2), []int{1, 2}, "batch", []string{"a.png", "b.png"}))
	f.Add(cpickleBatch(cifarPlanar(0, 1), []int{1, 2}, "batch", []string{"a.png"}))
	f.Add(cpickleBatch(cifarPlanar(0, 1), []int{12}, "", nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		images, labels, err := parseCIFARPickle(b, "fuzz")
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error %v does not wrap ErrFormat", err)
			}
			return
		}
		checkCIFAR(t, images, labels, -1)
	})
}

// checkCIFAR fails t unless images and labels are n CIFAR-10 examples (any
// number if n < 0).
func checkCIFAR(t *testing.T, images [][]byte, labels []int, n int) {
	t.Helper()
	if len(images) != len(labels) || (n >= 0 && len(images) != n) {
		t.Fatalf("%d images and %d labels, want %d", len(images), len(labels), n)
	}
	for i, img := range images {
		if len(img) != cifarImageBytes {
			t.Fatalf("image %d has %d bytes", i, len(img))
		}
		if labels[i] < 0 || labels[i] >= cifarClasses {
			t.Fatalf("label %d of image %d", labels[i], i)
		}
	}
}
