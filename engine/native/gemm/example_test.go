package gemm_test

import (
	"fmt"

	"confrobust/engine/native/gemm"
)

// C = A·Bᵀ for a 2×3 A and a B stored 2×3 (so op(B) is 3×2).
func ExampleKernel() {
	a := []float32{
		1, 2, 3,
		4, 5, 6,
	}
	b := []float32{
		1, 0, 1,
		0, 1, 0,
	}
	c := make([]float32, 2*2)
	k := gemm.NewGo(1)
	k.Sgemm(false, true, 2, 2, 3, 1, a, 3, b, 3, 0, c, 2)
	fmt.Println(c)
	// Output: [4 2 10 5]
}
