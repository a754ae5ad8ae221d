package main

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuf is a bytes.Buffer safe for the flush goroutine and the test.
type syncBuf struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	return s.b.Write(p)
}

func (s *syncBuf) get() (string, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String(), s.writes
}

func TestLogWriter(t *testing.T) {
	tests := []struct {
		name    string
		lines   int
		writers int
	}{
		{"one line", 1, 1},
		{"a burst coalesces", 200, 1},
		{"concurrent writers keep whole lines", 100, 4},
		{"over the size limit", 2000, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out syncBuf
			lw := newLogWriter(&out)
			var wg sync.WaitGroup
			for w := range tc.writers {
				wg.Go(func() {
					for i := range tc.lines {
						line := fmt.Sprintf("writer=%d line=%04d %s\n", w, i, strings.Repeat("x", 40))
						if n, err := lw.Write([]byte(line)); err != nil || n != len(line) {
							t.Errorf("write: %d, %v", n, err)
						}
					}
				})
			}
			wg.Wait()
			// Everything shows up within the flush delay, without Close.
			deadline := time.Now().Add(2 * time.Second)
			want := tc.lines * tc.writers
			var got string
			var writes int
			for time.Now().Before(deadline) {
				if got, writes = out.get(); strings.Count(got, "\n") == want {
					break
				}
				time.Sleep(logFlushDelay)
			}
			lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
			if len(lines) != want {
				t.Fatalf("%d lines reached the writer, want %d", len(lines), want)
			}
			next := map[string]int{} // each writer's lines in order, whole
			for _, l := range lines {
				var w, i int
				if _, err := fmt.Sscanf(l, "writer=%d line=%04d", &w, &i); err != nil || len(l) != len("writer=0 line=0000 ")+40 {
					t.Fatalf("torn line %q", l)
				}
				key := fmt.Sprint(w)
				if i != next[key] {
					t.Fatalf("writer %d: line %d after %d", w, i, next[key]-1)
				}
				next[key]++
			}
			if want > 100 && writes > want/10 {
				t.Errorf("%d lines took %d writes: not coalesced", want, writes)
			}
			if err := lw.Close(); err != nil {
				t.Fatal(err)
			}
			// After Close a line goes straight through.
			if _, err := lw.Write([]byte("after close\n")); err != nil {
				t.Fatal(err)
			}
			if got, _ := out.get(); !strings.HasSuffix(got, "after close\n") {
				t.Error("a write after Close was held back")
			}
			if err := lw.Close(); err != nil {
				t.Fatal("second close:", err)
			}
		})
	}
}

// Close flushes what the delay has not.
func TestLogWriterCloseFlushes(t *testing.T) {
	var out syncBuf
	lw := newLogWriter(&out)
	_, _ = lw.Write([]byte("first\n"))
	_, _ = lw.Write([]byte("second\n"))
	lw.Close()
	if got, _ := out.get(); got != "first\nsecond\n" {
		t.Fatalf("after Close the writer has %q", got)
	}
}

// countWriter counts what it is given.
type countWriter struct{ n, writes int }

func (c *countWriter) Write(p []byte) (int, error) { c.n += len(p); c.writes++; return len(p), nil }

func BenchmarkLogWriter(b *testing.B) {
	var out countWriter
	lw := newLogWriter(&out)
	defer lw.Close()
	line := []byte(`time=2026-11-23T13:40:08.937Z level=INFO msg="call routed" call_id=1-16091@127.0.0.1 from=201 to=9000` + "\n")
	b.ReportAllocs()
	for b.Loop() {
		_, _ = lw.Write(line)
	}
}
