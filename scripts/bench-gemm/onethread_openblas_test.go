//go:build openblas

package benchgemm

import "confrobust/engine/native/gemm"

func setOneThread() { gemm.SetOpenBLASThreads(1) }
