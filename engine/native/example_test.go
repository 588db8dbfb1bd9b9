package native_test

import (
	"fmt"
	"log"

	"confrobust/engine"
	"confrobust/engine/native"
	"confrobust/model"
)

// Example runs a small MNIST CNN with random weights: logits of a batch and
// the gradient of the cross-entropy with respect to the inputs.
func Example() {
	m, err := model.NewModel(model.MNISTCNN(model.MNISTConfig{Conv1: 4, Conv2: 8, Hidden: 16}))
	if err != nil {
		log.Fatal(err)
	}
	m.InitRandom(1)
	ex, err := native.New(m)
	if err != nil {
		log.Fatal(err)
	}
	defer ex.Close()

	const n = 2
	x := make([]float32, n*28*28) // two black images
	logits := make([]float32, n*10)
	if err := ex.Logits(logits, x, n); err != nil {
		log.Fatal(err)
	}
	dx := make([]float32, len(x))
	losses := make([]float32, n)
	if err := ex.InputGrad(dx, nil, losses, x, n, engine.CrossEntropy{Labels: []int{3, 7}}); err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(logits), len(dx), losses[0] > 0)
	// Output: 20 1568 true
}
