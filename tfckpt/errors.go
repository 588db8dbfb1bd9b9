package tfckpt

import (
	"errors"
	"fmt"
)

// Errors a caller can test with errors.Is. Errors about a bundle wrap one of
// them, usually inside a *FormatError.
var (
	// ErrFormat means a file is not a valid tensor bundle.
	ErrFormat = errors.New("tfckpt: not a valid tensor bundle")
	// ErrChecksum means a tensor's or a block's stored CRC-32C does not match
	// its bytes.
	ErrChecksum = errors.New("tfckpt: checksum mismatch")
	// ErrDType means a tensor's dtype is unknown, or is not the one asked for.
	ErrDType = errors.New("tfckpt: unexpected dtype")
	// ErrNotFound means the bundle has no tensor of the given key.
	ErrNotFound = errors.New("tfckpt: tensor not found")
)

// FormatError describes a problem with one place of a bundle's files. Err is
// ErrFormat, ErrChecksum or ErrDType.
type FormatError struct {
	File   string // the .index file or the data shard
	Key    string // the tensor's key; "" for the header or the whole file
	Offset int64  // byte offset in File, or -1 when not known
	Msg    string // what is wrong
	Want   string // what was expected, if anything
	Got    string // what was found, if anything
	Err    error
}

// Error returns a message naming the file, the tensor, the offset and the
// expected and found values.
func (e *FormatError) Error() string {
	s := "tfckpt: " + e.File
	if e.Key != "" {
		s += fmt.Sprintf(": tensor %q", e.Key)
	}
	if e.Offset >= 0 {
		s += fmt.Sprintf(": at byte %d", e.Offset)
	}
	s += ": " + e.Msg
	if e.Want != "" || e.Got != "" {
		s += fmt.Sprintf(" (want %s, got %s)", e.Want, e.Got)
	}
	return s
}

// Unwrap returns the sentinel error the FormatError belongs to.
func (e *FormatError) Unwrap() error { return e.Err }
