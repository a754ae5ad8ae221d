package harness

import (
	"os"
	"testing"
)

// BinaryEnv names a luapbx binary for the tests that run under Netns to
// use instead of building one: Netns hands the parent's build to the
// re-executed child with it, and a person can set it to run those tests
// against a given build.
const BinaryEnv = "LUAPBX_TEST_BINARY"

// SkipOrFail skips the test with msg, or fails it when the CI variable is
// set (CI installs every tool the end-to-end tests drive).
func SkipOrFail(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatal(msg + " (CI is set: required)")
	}
	t.Skip(msg)
}
