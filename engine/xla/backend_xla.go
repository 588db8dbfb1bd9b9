//go:build xla

package xla

import _ "github.com/gomlx/gomlx/backends/xla" // XLA/PJRT through cgo

// xlaLinked reports whether GoMLX's XLA backend is linked in (build tag xla).
const xlaLinked = true
