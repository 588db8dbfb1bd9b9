package model_test

import (
	"confrobust/model"
	"confrobust/tfckpt"
	"fmt"
	"log"
	"os"
	"path/filepath"
)

func ExampleLoadModel() {
	dir, err := os.MkdirTemp("", "model")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	g := model.MNISTCNN(model.MNISTConfig{Conv1: 4, Conv2: 8, Hidden: 16})
	m, err := model.NewModel(g)
	if err != nil {
		log.Fatal(err)
	}
	m.InitRandom(1)
	prefix := filepath.Join(dir, "checkpoint-100")
	if err := m.Save(prefix); err != nil {
		log.Fatal(err)
	}
	if err := tfckpt.WriteCheckpointState(dir, prefix); err != nil {
		log.Fatal(err)
	}

	loaded, err := model.LoadModel(g, dir) // finds checkpoint-100 through the state file
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(loaded.Specs), loaded.Params["Variable_7"][0] == m.Params["Variable_7"][0])
	// Output: 8 true
}
