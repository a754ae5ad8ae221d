package tests

import (
	"testing"
	"time"

	"luapbx/engine/phone"
	"luapbx/tests/harness"
)

// fiveFiveFive routes 555 to target with a rule.
func fiveFiveFive(rtpBase int, target string) string {
	return sipPlan(rtpBase, "", "", `    rules:
      - {name: five, called: "^$555", action: route, target: "`+target+`"}
`)
}

// A Lua on_route redirects a real call: the rule says 202, the script 203.
func TestSIPLuaRedirect(t *testing.T) {
	t.Parallel()
	srv, _ := startPlan(t, fiveFiveFive(32500, "user:202"), map[string]string{"route.lua": routeScript("user:203")})
	p202 := newPhoneWith(t, srv, "udp", "202", "a-long-passphrase-202")
	p203 := newPhoneWith(t, srv, "udp", "203", "a-long-passphrase-203")
	register(t, p202)
	register(t, p203)
	ruled := startAnswer(t, p202, phone.AnswerOptions{Count: 1}, 5*time.Second)
	redirected := startAnswer(t, p203, phone.AnswerOptions{Count: 1}, callTimeout)

	s := dial(t, newPhoneWith(t, srv, "udp", "201", "a-long-passphrase-201"), "555", phone.CallOptions{HangupAfter: 200 * time.Millisecond})
	if s.FinalCode != 200 || s.State != phone.StateCompleted {
		t.Errorf("caller: final %d state %s, want 200 completed: %+v", s.FinalCode, s.State, s.Codes)
	}
	if got := redirected.wait(t); len(got) != 1 || got[0].State != phone.StateCompleted {
		t.Errorf("203 (the script's target): %+v, want one completed call", got)
	}
	ruled.cancel()
	if got := ruled.wait(t); len(got) != 0 {
		t.Errorf("202 (the rule's target) rang: %+v", got)
	}
}

// A reload while a call is up: the call goes on under its snapshot and ends
// normally; the next call uses the new plan. GET /api/calls shows it live.
func TestSIPReloadDuringCall(t *testing.T) {
	t.Parallel()
	const rtp = 32600
	srv, dir := startPlan(t, fiveFiveFive(rtp, "user:202"), nil)
	p202 := newPhoneWith(t, srv, "udp", "202", "a-long-passphrase-202")
	p203 := newPhoneWith(t, srv, "udp", "203", "a-long-passphrase-203")
	caller := newPhoneWith(t, srv, "udp", "201", "a-long-passphrase-201")
	register(t, p202)
	register(t, p203)
	gen := getStatus(t, "http://"+srv.HTTP).Generation

	// The first call stays up until 202 hangs up, after the reload.
	first := startAnswer(t, p202, phone.AnswerOptions{Count: 1, HangupAfter: 2 * time.Second}, callTimeout)
	result := dialAsync(t, caller, "555", phone.CallOptions{})

	var live liveCall
	waitFor(t, 5*time.Second, "the call in /api/calls", func() bool {
		for _, c := range liveCalls(t, srv) {
			if c.To == "555" && c.Target == "user:202" && c.State == "answered" {
				live = c
				return true
			}
		}
		return false
	})
	if live.Generation != gen {
		t.Errorf("live call on generation %d, want %d", live.Generation, gen)
	}

	harness.WriteFile(t, dir, "pbx.yaml", fiveFiveFive(rtp, "user:203"))
	waitFor(t, 3*time.Second, "the new generation", func() bool {
		st := getStatus(t, "http://"+srv.HTTP)
		return st.Generation > gen && st.LastError == ""
	})
	calls := liveCalls(t, srv)
	if len(calls) != 1 || calls[0].CallID != live.CallID || calls[0].Generation != gen {
		t.Errorf("after the reload /api/calls lists %+v, want the one call %s still on generation %d", calls, live.CallID, gen)
	}

	s := result()
	if s.FinalCode != 200 || s.State != phone.StateCompleted || s.HangupBy != "remote" {
		t.Errorf("first call: final %d state %s by %s, want 200 completed by remote (202)", s.FinalCode, s.State, s.HangupBy)
	}
	if s.DurationMS < 1500 {
		t.Errorf("first call lasted %.0f ms, want about 2 s (it must survive the reload)", s.DurationMS)
	}
	if got := first.wait(t); len(got) != 1 || got[0].State != phone.StateCompleted {
		t.Errorf("202 on the first call: %+v, want one completed call", got)
	}
	waitFor(t, 3*time.Second, "no calls left", func() bool { return len(liveCalls(t, srv)) == 0 })

	second := startAnswer(t, p203, phone.AnswerOptions{Count: 1}, callTimeout)
	s = dial(t, caller, "555", phone.CallOptions{HangupAfter: 200 * time.Millisecond})
	if s.FinalCode != 200 || s.State != phone.StateCompleted {
		t.Errorf("second call: final %d state %s, want 200 completed: %+v", s.FinalCode, s.State, s.Codes)
	}
	if got := second.wait(t); len(got) != 1 || got[0].State != phone.StateCompleted {
		t.Errorf("203 on the second call (new plan): %+v, want one completed call", got)
	}
}
