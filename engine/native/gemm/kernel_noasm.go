//go:build noasm || !amd64

package gemm

// asmKernels returns no kernels: this build has no assembly.
func asmKernels() []*microKernel { return nil }

// transposers returns no block transposes: this build has no assembly.
func transposers() []transposer { return nil }
