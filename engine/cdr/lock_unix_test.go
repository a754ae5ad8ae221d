//go:build unix

package cdr

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestLockFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cdr.db.lock")
	release, err := LockFiles(path)
	if err != nil {
		t.Fatal(err)
	}
	// A second PBX on the same files (flock is per open file, so a second
	// open in this process stands for it).
	if _, err := LockFiles(path); err == nil || !strings.Contains(err.Error(), "another luapbx") {
		t.Fatalf("second lock: %v, want held by another luapbx", err)
	}
	if err := release(); err != nil {
		t.Fatal(err)
	}
	again, err := LockFiles(path)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	if err := again(); err != nil {
		t.Fatal(err)
	}
}
