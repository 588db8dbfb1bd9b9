module confrobust/scripts/bench-gemm

go 1.26

require (
	confrobust v0.0.0
	gonum.org/v1/gonum v0.17.0
)

replace confrobust => ../..
