package tests

import (
	"context"
	"testing"
	"time"

	"luapbx/engine/phone"
)

type banEntry struct {
	IP       string `json:"ip"`
	Failures int    `json:"failures"`
	Banned   bool   `json:"banned"`
}

// Registration with good and bad passwords over UDP and TCP, then the ban
// that follows repeated failures from one address.
func TestSIPRegisterAndBan(t *testing.T) {
	t.Parallel()
	srv, _ := startPlan(t, sipPlan(32000, "{ban_after_failures: 3, ban_window_seconds: 60, ban_seconds: 600, max_calls: 100}", "", ""), nil)
	reg := func(t *testing.T, network, user, password string) phone.Summary {
		t.Helper()
		p := newPhoneWith(t, srv, network, user, password)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s, err := p.Register(ctx, time.Minute)
		if err != nil {
			t.Fatalf("register %s over %s: %v", user, network, err)
		}
		return s
	}
	t.Run("good password", func(t *testing.T) {
		for _, network := range []string{"udp", "tcp"} {
			if s := reg(t, network, "201", "a-long-passphrase-201"); s.FinalCode != 200 || s.State != phone.StateRegistered {
				t.Errorf("over %s: final %d state %s, want 200 registered (%+v)", network, s.FinalCode, s.State, s.Codes)
			}
		}
		var regs struct {
			Extensions []struct {
				AOR string `json:"aor"`
			} `json:"extensions"`
		}
		getJSON(t, srv, "/api/registrations", &regs)
		if len(regs.Extensions) != 2 {
			t.Errorf("/api/registrations lists %d contacts, want 2 (UDP and TCP): %+v", len(regs.Extensions), regs.Extensions)
		}
	})
	t.Run("bad password", func(t *testing.T) {
		for i := 0; i < 3; i++ {
			s := reg(t, "udp", "202", "not-the-password")
			if s.FinalCode != 401 && s.FinalCode != 403 {
				t.Fatalf("attempt %d: final %d, want 401 or 403 (%+v)", i+1, s.FinalCode, s.Codes)
			}
		}
	})
	t.Run("banned address gets 403 even with the right password", func(t *testing.T) {
		if s := reg(t, "udp", "202", "a-long-passphrase-202"); s.FinalCode != 403 {
			t.Errorf("final %d after the ban, want 403 (%+v)", s.FinalCode, s.Codes)
		}
		var regs struct {
			Bans []banEntry `json:"bans"`
		}
		getJSON(t, srv, "/api/registrations", &regs)
		found := false
		for _, b := range regs.Bans {
			if b.IP == "127.0.0.1" && b.Banned {
				found = true
			}
		}
		if !found {
			t.Errorf("/api/registrations bans %+v: no banned 127.0.0.1", regs.Bans)
		}
		srv.WaitLog(t, "banned", 2*time.Second)
	})
}

// Calls between extensions: hang-ups from either side, cancel, busy, no
// answer, fallbacks, ringall and hunt groups.
func TestSIPExtensionCalls(t *testing.T) {
	t.Parallel()
	extra := `      - {number: "205", password: "a-long-passphrase-205", ring_seconds: 1, fallback: "user:203"}
      - {number: "206", password: "a-long-passphrase-206", fallback: "user:204"}
    groups:
      - {number: "600", strategy: ringall, members: ["202", "203"], ring_seconds: 20}
      - {number: "601", strategy: hunt, members: ["202", "203"], ring_seconds: 1}
`
	srv, _ := startPlan(t, sipPlan(32100, "", "", extra), nil)
	phones := map[string]*phone.Phone{}
	for _, u := range []string{"201", "202", "203", "204", "205", "206"} {
		network := "udp"
		if u == "204" || u == "201" {
			network = "tcp"
		}
		phones[u] = newPhoneWith(t, srv, network, u, "a-long-passphrase-"+u)
		register(t, phones[u])
	}
	caller := phones["201"]
	answer := func(t *testing.T, user string, opts phone.AnswerOptions) *answering {
		return startAnswer(t, phones[user], opts, callTimeout)
	}
	one := func(t *testing.T, a *answering, wantState string) phone.Summary {
		t.Helper()
		s := a.wait(t)
		if len(s) != 1 {
			t.Fatalf("callee saw %d calls, want 1: %+v", len(s), s)
		}
		if s[0].State != wantState {
			t.Errorf("callee state %s, want %s: %+v", s[0].State, wantState, s[0])
		}
		return s[0]
	}

	t.Run("caller hangs up", func(t *testing.T) {
		a := answer(t, "202", phone.AnswerOptions{Count: 1})
		s := dial(t, caller, "202", phone.CallOptions{HangupAfter: 300 * time.Millisecond})
		if s.FinalCode != 200 || s.State != phone.StateCompleted || s.HangupBy != "local" {
			t.Errorf("caller: final %d state %s by %s, want 200 completed by local", s.FinalCode, s.State, s.HangupBy)
		}
		if c := one(t, a, phone.StateCompleted); c.HangupBy != "remote" {
			t.Errorf("callee: hangup by %s, want remote", c.HangupBy)
		}
	})
	t.Run("callee hangs up", func(t *testing.T) {
		a := answer(t, "202", phone.AnswerOptions{Count: 1, HangupAfter: 300 * time.Millisecond})
		s := dial(t, caller, "202", phone.CallOptions{})
		if s.FinalCode != 200 || s.State != phone.StateCompleted || s.HangupBy != "remote" {
			t.Errorf("caller: final %d state %s by %s, want 200 completed by remote", s.FinalCode, s.State, s.HangupBy)
		}
		if c := one(t, a, phone.StateCompleted); c.HangupBy != "local" {
			t.Errorf("callee: hangup by %s, want local", c.HangupBy)
		}
	})
	t.Run("cancel while ringing", func(t *testing.T) {
		a := answer(t, "202", phone.AnswerOptions{Count: 1, Delay: 10 * time.Second})
		s := dial(t, caller, "202", phone.CallOptions{CancelAfter: 500 * time.Millisecond})
		if s.FinalCode != 487 || s.State != phone.StateCancelled {
			t.Errorf("caller: final %d state %s, want 487 cancelled: %+v", s.FinalCode, s.State, s.Codes)
		}
		if !sawCode(s, 180, "in") {
			t.Errorf("caller saw no 180 before cancelling: %+v", s.Codes)
		}
		one(t, a, phone.StateCancelled)
	})
	t.Run("busy", func(t *testing.T) {
		a := answer(t, "202", phone.AnswerOptions{Count: 1, Reject: 486})
		s := dial(t, caller, "202", phone.CallOptions{Expect: 486})
		if s.FinalCode != 486 || s.State != phone.StateRejected {
			t.Errorf("caller: final %d state %s, want 486 rejected: %+v", s.FinalCode, s.State, s.Codes)
		}
		one(t, a, phone.StateRejected)
	})
	t.Run("busy goes to the fallback", func(t *testing.T) {
		busy := answer(t, "206", phone.AnswerOptions{Count: 1, Reject: 486})
		fb := answer(t, "204", phone.AnswerOptions{Count: 1})
		s := dial(t, caller, "206", phone.CallOptions{HangupAfter: 200 * time.Millisecond})
		if s.FinalCode != 200 || s.State != phone.StateCompleted {
			t.Errorf("caller: final %d state %s, want 200 completed via 204: %+v", s.FinalCode, s.State, s.Codes)
		}
		one(t, busy, phone.StateRejected)
		one(t, fb, phone.StateCompleted)
		// The record names where the call went, and still why it started.
		if row := cdrRow(t, srv, s.CallID); row["target"] != "user:204" || row["rule"] != "ext:206" {
			t.Errorf("CDR target %v rule %v, want user:204 by ext:206", row["target"], row["rule"])
		}
	})
	t.Run("no answer goes to the fallback", func(t *testing.T) {
		slow := answer(t, "205", phone.AnswerOptions{Count: 1, Delay: 10 * time.Second})
		fb := answer(t, "203", phone.AnswerOptions{Count: 1})
		start := time.Now()
		s := dial(t, caller, "205", phone.CallOptions{HangupAfter: 200 * time.Millisecond})
		if s.FinalCode != 200 || s.State != phone.StateCompleted {
			t.Errorf("caller: final %d state %s, want 200 completed via 203: %+v", s.FinalCode, s.State, s.Codes)
		}
		if s.AnswerMS < 900 {
			t.Errorf("answered after %.0f ms, want after ring_seconds (1 s)", s.AnswerMS)
		}
		one(t, slow, phone.StateCancelled)
		one(t, fb, phone.StateCompleted)
		t.Logf("no answer -> fallback in %s", time.Since(start))
	})
	t.Run("ringall: first answer wins, the other is cancelled", func(t *testing.T) {
		slow := answer(t, "202", phone.AnswerOptions{Count: 1, Delay: 10 * time.Second})
		fast := answer(t, "203", phone.AnswerOptions{Count: 1, Delay: 200 * time.Millisecond})
		s := dial(t, caller, "600", phone.CallOptions{HangupAfter: 200 * time.Millisecond})
		if s.FinalCode != 200 || s.State != phone.StateCompleted {
			t.Errorf("caller: final %d state %s, want 200 completed: %+v", s.FinalCode, s.State, s.Codes)
		}
		one(t, slow, phone.StateCancelled)
		one(t, fast, phone.StateCompleted)
	})
	t.Run("hunt: the next member after ring_seconds", func(t *testing.T) {
		first := answer(t, "202", phone.AnswerOptions{Count: 1, Delay: 10 * time.Second})
		second := answer(t, "203", phone.AnswerOptions{Count: 1})
		s := dial(t, caller, "601", phone.CallOptions{HangupAfter: 200 * time.Millisecond})
		if s.FinalCode != 200 || s.State != phone.StateCompleted {
			t.Errorf("caller: final %d state %s, want 200 completed: %+v", s.FinalCode, s.State, s.Codes)
		}
		if s.AnswerMS < 900 {
			t.Errorf("answered after %.0f ms: the second member rang before the first's ring_seconds", s.AnswerMS)
		}
		one(t, first, phone.StateCancelled)
		one(t, second, phone.StateCompleted)
	})
}
