package tests

import (
	"net"
	"strings"
	"testing"
	"time"

	"luapbx/engine/phone"
)

// Problems a new-user trial with real softphones found, end to end on the
// real binary.

// A refused call (here: the system call limit) still leaves a record,
// with an INFO log line naming its call_id, and no WARN.
func TestTrialRefusedCallRecord(t *testing.T) {
	t.Parallel()
	srv, _ := startPlan(t, sipPlan(36100, "{ban_after_failures: 0, max_calls: 1}", "", ""), nil)
	callee := newPhoneWith(t, srv, "udp", "202", "a-long-passphrase-202")
	register(t, callee)
	ans := startAnswer(t, callee, phone.AnswerOptions{Delay: 3 * time.Second, Reject: 486}, callTimeout)
	first := dialAsync(t, newPhoneWith(t, srv, "udp", "201", "a-long-passphrase-201"), "202", phone.CallOptions{Expect: 486})
	waitFor(t, 5*time.Second, "the first call to be up", func() bool { return len(liveCalls(t, srv)) == 1 })
	s := dial(t, newPhoneWith(t, srv, "udp", "203", "a-long-passphrase-203"), "202", phone.CallOptions{Expect: 503})
	if s.FinalCode != 503 {
		t.Fatalf("second call: final %d, want 503", s.FinalCode)
	}
	rec := cdrRecord(t, "http://"+srv.HTTP, s.CallID)
	if rec.Disposition != "failed" || rec.SIPCode != 503 || rec.HangupCause != "call_limit" || rec.From != "203" {
		t.Errorf("record of the refused call: %+v", rec)
	}
	srv.WaitLog(t, "call_id="+s.CallID, 5*time.Second)
	for _, l := range strings.Split(srv.Logs(), "\n") {
		if strings.Contains(l, s.CallID) && strings.Contains(l, "limit reached") && !strings.Contains(l, "level=INFO") {
			t.Errorf("refusal logged as %q, want INFO", l)
		}
	}
	first()
	ans.wait(t)
}

// 201 calling group 600 (members 201 and 202) does not ring its own phone.
func TestTrialGroupCallerLeftOut(t *testing.T) {
	t.Parallel()
	groups := `    groups:
      - {number: "600", strategy: ringall, members: ["201", "202"], ring_seconds: 5}
`
	srv, _ := startPlan(t, sipPlan(36300, "", "", groups), nil)
	own := newPhoneWith(t, srv, "udp", "201", "a-long-passphrase-201")
	register(t, own)
	other := newPhoneWith(t, srv, "udp", "202", "a-long-passphrase-202")
	register(t, other)
	ansOwn := startAnswer(t, own, phone.AnswerOptions{NoRinging: true}, callTimeout)
	ansOther := startAnswer(t, other, phone.AnswerOptions{Delay: 300 * time.Millisecond}, callTimeout)
	s := dial(t, newPhoneWith(t, srv, "udp", "201", "a-long-passphrase-201"), "600", phone.CallOptions{HangupAfter: 100 * time.Millisecond})
	if s.FinalCode != 200 {
		t.Fatalf("call to the group: final %d: %+v", s.FinalCode, s.Codes)
	}
	rec := cdrRecord(t, "http://"+srv.HTTP, s.CallID)
	if rec.AnsweredBy != "202" {
		t.Errorf("answered by %q, want 202", rec.AnsweredBy)
	}
	if got := ansOther.wait(t); len(got) != 1 {
		t.Errorf("202 got %d calls", len(got))
	}
	ansOwn.cancel()
	if got := ansOwn.wait(t); len(got) != 0 {
		t.Errorf("201's own phone rang: %+v", got)
	}
}

// Requests the PBX does not handle get 405 with Allow (SUBSCRIBE: 489),
// and no WARN per request.
func TestTrialUnhandledSIPMethods(t *testing.T) {
	t.Parallel()
	srv, _ := startPlan(t, sipPlan(36500, "", "", ""), nil)
	addr := srv.SIP["udp"]
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	local := c.LocalAddr().String()
	tests := []struct{ method, want string }{
		{"REFER", "SIP/2.0 405 "}, {"MESSAGE", "SIP/2.0 405 "}, {"NOTIFY", "SIP/2.0 405 "},
		{"PUBLISH", "SIP/2.0 405 "}, {"INFO", "SIP/2.0 405 "}, {"SUBSCRIBE", "SIP/2.0 489 "},
	}
	for _, tc := range tests {
		t.Run(tc.method, func(t *testing.T) {
			branch := "z9hG4bKtrial" + strings.ToLower(tc.method)
			msg := tc.method + " sip:201@" + addr + " SIP/2.0\r\nVia: SIP/2.0/UDP " + local + ";branch=" + branch + ";rport\r\n" +
				"From: <sip:probe@127.0.0.1>;tag=1\r\nTo: <sip:201@" + addr + ">\r\nCall-ID: " + branch + "\r\n" +
				"CSeq: 1 " + tc.method + "\r\nMax-Forwards: 70\r\nEvent: presence\r\nContent-Length: 0\r\n\r\n"
			if _, err := c.Write([]byte(msg)); err != nil {
				t.Fatal(err)
			}
			_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
			buf := make([]byte, 4096)
			for {
				n, err := c.Read(buf)
				if err != nil {
					t.Fatalf("no answer to %s: %v", tc.method, err)
				}
				got := string(buf[:n])
				if !strings.Contains(got, branch) || strings.HasPrefix(got, "SIP/2.0 100 ") {
					continue
				}
				if !strings.HasPrefix(got, tc.want) {
					t.Fatalf("answer to %s: %q", tc.method, got)
				}
				if !strings.Contains(got, "\r\nAllow: INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER") {
					t.Errorf("answer to %s without Allow: %q", tc.method, got)
				}
				return
			}
		})
	}
	for _, l := range strings.Split(srv.Logs(), "\n") {
		if strings.Contains(l, "handler not found") || strings.Contains(l, "level=WARN") && strings.Contains(l, "method=") {
			t.Errorf("unhandled request logged a warning: %s", l)
		}
	}
}
