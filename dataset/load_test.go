package dataset

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseSplit(t *testing.T) {
	tests := []struct {
		in      string
		want    Split
		wantErr bool
	}{
		{"train", Train, false},
		{"TEST", Test, false},
		{"Test", Test, false},
		{"validation", 0, true},
		{"", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseSplit(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseSplit(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "test_batch.bin"), cifarBinaryBatch(0, []int{4, 2}), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"cifar10", "CIFAR-10"} {
		s, err := Load(name, dir, Test)
		if err != nil || s.Len() != 2 || s.Labels[0] != 4 {
			t.Errorf("Load(%q): %v, %v", name, s, err)
		}
	}
	if _, err := Load("mnist", dir, Test); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "t10k-images-idx3-ubyte.gz") {
		t.Errorf("Load(mnist, dir without MNIST): %v, want ErrNotFound", err)
	}
	if _, err := Load("imagenet", dir, Test); err == nil || !strings.Contains(err.Error(), "unknown data set") {
		t.Errorf("Load(imagenet): %v", err)
	}
}
