package call

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"luapbx/engine/phone"
	"luapbx/engine/routing"
)

// Problems a trial with real softphones found in the call path.

// trialTrunk is a provider that answers every INVITE. With dead set it
// never answers BYE (a phone killed with kill -9 mid-call); infos gets the
// INFO requests it is sent (answered 200).
func trialTrunk(t *testing.T, dead bool, infos chan<- *sip.Request) string {
	t.Helper()
	ua, _ := sipgo.NewUA()
	srv, _ := sipgo.NewServer(ua)
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := conn.LocalAddr().String()
	srv.OnInvite(func(req *sip.Request, tx sip.ServerTransaction) {
		r := sip.NewSDPResponseFromRequest(req, []byte(testSDP))
		r.To().Params.Add("tag", "trial")
		r.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", Host: "127.0.0.1", Port: portOf(addr)}})
		_ = tx.Respond(r)
		select {
		case <-tx.Acks():
		case <-tx.Done():
		case <-time.After(2 * time.Second):
		}
	})
	srv.OnAck(func(*sip.Request, sip.ServerTransaction) {})
	srv.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
		if !dead {
			_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
		}
	})
	srv.OnInfo(func(req *sip.Request, tx sip.ServerTransaction) {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
		if infos != nil {
			infos <- req
		}
	})
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.ServeUDP(conn) }()
	t.Cleanup(func() { conn.Close(); ua.Close(); <-done })
	return addr
}

// answeredCall waits for the manager's only call to be answered.
func answeredCall(t *testing.T, m *Manager) *Call {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		m.mu.Lock()
		var c *Call
		for _, x := range m.byID {
			c = x
		}
		m.mu.Unlock()
		if c != nil {
			c.mu.Lock()
			st := c.state
			c.mu.Unlock()
			if st == StateAnswered {
				return c
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("no answered call")
	return nil
}

// When one side is dead, the live side is hung up at once (the dead leg's
// BYE, which waits for an answer that never comes, goes out in parallel),
// and the record ends when the hang-up was decided.
func TestTrialHangupDeadCallee(t *testing.T) {
	tests := []struct {
		name   string
		hangup func(p *pbx, c *Call) (wait func())
		cause  string
	}{
		{"rtp_timeout", func(_ *pbx, c *Call) func() { c.Hangup("rtp_timeout"); return func() {} }, "rtp_timeout"},
		{"shutdown", func(p *pbx, _ *Call) func() {
			closed := make(chan struct{})
			go func() { defer close(closed); p.m.Close() }() // waits for the dead leg's BYE
			return func() { <-closed }
		}, "shutdown"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ends := make(chan End, 4)
			p := newPBX(t, func(s *fakeSnap, c *Config) {
				c.OnEnd = func(e End) { ends <- e }
				s.decide = func(*routing.Call) routing.Decision {
					return routing.Decision{Target: routing.Target{Kind: routing.TargetGateway, Arg: "dead"}, Number: "0612345678"}
				}
			})
			p.snap.setTrunk(Trunk{ID: "dead", Host: trialTrunk(t, true, nil)})
			caller := p.phone("201")
			got := make(chan phone.Summary, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				s, _ := caller.Call(ctx, "0612345678", phone.CallOptions{})
				got <- s
			}()
			c := answeredCall(t, p.m)
			decided := time.Now()
			wait := tc.hangup(p, c)
			defer wait()
			var s phone.Summary
			select {
			case s = <-got:
			case <-time.After(15 * time.Second):
				t.Fatal("caller never hung up")
			}
			if late := time.Since(decided); late > 2*time.Second {
				t.Errorf("the live caller got its BYE %v after the hang-up", late)
			}
			if s.HangupBy != "remote" {
				t.Errorf("caller's summary: hangup_by %q, want remote", s.HangupBy)
			}
			var e End
			select {
			case e = <-ends:
			case <-time.After(15 * time.Second):
				t.Fatal("no record")
			}
			if e.Cause != tc.cause || e.By != BySystem {
				t.Errorf("record: cause %q by %q, want %q by system", e.Cause, e.By, tc.cause)
			}
			if d := e.End.Sub(decided); d > 500*time.Millisecond || d < -500*time.Millisecond {
				t.Errorf("record ends %v after the hang-up was decided", d)
			}
			if e.Answered.IsZero() || e.End.Before(e.Answered) {
				t.Errorf("record: answered %v, end %v", e.Answered, e.End)
			}
		})
	}
}

// A refused INVITE (no SDP, no codec in common, a call limit) still
// leaves a record: disposition failed, its SIP code, and why.
func TestTrialRefusedCallsLeaveRecord(t *testing.T) {
	tests := []struct {
		name  string
		tweak func(*fakeSnap, *Config)
		noSDP bool
		code  int
		cause string
	}{
		{name: "no sdp", noSDP: true, code: 488, cause: CauseNoSDP},
		{name: "no common codec", code: 488, cause: CauseIncompatibleSDP,
			tweak: func(_ *fakeSnap, c *Config) { c.CheckSDP = func([]byte) int { return 488 } }},
		{name: "malformed sdp", code: 400, cause: CauseBadSDP,
			tweak: func(_ *fakeSnap, c *Config) { c.CheckSDP = func([]byte) int { return 400 } }},
		{name: "call limit", code: 503, cause: CauseCallLimit,
			tweak: func(_ *fakeSnap, c *Config) { c.MaxCalls = 1 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ends := make(chan End, 4)
			p := newPBX(t, func(s *fakeSnap, c *Config) {
				c.OnEnd = func(e End) { ends <- e }
				if tc.tweak != nil {
					tc.tweak(s, c)
				}
			})
			if tc.cause == CauseCallLimit {
				if !p.m.acquire([]string{"test"}, []int{0}) { // a call already up
					t.Fatal("no slot")
				}
				defer p.m.release([]string{"test"})
			}
			var code int
			var id string
			if tc.noSDP {
				code, id = inviteWithoutSDP(t, p)
			} else {
				s := p.call(p.phone("201"), "202", phone.CallOptions{Expect: tc.code})
				code, id = s.FinalCode, s.CallID
			}
			if code != tc.code {
				t.Fatalf("final %d, want %d", code, tc.code)
			}
			select {
			case e := <-ends:
				if e.Call.ID != id || e.Code != tc.code || e.Cause != tc.cause || e.Disposition != DispFailed || e.By != BySystem {
					t.Errorf("record %q: code %d cause %q disposition %q by %q; want %q %d %q failed system",
						e.Call.ID, e.Code, e.Cause, e.Disposition, e.By, id, tc.code, tc.cause)
				}
				if e.Call.From != "201" || e.Call.To != "202" || e.Call.Extension != "201" {
					t.Errorf("record: from %q to %q extension %q", e.Call.From, e.Call.To, e.Call.Extension)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("no record for the refused call")
			}
		})
	}
}

// inviteWithoutSDP sends an authenticated INVITE with no body from 201
// to 202 and returns the final code and the Call-ID.
func inviteWithoutSDP(t *testing.T, p *pbx) (int, string) {
	t.Helper()
	dua, inv := rawCaller(t, p, "202", "nosdp")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sess, err := dua.WriteInvite(ctx, inv)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	err = sess.WaitAnswer(ctx, sipgo.AnswerOptions{Username: "201", Password: "pw201"})
	return failureCode(ctx, err), inv.CallID().Value()
}

// A member calling its own group does not ring its own phone; a group of
// only the caller goes to its fallback.
func TestTrialGroupLeavesCallerOut(t *testing.T) {
	tests := []struct {
		name     string
		group    Group
		answerBy string
	}{
		{"ringall", Group{Number: "600", Strategy: "ringall", Members: []string{"201", "202"}, RingSeconds: 3}, "202"},
		{"hunt", Group{Number: "600", Strategy: "hunt", Members: []string{"201", "202"}, RingSeconds: 3}, "202"},
		{"only the caller: fallback", Group{Number: "600", Members: []string{"201"}, RingSeconds: 3, Fallback: "user:203"}, "203"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newPBX(t, func(s *fakeSnap, _ *Config) {
				s.groups["600"] = tc.group
				s.decide = func(c *routing.Call) routing.Decision {
					return routing.Decision{Target: routing.Target{Kind: routing.TargetGroup, Arg: "600"}, Number: c.To}
				}
			})
			// 201's own phone answers at once: were it rung, it would win.
			_, wait201 := p.callee("201", phone.AnswerOptions{NoRinging: true})
			_, waitOther := p.callee(tc.answerBy, phone.AnswerOptions{Delay: 200 * time.Millisecond})
			s := p.call(p.phone("201"), "600", phone.CallOptions{HangupAfter: 50 * time.Millisecond})
			if s.FinalCode != 200 {
				t.Fatalf("final %d: %+v", s.FinalCode, s.Codes)
			}
			ev := p.waitEnd()
			if ev.Data["answered_by"] != tc.answerBy {
				t.Errorf("answered by %v, want %s", ev.Data["answered_by"], tc.answerBy)
			}
			if got := waitOther(); len(got) != 1 {
				t.Errorf("%s: %d calls", tc.answerBy, len(got))
			}
			p.stop["201"]()
			if got := wait201(); len(got) != 0 {
				t.Errorf("the caller's own phone got its call: %+v", got)
			}
			p.idle()
		})
	}
}

// INFO inside an answered call (SIP INFO DTMF) is relayed to the other
// leg, and its answer comes back.
func TestTrialInfoRelayed(t *testing.T) {
	infos := make(chan *sip.Request, 4)
	p := newPBX(t, func(s *fakeSnap, _ *Config) {
		s.decide = func(*routing.Call) routing.Decision {
			return routing.Decision{Target: routing.Target{Kind: routing.TargetGateway, Arg: "live"}, Number: "0612345678"}
		}
	})
	p.snap.setTrunk(Trunk{ID: "live", Host: trialTrunk(t, false, infos)})
	dua, inv := rawCaller(t, p, "0612345678", "info")
	inv.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	inv.SetBody([]byte(testSDP))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sess, err := dua.WriteInvite(ctx, inv)
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.WaitAnswer(ctx, sipgo.AnswerOptions{Username: "201", Password: "pw201"}); err != nil {
		t.Fatal(err)
	}
	if err := sess.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	const dtmf = "Signal=5\r\nDuration=160\r\n"
	info := sip.NewRequest(sip.INFO, sess.InviteResponse.Contact().Address)
	info.AppendHeader(sip.NewHeader("Content-Type", "application/dtmf-relay"))
	info.SetBody([]byte(dtmf))
	res, err := sess.Do(ctx, info)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 {
		t.Errorf("INFO answered %d, want the callee's 200", res.StatusCode)
	}
	select {
	case got := <-infos:
		if string(got.Body()) != dtmf {
			t.Errorf("callee got INFO body %q", got.Body())
		}
		if ct := got.ContentType(); ct == nil || ct.Value() != "application/dtmf-relay" {
			t.Errorf("callee got INFO Content-Type %v", ct)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the callee never got the INFO")
	}
	if err := sess.Bye(ctx); err != nil {
		t.Fatal(err)
	}
	p.waitEnd()
	p.idle()
}
