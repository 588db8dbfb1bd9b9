//go:build !openblas

package gemm

import "sync"

var defaultGo = sync.OnceValue(func() *Go { return NewGo(0) })

// Default returns the kernel the native engine should use: this build has no
// openblas tag, so it is a shared pure-Go kernel (NewGo(0)) running on
// GOMAXPROCS goroutines. It is safe for concurrent use.
func Default() Kernel { return defaultGo() }
