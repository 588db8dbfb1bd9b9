// Package openblas calls OpenBLAS through cgo for package gemm, in builds
// with the openblas tag (without it the package is empty). It is separate
// from gemm because a package that uses cgo cannot also hold Go assembly.
// Callers check arguments first: these functions pass them on unchecked.
package openblas
