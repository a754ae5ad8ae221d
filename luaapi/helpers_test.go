package luaapi

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"luapbx/engine/routing"
)

// writeScripts writes name -> source files into a fresh folder.
func writeScripts(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// load builds a Program from files and closes it when the test ends.
// Tests that are not about budgets run with testTimeout: on a loaded 2-core
// machine under -race a trivial hook can miss 50 ms of wall clock.
// Benchmarks keep the default.
func load(t testing.TB, files map[string]string, opts Options) *Program {
	t.Helper()
	if _, ok := t.(*testing.T); ok && opts.Timeout == 0 {
		opts.Timeout = testTimeout
	}
	p, err := Load(writeScripts(t, files), opts)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	t.Cleanup(p.Close)
	return p
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func bufLogger() (*slog.Logger, *syncBuffer) {
	b := &syncBuffer{}
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

const testTimeout = 2 * time.Second

var testTime = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// testCall is an external call to a DID with a header.
func testCall() *routing.Call {
	return &routing.Call{
		ID: "c1", Company: "acme", CallerType: routing.External, From: "393351234567",
		To: "0733811720", DID: "0733811720", Trunk: "p1", Time: testTime,
		Header: func(name string) string {
			if name == "X-Customer" {
				return "gold"
			}
			return ""
		},
	}
}

func testDecision() *routing.Decision {
	return &routing.Decision{
		Target: routing.Target{Kind: routing.TargetUser, Arg: "201"}, Number: "201", Rule: "did-root",
		Record: true, Integration: true,
		Score: routing.Score{Called: routing.Specificity{Len: 9, Literals: 9}, TimeBand: 1},
	}
}
