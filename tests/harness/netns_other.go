//go:build !linux

package harness

import (
	"os/exec"
	"testing"
	"time"
)

// Netns needs Linux network namespaces: elsewhere the test is skipped (or
// fails when the CI variable is set).
func Netns(t *testing.T, _ time.Duration) bool {
	t.Helper()
	SkipOrFail(t, "network namespaces need Linux")
	return false
}

func killWithParent(*exec.Cmd) {}
