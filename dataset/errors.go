package dataset

import (
	"errors"
	"fmt"
)

// Sentinel errors a caller can test with errors.Is; the errors the loaders
// return wrap them with the file and the details.
var (
	// ErrFormat means a data file is malformed: bad magic number, truncated,
	// wrong record size, inconsistent counts, unsupported pickle content.
	ErrFormat = errors.New("dataset: malformed data file")
	// ErrChecksum means a data file's SHA-256 differs from the known one.
	ErrChecksum = errors.New("dataset: checksum mismatch")
	// ErrNotFound means the data are not on this machine; the message says
	// which command fetches them.
	ErrNotFound = errors.New("dataset: data not found")
)

// FormatError reports a malformed data file: the file, the byte offset where
// the problem was found and what was wrong. It wraps ErrFormat.
type FormatError struct {
	File   string // the file's path or name
	Offset int64  // byte offset in the file (in the decompressed stream for .gz files)
	Msg    string // what was expected and what was found
}

// Error implements error.
func (e *FormatError) Error() string {
	return fmt.Sprintf("dataset: %s: %s (at byte %d)", e.File, e.Msg, e.Offset)
}

// Unwrap returns ErrFormat.
func (e *FormatError) Unwrap() error { return ErrFormat }

func formatErr(file string, off int64, format string, a ...any) error {
	return &FormatError{File: file, Offset: off, Msg: fmt.Sprintf(format, a...)}
}
