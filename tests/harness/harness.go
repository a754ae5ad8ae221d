// Package harness runs the real luapbx binary for end-to-end tests: it
// builds it once, starts `luapbx serve` on 127.0.0.1 with free ports, reads
// the addresses it bound, and stops it at the end of the test.
package harness

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary builds cmd/luapbx once per test process (with -race when the tests
// run with it) and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "luapbx-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "luapbx")
		args := []string{"build", "-o", binPath}
		if raceEnabled {
			args = append(args, "-race")
		}
		args = append(args, "./cmd/luapbx")
		cmd := exec.Command("go", args...)
		cmd.Dir = RepoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// RepoRoot is the module root (the folder holding go.mod).
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Run runs the binary to completion and returns its exit code, stdout and
// stderr.
func Run(t testing.TB, dir string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, Binary(t), args...)
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code = cmd.ProcessState.ExitCode()
	if err != nil && code < 0 {
		t.Fatalf("luapbx %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return code, out.String(), errb.String()
}

// Server is a running `luapbx serve`.
type Server struct {
	cmd  *exec.Cmd
	done chan struct{}

	mu   sync.Mutex
	logs bytes.Buffer

	// Addresses it bound: "udp" and "tcp" SIP listeners, and the admin API.
	SIP  map[string]string
	HTTP string
}

var readyLine = regexp.MustCompile(`luapbx ready.*listening="([^"]*)"`)

// Start runs `luapbx serve --config configPath` from dir and waits until it
// is ready. It is stopped (SIGTERM) when the test ends.
func Start(t testing.TB, dir, configPath string, extra ...string) *Server {
	t.Helper()
	args := append([]string{"serve", "--config", configPath}, extra...)
	cmd := exec.Command(Binary(t), args...)
	cmd.Dir = dir
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &Server{cmd: cmd, done: make(chan struct{}), SIP: map[string]string{}}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			line := sc.Text()
			s.mu.Lock()
			s.logs.WriteString(line + "\n")
			s.mu.Unlock()
			if m := readyLine.FindStringSubmatch(line); m != nil {
				select {
				case ready <- m[1]:
				default:
				}
			}
		}
	}()
	go func() { _ = cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		s.Stop(t)
		if t.Failed() {
			t.Logf("luapbx serve logs:\n%s", s.Logs())
		}
	})
	select {
	case l := <-ready:
		s.parseListening(l)
	case <-s.done:
		t.Fatalf("luapbx serve exited before it was ready:\n%s", s.Logs())
	case <-time.After(30 * time.Second):
		t.Fatalf("luapbx serve not ready after 30s:\n%s", s.Logs())
	}
	return s
}

// parseListening reads "sip=udp:127.0.0.1:5060,tcp:127.0.0.1:5060 http=127.0.0.1:8080".
func (s *Server) parseListening(l string) {
	for _, field := range strings.Fields(l) {
		k, v, _ := strings.Cut(field, "=")
		switch k {
		case "http":
			s.HTTP = v
		case "sip":
			for _, a := range strings.Split(v, ",") {
				if proto, addr, ok := strings.Cut(a, ":"); ok {
					s.SIP[proto] = addr
				}
			}
		}
	}
}

// Logs returns what the server logged so far.
func (s *Server) Logs() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logs.String()
}

// WaitLog waits until the logs contain substr.
func (s *Server) WaitLog(t testing.TB, substr string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if strings.Contains(s.Logs(), substr) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no %q in the logs after %s:\n%s", substr, timeout, s.Logs())
}

// Signal sends sig to the server.
func (s *Server) Signal(t testing.TB, sig os.Signal) {
	if err := s.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// Stop sends SIGTERM and waits (killing after 10 s). It returns the exit code.
func (s *Server) Stop(t testing.TB) int {
	select {
	case <-s.done:
		return s.cmd.ProcessState.ExitCode()
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
		t.Errorf("luapbx serve did not stop within 10s of SIGTERM")
	}
	return s.cmd.ProcessState.ExitCode()
}

// Exited reports whether the process has ended.
func (s *Server) Exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// WriteFile writes a file under dir, creating folders.
func WriteFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	// Write to a temp file and rename, like editors do, so a watcher never
	// sees a half-written file.
	tmp := p + ".tmp~"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
	return p
}
