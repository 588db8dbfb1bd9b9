// Package atomicfile writes files so that a reader, and a crash or power cut
// at any moment, sees either the old file or the whole new one, never a part:
// the bytes go to a temporary file beside the final one, which is synced,
// renamed over the final name, and the directory synced, so that the rename
// itself survives a power cut.
//
// Every file the harness writes and may read back later (journals, results,
// plots, tensor bundles, training checkpoints, model cards) goes through this
// package:
//
//	err := atomicfile.Write("results/run/results.json", data)
//
// or, for a file written piece by piece:
//
//	f, err := atomicfile.Create("out/model.data-00000-of-00001")
//	if err != nil { ... }
//	_, err = f.Write(chunk) // as often as needed
//	if err != nil { f.Abort(); ... }
//	err = f.Commit() // the file appears only now
//
// Files are created with mode 0644. A File is not safe for concurrent use.
package atomicfile

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
)

// File is a file being written under a temporary name; Commit puts it in
// place, Abort discards it.
type File struct {
	path string
	tmp  *os.File
	buf  *bufio.Writer
	n    int64
	err  error // sticky
	done bool
}

// Create starts writing the file at path. Its directory must exist.
func Create(path string) (*File, error) {
	dir, base := filepath.Split(path)
	if base == "" {
		return nil, fmt.Errorf("atomicfile: %q names a directory", path)
	}
	if dir == "" {
		dir = "."
	}
	// The temporary file lies beside the final one, never in os.TempDir, so
	// that the rename cannot cross file systems. Names starting with "." are
	// skipped by the harness's directory listings.
	tmp, err := os.CreateTemp(dir, "."+base+".tmp*")
	if err != nil {
		return nil, fmt.Errorf("atomicfile: %w", err)
	}
	return &File{path: path, tmp: tmp, buf: bufio.NewWriterSize(tmp, 1<<20)}, nil
}

// Name returns the final path of the file.
func (f *File) Name() string { return f.path }

// Write appends p to the file. Errors are sticky: after one, every later
// Write and Commit return it.
func (f *File) Write(p []byte) (int, error) {
	if f.err != nil {
		return 0, f.err
	}
	if f.done {
		return 0, errClosed
	}
	if limit := faultLimit.Load(); limit > 0 {
		if written.Add(int64(len(p))) > limit {
			f.err = fmt.Errorf("atomicfile: write %s: %w", f.path, errInjected)
			return 0, f.err
		}
	}
	n, err := f.buf.Write(p)
	f.n += int64(n)
	if err != nil {
		f.err = fmt.Errorf("atomicfile: write %s: %w", f.path, err)
	}
	return n, f.err
}

var errClosed = errors.New("atomicfile: file already committed or aborted")

// Commit flushes and syncs the file, renames it to its final name and
// syncs the directory. After an error nothing has replaced the final name
// and the temporary file is removed.
func (f *File) Commit() error {
	if f.done {
		return errClosed
	}
	f.done = true
	err := f.err
	if err == nil {
		if err = f.buf.Flush(); err != nil {
			err = fmt.Errorf("atomicfile: write %s: %w", f.path, err)
		}
	}
	if err == nil {
		if err = f.tmp.Sync(); err != nil {
			err = fmt.Errorf("atomicfile: sync %s: %w", f.path, err)
		}
	}
	if cerr := f.tmp.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("atomicfile: close %s: %w", f.path, cerr)
	}
	// Temporary files are created 0600; what the harness writes is as
	// readable as any file.
	if err == nil {
		err = os.Chmod(f.tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.tmp.Name(), f.path)
	}
	if err != nil {
		os.Remove(f.tmp.Name())
		return err
	}
	return SyncDir(filepath.Dir(f.path))
}

// Abort discards the file; the final name is left as it was. It may be
// called after Commit, which it then leaves alone.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.tmp.Close()
	os.Remove(f.tmp.Name())
}

// Write writes data to path atomically and durably (see the package doc).
func Write(path string, data []byte) error {
	f, err := Create(path)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Abort()
		return err
	}
	return f.Commit()
}

// SyncDir syncs the directory dir, so that the names created or renamed in
// it survive a power cut. File systems that cannot sync a directory
// (EINVAL, ENOTSUP) are not an error.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("atomicfile: sync directory: %w", err)
	}
	err = d.Sync()
	d.Close()
	if err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOTSUP) {
		return fmt.Errorf("atomicfile: sync directory %s: %w", dir, err)
	}
	return nil
}

// Fault injection for tests of what a full disk does to the callers.
var (
	faultLimit  atomic.Int64
	written     atomic.Int64
	errInjected = fmt.Errorf("%w (injected by atomicfile.FailAfter)", syscall.ENOSPC)
)

// FailAfter makes every Write of this process fail with an error wrapping
// syscall.ENOSPC once n more bytes have been written through the package, as
// a full disk would, until the returned function is called. It is meant for
// tests of callers; n ≤ 0 turns the fault off.
func FailAfter(n int64) (restore func()) {
	written.Store(0)
	faultLimit.Store(n)
	return func() { faultLimit.Store(0); written.Store(0) }
}
