package tfmodel_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"confrobust/tfmodel"
)

func ExampleOpenBundle() {
	// TensorFlow Serving's "half plus three" model: y = a·x + b.
	b, err := tfmodel.OpenBundle("testdata/tfckpt/half_plus_three/variables")
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

	w, err := tfmodel.CreateBundle(prefix)
	if err != nil {
		log.Fatal(err)
	}
	if err := w.AddFloat32("dense/kernel", []int{2, 3}, []float32{1, 2, 3, 4, 5, 6}); err != nil {
		log.Fatal(err)
	}
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}

	b, err := tfmodel.OpenBundle(prefix)
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

func ExampleLoadModel() {
	dir, err := os.MkdirTemp("", "model")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	g := tfmodel.MNISTCNN(tfmodel.MNISTConfig{Conv1: 4, Conv2: 8, Hidden: 16})
	m, err := tfmodel.NewModel(g)
	if err != nil {
		log.Fatal(err)
	}
	m.InitRandom(1)
	prefix := filepath.Join(dir, "checkpoint-100")
	if err := m.Save(prefix); err != nil {
		log.Fatal(err)
	}
	if err := tfmodel.WriteCheckpointState(dir, prefix); err != nil {
		log.Fatal(err)
	}

	loaded, err := tfmodel.LoadModel(g, dir) // finds checkpoint-100 through the state file
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(loaded.Specs), loaded.Params["Variable_7"][0] == m.Params["Variable_7"][0])
	// Output: 8 true
}
