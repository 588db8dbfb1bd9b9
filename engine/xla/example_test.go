package xla_test

import (
	"context"
	"fmt"
	"log"

	"confrobust/engine"
	"confrobust/engine/xla"
	"confrobust/model"
)

// Example runs a small MNIST CNN on GoMLX's pure-Go backend: logits, an
// input gradient and a compiled PGD attack.
func Example() {
	m, err := model.NewModel(model.MNISTCNN(model.MNISTConfig{Conv1: 2, Conv2: 2, Hidden: 4}))
	if err != nil {
		log.Fatal(err)
	}
	m.InitRandom(1)
	e, err := xla.New(m, xla.WithBackend("go"))
	if err != nil {
		log.Fatal(err)
	}
	defer e.Close()
	fmt.Println(e.Precision(), e.Ops() == xla.OpsPortable)

	const n = 2
	x := make([]float32, n*28*28)
	for i := range x {
		x[i] = float32(i%28) / 28
	}
	logits, dx := make([]float32, n*10), make([]float32, len(x))
	if err := e.InputGrad(dx, logits, nil, x, n, engine.CrossEntropy{Labels: []int{3, 4}}); err != nil {
		log.Fatal(err)
	}
	var res xla.PGDResult
	cfg := xla.PGDConfig{Loss: engine.CrossEntropy{Labels: []int{3, 4}}, Labels: []int{3, 4},
		Eps: 0.1, StepSize: 0.02, Steps: 4, Unroll: 2}
	if err := e.PGD(context.Background(), &res, x, x, n, cfg); err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(res.Best) == len(x), len(res.BestLabel))
	// Output:
	// fp32 true
	// true 2
}
