// Package crosscheck holds only tests: it runs the same models, loaded from
// the same tensor bundle, on both executors (engine/native and engine/xla on
// GoMLX's pure-Go backend) and compares them. It lives outside both engines
// so that neither imports the other.
package crosscheck
