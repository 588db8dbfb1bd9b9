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
	// A whole PGD search on the device: 4 sign steps of 0.02 in the box
	// [x − 0.1, x + 0.1] ∩ [0, 1], keeping the most confident wrong point.
	labels := []int{3, 4}
	lo, hi := make([]float32, len(x)), make([]float32, len(x))
	for i, v := range x {
		lo[i], hi[i] = max(v-0.1, 0), min(v+0.1, 1)
	}
	var res engine.SearchResult
	err = e.Search(context.Background(), &res, &engine.Search{N: n, Lo: lo, Hi: hi, Start: x, Steps: 4,
		Step: []float32{0.02, 0.02}, Loss: engine.CrossEntropy{Labels: labels},
		Keep: engine.Keep{Criterion: engine.ConfidentWrong{Labels: labels}}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(res.X) == len(x), len(res.Time))
	// Output:
	// fp32 true
	// true 2
}
