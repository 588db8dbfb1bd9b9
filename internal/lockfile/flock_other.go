//go:build !unix

package lockfile

import (
	"errors"
	"os"
)

// On systems without flock the lock is not taken: Acquire only records the
// owner.
var errWouldBlock = errors.New("would block")

func lock(*os.File) error { return nil }
func unlock(*os.File)     {}
