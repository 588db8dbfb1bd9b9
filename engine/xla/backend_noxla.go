//go:build !cgo || noxla

package xla

// xlaLinked reports whether GoMLX's XLA backend is linked in: not in builds
// without cgo or with the build tag noxla.
const xlaLinked = false
