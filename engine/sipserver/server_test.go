package sipserver

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

func start(t *testing.T, opts ...Option) (*Server, string) {
	t.Helper()
	s, err := New(slog.New(slog.NewTextHandler(io.Discard, nil)), opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen("udp:127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if err := s.Listen("tcp:127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	<-s.Ready()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("second close: %v", err)
		}
	})
	return s, s.Addr("udp")
}

func options(addr string, branch string) string {
	return "OPTIONS sip:pbx@" + addr + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK" + branch + ";rport\r\n" +
		"From: <sip:probe@127.0.0.1>;tag=1\r\nTo: <sip:pbx@" + addr + ">\r\n" +
		"Call-ID: " + branch + "\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
}

// exchange sends raw datagrams and returns the first answer (or "").
func exchange(t *testing.T, addr string, msgs ...string) string {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, m := range msgs {
		if _, err := c.Write([]byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	_ = c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	buf := make([]byte, 65536)
	n, err := c.Read(buf)
	if err != nil {
		return ""
	}
	return string(buf[:n])
}

func TestOptionsAnswered(t *testing.T) {
	_, addr := start(t)
	got := exchange(t, addr, options(addr, "opt1"))
	if !strings.HasPrefix(got, "SIP/2.0 200") || !strings.Contains(got, "INVITE") {
		t.Fatalf("OPTIONS answer: %q", got)
	}
}

func TestMalformedNeverCrashes(t *testing.T) {
	_, addr := start(t)
	bad := []string{
		"garbage\r\n\r\n",
		"INVITE sip:x SIP/2.0\r\nVia: broken\r\n\r\n",
		"INVITE  SIP/2.0\r\nContent-Length: 99999\r\n\r\nabc",
		"\x00\x01\x02\xff",
		"SIP/2.0 200 OK\r\nCSeq: nope\r\n\r\n",
		"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\nContent-Length: -5\r\n\r\n",
		"BYE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bKb\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:b@b>\r\nCall-ID: nocall\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n",
	}
	for _, m := range bad {
		exchange(t, addr, m)
	}
	// Still alive: a good request after the bad ones is answered.
	if got := exchange(t, addr, options(addr, "after")); !strings.HasPrefix(got, "SIP/2.0 200") {
		t.Fatalf("server stopped answering after malformed input: %q", got)
	}
}

func TestMessageSizeLimit(t *testing.T) {
	tests := []struct {
		name   string
		pad    int
		answer bool
	}{
		{name: "under the limit", pad: 100, answer: true},
		{name: "over the limit dropped", pad: 3000, answer: false},
	}
	_, addr := start(t, WithMaxMessageSize(2048))
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := options(addr, "size"+string(rune('a'+i)))
			m = strings.Replace(m, "Max-Forwards: 70\r\n", "Max-Forwards: 70\r\nX-Pad: "+strings.Repeat("x", tc.pad)+"\r\n", 1)
			got := exchange(t, addr, m)
			if (got != "") != tc.answer {
				t.Fatalf("answered=%v want %v (%q)", got != "", tc.answer, got)
			}
		})
	}
}

func TestListenSpecs(t *testing.T) {
	tests := []struct {
		spec string
		ok   bool
	}{
		{"udp:127.0.0.1:0", true},
		{"TCP:127.0.0.1:0", true},
		{"tls:127.0.0.1:0", false},
		{"udp:127.0.0.1", false},
		{"udp:127.0.0.1:99999", false},
		{"", false},
	}
	for _, tc := range tests {
		t.Run(tc.spec, func(t *testing.T) {
			_, _, err := ParseListen(tc.spec)
			if (err == nil) != tc.ok {
				t.Fatalf("ParseListen(%q) err=%v", tc.spec, err)
			}
		})
	}
	s, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen("udp:127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if a := s.Addrs(); len(a) != 1 || !strings.HasPrefix(a[0], "udp:127.0.0.1:") || strings.HasSuffix(a[0], ":0") {
		t.Fatalf("Addrs %v", a)
	}
	s.Close()
	s.Close()
	if err := s.Listen("udp:127.0.0.1:0"); err == nil {
		t.Fatal("Listen after Close should fail")
	}
}

func BenchmarkOptions(b *testing.B) {
	s, err := New(slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	_ = s.Listen("udp:127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() { cancel(); <-done }()
	addr := s.Addr("udp")
	c, err := net.Dial("udp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 4096)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := c.Write([]byte(options(addr, "bench"+itoa(i)))); err != nil {
			b.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		if _, err := c.Read(buf); err != nil {
			b.Fatal(err)
		}
	}
}

func itoa(i int) string {
	const d = "0123456789"
	if i < 10 {
		return d[i : i+1]
	}
	return itoa(i/10) + d[i%10:i%10+1]
}

type lockedBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// --sip-trace: one log record per message, or, with a trace writer,
// readable blocks (a header line naming direction and addresses, then the
// message's own lines without CRs).
func TestSIPTrace(t *testing.T) {
	tests := []struct {
		name   string
		writer bool
		want   func(addr string) []string
	}{
		{"log records", false, func(string) []string {
			return []string{`msg="sip in"`, `msg="sip out"`, "OPTIONS sip:pbx@", "SIP/2.0 200 OK"}
		}},
		{"readable blocks", true, func(addr string) []string {
			return []string{" sip in UDP " + addr + " <- ", " sip out UDP " + addr + " -> ",
				"\nOPTIONS sip:pbx@", "\nSIP/2.0 200 OK\n", "\nCall-ID: trace-blocks\n"}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf lockedBuf
			log, opts := slog.New(slog.NewTextHandler(&buf, nil)), []Option{WithTrace(true)}
			if tc.writer {
				log = slog.New(slog.NewTextHandler(io.Discard, nil))
				opts = append(opts, WithTraceWriter(&buf))
			}
			s, err := New(log, opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer setGlobals(slog.Default(), false, nil) // later servers in this process trace nothing
			if err := s.Listen("udp:127.0.0.1:0"); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- s.Run(ctx) }()
			<-s.Ready()
			addr := s.Addr("udp")
			branch := "trace-records"
			if tc.writer {
				branch = "trace-blocks"
			}
			if got := exchange(t, addr, options(addr, branch)); !strings.HasPrefix(got, "SIP/2.0 200") {
				t.Fatalf("OPTIONS answer %q", got)
			}
			cancel()
			<-done
			out := buf.String()
			for _, want := range tc.want(addr) {
				if !strings.Contains(out, want) {
					t.Errorf("trace lacks %q:\n%s", want, out)
				}
			}
			if tc.writer && strings.Contains(out, "\r") {
				t.Error("trace keeps CRs: lines should read as plain text")
			}
		})
	}
}

// TestListenBusyPort: a port in use is named once, with the kernel's reason.
func TestListenBusyPort(t *testing.T) {
	busy, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	srv, err := New(slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	spec := "udp:" + busy.LocalAddr().String()
	err = srv.Listen(spec)
	if err == nil {
		t.Fatal("listened on a busy port")
	}
	if want := "listen " + spec + ": bind: address already in use"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
}
