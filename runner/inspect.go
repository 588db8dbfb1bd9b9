package main

import (
	"io"

	"confrobust/tfckpt"
)

// inspect lists a checkpoint's tensors (key, dtype, shape, size, checksum,
// first values) or, with a tensor name, prints all of that tensor's values.
func inspect(w io.Writer, path, tensor string) error {
	b, err := tfckpt.OpenCheckpoint(path)
	if err != nil {
		return err
	}
	defer b.Close()
	opt := tfckpt.InspectOptions{Verify: true, Values: 3}
	if tensor != "" {
		opt = tfckpt.InspectOptions{Keys: []string{tensor}, Values: -1, Verify: true}
	}
	return tfckpt.Inspect(w, b, opt)
}
