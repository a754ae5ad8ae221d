//go:build !unix

package cdr

// LockFiles does nothing where flock is missing.
func LockFiles(path string) (release func() error, err error) {
	return func() error { return nil }, nil
}
