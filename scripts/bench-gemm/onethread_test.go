//go:build !openblas

package benchgemm

func setOneThread() {}
