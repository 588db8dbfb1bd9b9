// Package tfckpt reads and writes TensorFlow checkpoints (V2 tensor bundles)
// in pure Go, with no TensorFlow library. It knows the file format only;
// package model binds Madry et al.'s architectures to checkpoint variables.
//
// Open the bundle a checkpoint path names (a prefix, its .index file, or a
// directory whose "checkpoint" state file names one, see CheckpointPrefix),
// read one tensor, or list them:
//
//	b, err := tfckpt.OpenCheckpoint("models/adv_trained")
//	if err != nil { ... }
//	defer b.Close()
//	t, err := b.Tensor("logit/biases")
//	v, err := t.Float32s()
//	for _, e := range b.Entries() {
//		fmt.Println(e.Key, e.DType, e.Shape)
//	}
//
// Write one:
//
//	w, err := tfckpt.CreateBundle("out/checkpoint-1")
//	if err != nil { ... }
//	err = w.AddFloat32("logit/biases", []int{10}, biases)
//	err = w.Close() // the files appear only now, synced to disk
//
// OpenBundle reads the whole index and no tensor data; tensors are read, and
// their CRC-32C checked, when asked for. The writer produces what
// TensorFlow's BundleWriter does, byte for byte: one data shard and an
// uncompressed index. The reader also reads Snappy-compressed indexes,
// several shards, big-endian bundles and every numeric and string dtype; it
// lists partitioned variables but does not read them. Inspect, and the
// inspect-checkpoint command built on it, describe a bundle.
//
// A Bundle is safe for concurrent reads. A BundleWriter is not safe for
// concurrent use.
//
// # Errors
//
// Errors about a malformed bundle wrap ErrFormat, ErrChecksum or ErrDType,
// most inside a *FormatError that names the file, the tensor, the byte
// offset and what was expected and found; a missing tensor wraps
// ErrNotFound. Malformed input never panics, and the reader checks every
// size a file claims against the file before allocating it.
package tfckpt
