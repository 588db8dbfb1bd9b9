package dataset

import (
	"fmt"
	"strings"
)

// ParseSplit returns the split named "train" or "test" (any case).
func ParseSplit(name string) (Split, error) {
	switch strings.ToLower(name) {
	case "train":
		return Train, nil
	case "test":
		return Test, nil
	}
	return 0, fmt.Errorf("dataset: unknown split %q, want train or test", name)
}

// Load returns the split of the data set a configuration names: "mnist"
// (MNIST; dir, if not empty, is used instead of CONFROBUST_MNIST_DIR and the
// module cache) or "cifar10" (CIFAR10; an empty dir means
// DefaultCIFAR10Dir). Names are case-insensitive; "cifar-10" is accepted.
func Load(name, dir string, split Split) (*Set, error) {
	switch strings.ToLower(name) {
	case "mnist":
		if dir != "" {
			return MNISTFrom(dir, split)
		}
		return MNIST(split)
	case "cifar10", "cifar-10":
		return CIFAR10(dir, split)
	}
	return nil, fmt.Errorf("dataset: unknown data set %q, want mnist or cifar10", name)
}
