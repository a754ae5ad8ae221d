//go:build linux

package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// netnsEnv marks the re-executed test process that runs inside the new
// network namespace.
const netnsEnv = "LUAPBX_TEST_NETNS"

// Netns runs the calling test inside a network namespace of its own that
// holds only the loopback interface, so that programs which advertise "the
// machine's address" (baresip puts its primary interface's address in SDP)
// can only see 127.0.0.1.
//
// In the test process it re-executes the test binary for this test alone
// with CLONE_NEWNET, in its own process group, relays the child's output
// and verdict, and returns false: the caller returns at once. In the
// re-executed child it brings lo up and returns true: the caller runs the
// test. The child, and everything it started, is killed after timeout.
//
// It needs root (CAP_SYS_ADMIN): without it the test is skipped, or fails
// when the CI variable is set.
func Netns(t *testing.T, timeout time.Duration) bool {
	t.Helper()
	if os.Getenv(netnsEnv) == "1" {
		if err := loopbackUp(); err != nil {
			t.Fatalf("netns: bring lo up: %v", err)
		}
		if bin := os.Getenv(BinaryEnv); bin != "" {
			buildOnce.Do(func() { binPath = bin })
		}
		return true
	}
	if os.Geteuid() != 0 {
		SkipOrFail(t, fmt.Sprintf("%s needs root to create a network namespace (running as uid %d)", t.Name(), os.Geteuid()))
	}
	bin := os.Getenv(BinaryEnv)
	if bin == "" {
		bin = Binary(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run="+runPattern(t.Name()),
		// The child's own timeout comes first: its panic shows where it hung.
		"-test.v", "-test.count=1", "-test.timeout="+(timeout*9/10).String())
	cmd.Env = append(os.Environ(), netnsEnv+"=1", BinaryEnv+"="+bin)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Start()
	if err != nil {
		if errors.Is(err, syscall.EPERM) {
			SkipOrFail(t, fmt.Sprintf("%s: cannot create a network namespace: %v", t.Name(), err))
		}
		t.Fatalf("netns: start %s: %v", os.Args[0], err)
	}
	pgid := cmd.Process.Pid
	err = cmd.Wait()
	// Whatever the child left behind (it may have died on its own timeout
	// before its cleanups ran) goes with its process group.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	t.Logf("in a new network namespace:\n%s", indent(out.String()))
	switch {
	case ctx.Err() != nil:
		t.Fatalf("netns: %s did not finish within %s: killed", t.Name(), timeout)
	case err != nil:
		t.Fatalf("netns: %s failed in its network namespace: %v", t.Name(), err)
	case strings.Contains(out.String(), "--- SKIP: "+t.Name()):
		t.Skip("skipped in the network namespace (see its output)")
	case !strings.Contains(out.String(), "--- PASS: "+t.Name()):
		t.Fatalf("netns: %s passed no test in its network namespace (wrong -test.run pattern?)", t.Name())
	}
	return false
}

// killWithParent has cmd killed when the test process dies, so that a
// test binary killed on timeout leaves no phone running.
func killWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// runPattern is a -test.run pattern matching exactly the test name (and
// subtest path) given.
func runPattern(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ")
}

// loopbackUp sets IFF_UP on lo, like `ip link set lo up`, without needing
// iproute2.
func loopbackUp() error {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	defer syscall.Close(fd)
	var ifr struct {
		name  [syscall.IFNAMSIZ]byte
		flags uint16
		_     [22]byte
	}
	copy(ifr.name[:], "lo")
	if err := ioctl(fd, syscall.SIOCGIFFLAGS, unsafe.Pointer(&ifr)); err != nil {
		return fmt.Errorf("SIOCGIFFLAGS: %w", err)
	}
	ifr.flags |= syscall.IFF_UP | syscall.IFF_RUNNING
	if err := ioctl(fd, syscall.SIOCSIFFLAGS, unsafe.Pointer(&ifr)); err != nil {
		return fmt.Errorf("SIOCSIFFLAGS: %w", err)
	}
	return nil
}

func ioctl(fd int, req uintptr, arg unsafe.Pointer) error {
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), req, uintptr(arg)); errno != 0 {
		return errno
	}
	return nil
}
