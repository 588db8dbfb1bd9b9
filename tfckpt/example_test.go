package tfckpt_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"confrobust/tfckpt"
)

func ExampleOpenBundle() {
	// TensorFlow Serving's "half plus three" model: y = a·x + b.
	b, err := tfckpt.OpenBundle("testdata/tfckpt/half_plus_three/variables")
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	for _, e := range b.Entries() {
		t, err := b.Tensor(e.Key)
		if err != nil {
			log.Fatal(err)
		}
		v, err := t.Float32s()
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(e.Key, e.DType, e.Shape, v)
	}
	// Output:
	// a float32 [] [0.5]
	// b float32 [] [3]
	// c float32 [] [3]
}

func ExampleCreateBundle() {
	dir, err := os.MkdirTemp("", "bundle")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	prefix := filepath.Join(dir, "checkpoint-1")

	w, err := tfckpt.CreateBundle(prefix)
	if err != nil {
		log.Fatal(err)
	}
	if err := w.AddFloat32("dense/kernel", []int{2, 3}, []float32{1, 2, 3, 4, 5, 6}); err != nil {
		log.Fatal(err)
	}
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}

	b, err := tfckpt.OpenBundle(prefix)
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	v := make([]float32, 6)
	if err := b.ReadFloat32(v, "dense/kernel"); err != nil {
		log.Fatal(err)
	}
	fmt.Println(v)
	// Output: [1 2 3 4 5 6]
}
