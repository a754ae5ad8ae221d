package main

import (
	"io"
	"sync"
	"time"
)

// logFlushDelay bounds how long a log line waits in memory.
const logFlushDelay = 10 * time.Millisecond

// logFlushSize flushes at once a buffer this large.
const logFlushSize = 64 << 10

// logWriter coalesces the serve command's log output: a line goes to
// memory and reaches the real writer within logFlushDelay, together with
// the lines written meanwhile. Under load each call logs a few lines; one
// write(2) per line was ~30 µs of CPU per call on a PVM guest (a syscall
// there costs ~1 µs, and a log file in a watched directory also wakes the
// config watcher once per write). The price: lines show up to 10 ms late,
// and a hard crash (SIGKILL) loses the last 10 ms; Close flushes.
type logWriter struct {
	w io.Writer

	flushMu sync.Mutex // one write to w at a time, in order

	mu     sync.Mutex
	buf    []byte
	spare  []byte
	armed  bool // a flush is scheduled
	closed bool // writes go straight through
}

func newLogWriter(w io.Writer) *logWriter { return &logWriter{w: w} }

// Write buffers p (it never fails) unless the writer is closed.
func (l *logWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		l.flushMu.Lock()
		defer l.flushMu.Unlock()
		return l.w.Write(p)
	}
	l.buf = append(l.buf, p...)
	full := len(l.buf) >= logFlushSize
	arm := !full && !l.armed
	if arm {
		l.armed = true
	}
	l.mu.Unlock()
	switch {
	case full:
		l.flush()
	case arm:
		time.AfterFunc(logFlushDelay, l.flush)
	}
	return len(p), nil
}

// flush writes what is buffered.
func (l *logWriter) flush() {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	l.mu.Lock()
	out := l.buf
	l.buf, l.spare = l.spare[:0], nil
	l.armed = false
	l.mu.Unlock()
	if len(out) > 0 {
		_, _ = l.w.Write(out)
	}
	l.mu.Lock()
	if l.spare == nil && cap(out) <= 4*logFlushSize {
		l.spare = out[:0]
	}
	l.mu.Unlock()
}

// Close flushes and makes later writes go straight through; safe twice.
func (l *logWriter) Close() error {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	l.flush()
	return nil
}
