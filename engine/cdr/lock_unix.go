//go:build unix

package cdr

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// LockFiles takes an exclusive lock on path (created if missing) for the
// life of the process or until release: the journal, interrupted and
// spill files named after one base belong to one PBX, and a second one
// started on the same base (another config in the same folder, the same
// PostgreSQL) would take over the first one's live journal at its start.
// The kernel drops the lock when the process dies, however it dies.
func LockFiles(path string) (release func() error, err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("cdr: lock %s: %w", path, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("cdr: %s is held by another luapbx running on the same call record files: "+
				"give each its own working directory (or SQLite file)", path)
		}
		return nil, fmt.Errorf("cdr: lock %s: %w", path, err)
	}
	return f.Close, nil
}
