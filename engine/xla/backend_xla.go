//go:build cgo && !noxla

package xla

import _ "github.com/gomlx/gomlx/backends/xla" // XLA/PJRT through cgo; plugins are loaded with dlopen

// xlaLinked reports whether GoMLX's XLA backend is linked in: wherever cgo
// is enabled, unless the build tag noxla leaves it out.
const xlaLinked = true
