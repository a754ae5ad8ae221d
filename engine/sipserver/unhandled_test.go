package sipserver

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// request is a raw out-of-dialog request of method to the server.
func request(method, addr, branch string) string {
	return method + " sip:pbx@" + addr + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK" + branch + ";rport\r\n" +
		"From: <sip:probe@127.0.0.1>;tag=1\r\nTo: <sip:pbx@" + addr + ">\r\n" +
		"Call-ID: " + branch + "\r\nCSeq: 1 " + method + "\r\nMax-Forwards: 70\r\n" +
		"Event: presence\r\nContent-Length: 0\r\n\r\n"
}

// Requests the PBX does not handle get 405 with Allow (RFC 3261 §21.4.6),
// SUBSCRIBE 489 Bad Event (RFC 6665), and none logs a WARN; repeats of a
// method log at DEBUG only (one INFO per method per minute).
func TestUnhandledMethods(t *testing.T) {
	var logs lockedBuf
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := New(log)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen("udp:127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	<-s.Ready()
	defer func() { cancel(); <-done }()
	addr := s.Addr("udp")
	tests := []struct {
		method string
		code   string
	}{
		{"REFER", "405 Method Not Allowed"},
		{"MESSAGE", "405 Method Not Allowed"},
		{"NOTIFY", "405 Method Not Allowed"},
		{"PUBLISH", "405 Method Not Allowed"},
		{"INFO", "405 Method Not Allowed"}, // outside a dialog
		{"SUBSCRIBE", "489 Bad Event"},
	}
	for _, tc := range tests {
		t.Run(tc.method, func(t *testing.T) {
			for i := range 3 {
				branch := strings.ToLower(tc.method) + "-" + itoa(i)
				got := exchange(t, addr, request(tc.method, addr, branch))
				if !strings.HasPrefix(got, "SIP/2.0 "+tc.code+"\r\n") {
					t.Fatalf("answer to %s: %q", tc.method, got)
				}
				msg, err := sip.ParseMessage([]byte(got))
				if err != nil {
					t.Fatal(err)
				}
				res, ok := msg.(*sip.Response)
				if !ok {
					t.Fatalf("not a response: %q", got)
				}
				h := res.GetHeader("Allow")
				if h == nil {
					t.Fatalf("%s answer without Allow:\n%s", tc.method, got)
				}
				for _, m := range []string{"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER"} {
					if !strings.Contains(h.Value(), m) {
						t.Errorf("Allow %q lacks %s", h.Value(), m)
					}
				}
				if strings.Contains(h.Value(), tc.method) && tc.method != "INFO" {
					t.Errorf("Allow %q names the refused %s", h.Value(), tc.method)
				}
			}
		})
	}
	// Each line is logged once the answer went out: wait for the last.
	counts := func(out, method string) (info, debug int) {
		info = strings.Count(out, "level=INFO msg=\"sip request not handled: refused (logged once a minute per method)\" method="+method+" ")
		debug = strings.Count(out, "level=DEBUG msg=\"sip request not handled: refused\" method="+method+" ")
		return info, debug
	}
	out := logs.String()
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); out = logs.String() {
		if strings.Count(out, "sip request not handled") >= 3*len(tests) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if strings.Contains(out, "level=WARN") {
		t.Errorf("unhandled requests logged a WARN:\n%s", out)
	}
	for _, tc := range tests {
		if info, debug := counts(out, tc.method); info != 1 || debug != 2 {
			t.Errorf("%s: %d INFO and %d DEBUG lines, want 1 and 2:\n%s", tc.method, info, debug, out)
		}
	}
}

// The INFO log line of an unhandled method is due once a minute, for a
// bounded number of methods (the sender chooses them).
func TestUnhandledLogDue(t *testing.T) {
	var u unhandledLog
	now := time.Unix(1000, 0)
	steps := []struct {
		method string
		at     time.Duration
		want   bool
	}{
		{"REFER", 0, true},
		{"REFER", 30 * time.Second, false},
		{"MESSAGE", 30 * time.Second, true},
		{"REFER", 61 * time.Second, true},
	}
	for _, st := range steps {
		if got := u.due(st.method, now.Add(st.at)); got != st.want {
			t.Errorf("%s at %v: due %v, want %v", st.method, st.at, got, st.want)
		}
	}
	for i := range 2 * unhandledMethods {
		u.due("X"+itoa(i), now.Add(62*time.Second))
	}
	if n := len(u.last); n > unhandledMethods {
		t.Errorf("%d methods remembered, bound %d", n, unhandledMethods)
	}
}

// The trace of a message we send is written before it leaves: a peer
// that got it (and may answer at once) never sees its answer traced
// first. The trace writer waits for the peer: were the trace written
// after the send, the peer would have the datagram by then.
func TestSIPTraceBeforeSend(t *testing.T) {
	peer, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	var got atomic.Bool
	peerDone := make(chan struct{})
	defer func() { peer.Close(); <-peerDone }()
	go func() {
		defer close(peerDone)
		buf := make([]byte, 65536)
		_ = peer.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, _, err := peer.ReadFrom(buf); err == nil {
			got.Store(true)
		}
	}()
	var sentFirst atomic.Int32 // 1: trace before the peer got it; 2: after
	w := writerFunc(func(p []byte) (int, error) {
		if strings.Contains(string(p), " sip out ") {
			deadline := time.Now().Add(300 * time.Millisecond)
			for !got.Load() && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			if got.Load() {
				sentFirst.CompareAndSwap(0, 2)
			} else {
				sentFirst.CompareAndSwap(0, 1)
			}
		}
		return len(p), nil
	})
	s, err := New(slog.New(slog.DiscardHandler), WithTrace(true), WithTraceWriter(w))
	if err != nil {
		t.Fatal(err)
	}
	defer setGlobals(slog.Default(), false, nil)
	if err := s.Listen("udp:127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	<-s.Ready()
	defer func() { cancel(); <-done }()
	addr := s.Addr("udp")
	// The OPTIONS comes from the peer's socket, so the 200 goes back to it.
	msg := strings.Replace(options(addr, "trace-order"), "127.0.0.1:5999", peer.LocalAddr().String(), 1)
	dst, _ := net.ResolveUDPAddr("udp", addr)
	if _, err := peer.WriteTo([]byte(msg), dst); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for sentFirst.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	switch sentFirst.Load() {
	case 0:
		t.Fatal("no outgoing message traced")
	case 2:
		t.Fatal("the 200 OK was traced after the peer received it")
	}
}

type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
