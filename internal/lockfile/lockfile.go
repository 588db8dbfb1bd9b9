// Package lockfile keeps two processes from running the same work in the
// same directory at once. Acquire takes an exclusive advisory lock (flock)
// on a file and writes the owner's pid, host and start time into it; the
// lock goes with the process, so a process killed by SIGKILL or a power
// cut leaves no stale lock behind, and a second process is refused with a
// message naming the owner.
//
//	release, err := lockfile.Acquire("results/run/journal/.lock-0-of-1")
//	if err != nil { ... } // "... is in use by pid 4242 on host gpu1 since ..."
//	defer release()
//
// flock works on local file systems; on some network file systems it is
// not enforced across machines (see flock(2)).
package lockfile

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// ErrLocked is wrapped by Acquire's error when another process holds the lock.
var ErrLocked = errors.New("lockfile: locked by another process")

// Acquire locks the file at path (creating it), or returns an error
// wrapping ErrLocked that names the process holding it. release unlocks.
func Acquire(path string) (release func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lockfile: %w", err)
	}
	if err := lock(f); err != nil {
		owner, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, errWouldBlock) {
			who := strings.TrimSpace(string(owner))
			if who == "" {
				who = "another process"
			}
			return nil, fmt.Errorf("%w: %s is in use by %s", ErrLocked, path, who)
		}
		return nil, fmt.Errorf("lockfile: lock %s: %w", path, err)
	}
	host, _ := os.Hostname()
	f.Truncate(0)
	fmt.Fprintf(f, "pid %d on host %s since %s\n", os.Getpid(), host, time.Now().UTC().Format(time.RFC3339))
	f.Sync()
	return func() {
		f.Truncate(0)
		unlock(f)
		f.Close()
	}, nil
}
