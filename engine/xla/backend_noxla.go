//go:build !xla

package xla

// xlaLinked reports whether GoMLX's XLA backend is linked in (build tag xla).
const xlaLinked = false
