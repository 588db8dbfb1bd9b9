package main

import (
	"io"

	"confrobust/tfmodel"
)

// inspect lists a checkpoint's tensors (key, dtype, shape, size, checksum,
// first values) or, with a tensor name, prints all of that tensor's values.
func inspect(w io.Writer, path, tensor string) error {
	b, err := tfmodel.OpenCheckpoint(path)
	if err != nil {
		return err
	}
	defer b.Close()
	opt := tfmodel.InspectOptions{Verify: true, Values: 3}
	if tensor != "" {
		opt = tfmodel.InspectOptions{Keys: []string{tensor}, Values: -1, Verify: true}
	}
	return tfmodel.Inspect(w, b, opt)
}
