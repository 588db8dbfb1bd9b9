package dataset_test

import (
	"context"
	"fmt"
	"log"

	"confrobust/dataset"
)

func ExampleSample() {
	// 5 of the 10,000 test points, the same ones for the same seed.
	fmt.Println(dataset.Sample(5, 2018, 10000))
	// A longer sample from the same seed starts with the same points.
	fmt.Println(dataset.Sample(7, 2018, 10000))
	// Output:
	// [1983 8506 4806 4456 1401]
	// [1983 8506 4806 4456 1401 5816 9070]
}

func ExampleSampleCorrect() {
	// A set of 10 one-pixel images labelled 0–9, and a "model" that gets
	// the odd labels wrong.
	s := &dataset.Set{Name: "toy", Shape: dataset.Shape{1, 1, 1}, Classes: 10,
		Images: make([]float32, 10), Labels: []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}}
	for i := range s.Images {
		s.Images[i] = float32(i) / 255
	}
	classify := func(x []float32, n int) ([]int, error) {
		pred := make([]int, n)
		for k := range n {
			label := int(x[k]*255 + 0.5)
			pred[k] = label &^ 1 // odd labels become the even one below
		}
		return pred, nil
	}
	idx, err := dataset.SampleCorrect(context.Background(), s, 3, 7, classify, 4)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(idx, "all even:", idx[0]%2 == 0 && idx[1]%2 == 0 && idx[2]%2 == 0)
	fmt.Println("permutation:", dataset.Sample(10, 7, 10))
	// Output:
	// [2 0 4] all even: true
	// permutation: [2 5 3 9 0 4 8 1 7 6]
}

func ExampleMNIST() {
	test, err := dataset.MNIST(dataset.Test)
	if err != nil {
		log.Fatal(err) // says how to fetch the files
	}
	fmt.Println(test.Name, test.Len(), test.Shape, test.Labels[0])
}
