package call

import (
	"strings"
	"testing"
	"time"

	"luapbx/engine/phone"
	"luapbx/engine/routing"
)

// TestAnsweredBy: the End and call.end of a call name the callee that
// answered it (a group's member, a trunk), and nobody when no callee did.
func TestAnsweredBy(t *testing.T) {
	tests := []struct {
		name     string
		target   string // routing target of the call
		answers  map[string]phone.AnswerOptions
		trunks   []string // callees that are trunks (gateway targets)
		want     int      // caller's final code
		wantDisp string
		wantBy   string
	}{
		{name: "ringall second member answers", target: "group:600", answers: map[string]phone.AnswerOptions{
			"202": {Delay: 3 * time.Second}, "203": {Delay: 100 * time.Millisecond, HangupAfter: 50 * time.Millisecond},
			"204": {Delay: 3 * time.Second}},
			want: 200, wantDisp: DispAnswered, wantBy: "203"},
		{name: "hunt third member answers", target: "group:610", answers: map[string]phone.AnswerOptions{
			"202": {Reject: 486}, "203": {Reject: 480}, "204": {HangupAfter: 50 * time.Millisecond}},
			want: 200, wantDisp: DispAnswered, wantBy: "204"},
		{name: "user answers", target: "user:202", answers: map[string]phone.AnswerOptions{
			"202": {HangupAfter: 50 * time.Millisecond}},
			want: 200, wantDisp: DispAnswered, wantBy: "202"},
		{name: "gateway names the trunk", target: "gateway:bad,good", trunks: []string{"bad", "good"}, answers: map[string]phone.AnswerOptions{
			"bad": {Reject: 503}, "good": {HangupAfter: 50 * time.Millisecond}},
			want: 200, wantDisp: DispAnswered, wantBy: "good"},
		{name: "group all busy", target: "group:600", answers: map[string]phone.AnswerOptions{
			"202": {Reject: 486}, "203": {Reject: 486}, "204": {Reject: 486}},
			want: 480, wantDisp: DispNoAnswer, wantBy: ""},
		{name: "user busy", target: "user:202", answers: map[string]phone.AnswerOptions{"202": {Reject: 486}},
			want: 486, wantDisp: DispBusy, wantBy: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			target, err := routing.ParseTarget(tc.target)
			if err != nil {
				t.Fatal(err)
			}
			ended := make(chan End, 1)
			p := newPBX(t, func(s *fakeSnap, cfg *Config) {
				cfg.OnEnd = func(e End) { ended <- e }
				s.groups["600"] = Group{Number: "600", Strategy: "ringall", Members: []string{"202", "203", "204"}, RingSeconds: 1}
				s.groups["610"] = Group{Number: "610", Strategy: "hunt", Members: []string{"202", "203", "204"}, RingSeconds: 1}
				s.decide = func(c *routing.Call) routing.Decision {
					return routing.Decision{Target: target, Number: c.To}
				}
			})
			waits := map[string]func() []phone.Summary{}
			for n, ao := range tc.answers {
				var ph *phone.Phone
				ph, waits[n] = p.callee(n, ao)
				for _, id := range tc.trunks {
					if id == n {
						p.snap.setTrunk(Trunk{ID: id, Host: strings.TrimPrefix(ph.Addr(), "udp:")})
					}
				}
			}
			s := p.call(p.phone("201"), "0612345678", phone.CallOptions{Expect: tc.want})
			if s.FinalCode != tc.want {
				t.Fatalf("final %d want %d: %+v", s.FinalCode, tc.want, s.Codes)
			}
			ev := p.waitEnd()
			if ev.Data["disposition"] != tc.wantDisp {
				t.Errorf("call.end disposition %v, want %s", ev.Data["disposition"], tc.wantDisp)
			}
			got, ok := ev.Data["answered_by"]
			if tc.wantBy == "" && ok {
				t.Errorf("call.end answered_by = %v, want none", got)
			}
			if tc.wantBy != "" && got != tc.wantBy {
				t.Errorf("call.end answered_by = %v, want %s", got, tc.wantBy)
			}
			select {
			case e := <-ended:
				if e.AnsweredBy != tc.wantBy || e.Disposition != tc.wantDisp {
					t.Errorf("End: answered by %q (%s), want %q (%s)", e.AnsweredBy, e.Disposition, tc.wantBy, tc.wantDisp)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("no OnEnd")
			}
			for n, w := range waits {
				if tc.answers[n].Delay > time.Second {
					p.stop[n]() // rang and was cancelled
				}
				w()
			}
			p.idle()
		})
	}
}

// TestAnsweredByNoAnswer: a group call the caller gives up on while its
// members ring is answered by nobody.
func TestAnsweredByNoAnswer(t *testing.T) {
	ended := make(chan End, 1)
	p := newPBX(t, func(s *fakeSnap, cfg *Config) {
		cfg.OnEnd = func(e End) { ended <- e }
		s.groups["600"] = Group{Number: "600", Strategy: "ringall", Members: []string{"202", "203"}, RingSeconds: 5}
		s.decide = func(c *routing.Call) routing.Decision {
			return routing.Decision{Target: routing.Target{Kind: routing.TargetGroup, Arg: "600"}, Number: c.To}
		}
	})
	_, w202 := p.callee("202", phone.AnswerOptions{Delay: 3 * time.Second})
	_, w203 := p.callee("203", phone.AnswerOptions{Delay: 3 * time.Second})
	s := p.call(p.phone("201"), "600", phone.CallOptions{CancelAfter: 300 * time.Millisecond, Expect: 487})
	if s.FinalCode != 487 {
		t.Fatalf("final %d: %+v", s.FinalCode, s.Codes)
	}
	if ev := p.waitEnd(); ev.Data["answered_by"] != nil {
		t.Errorf("call.end of a cancelled call: %v", ev.Data)
	}
	select {
	case e := <-ended:
		if e.AnsweredBy != "" || e.Disposition != DispNoAnswer {
			t.Errorf("End of a cancelled call: %q %s", e.AnsweredBy, e.Disposition)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no OnEnd")
	}
	p.stop["202"]()
	p.stop["203"]()
	w202()
	w203()
	p.idle()
}

// TestInProgressGroupMember: the End of an answered group call in progress
// names the member that answered; while it rings, nobody.
func TestInProgressGroupMember(t *testing.T) {
	p := newPBX(t, func(s *fakeSnap, _ *Config) {
		s.groups["600"] = Group{Number: "600", Strategy: "ringall", Members: []string{"202", "203"}, RingSeconds: 5}
		s.decide = func(c *routing.Call) routing.Decision {
			return routing.Decision{Target: routing.Target{Kind: routing.TargetGroup, Arg: "600"}, Number: c.To}
		}
	})
	_, w202 := p.callee("202", phone.AnswerOptions{Delay: 3 * time.Second})
	_, w203 := p.callee("203", phone.AnswerOptions{Delay: 600 * time.Millisecond, HangupAfter: 800 * time.Millisecond})
	done := make(chan phone.Summary, 1)
	go func() { done <- p.call(p.phone("201"), "600", phone.CallOptions{}) }()
	poll := func(what string, ok func(End) bool) End {
		t.Helper()
		for range 300 {
			if got := p.m.InProgress(time.Now()); len(got) == 1 && ok(got[0]) {
				return got[0]
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatalf("%s: never seen: %+v", what, p.m.InProgress(time.Now()))
		return End{}
	}
	ringing := poll("ringing", func(e End) bool {
		for _, in := range p.m.Calls() {
			if len(in.Legs) == 2 && in.Legs[0].State == "ringing" && in.Legs[1].State == "ringing" {
				return e.Answered.IsZero()
			}
		}
		return false
	})
	if ringing.AnsweredBy != "" || ringing.Disposition != DispFailed {
		t.Errorf("ringing call: answered by %q (%s)", ringing.AnsweredBy, ringing.Disposition)
	}
	up := poll("answered", func(e End) bool { return !e.Answered.IsZero() })
	if up.AnsweredBy != "203" || up.Disposition != DispAnswered {
		t.Errorf("answered call: answered by %q (%s), want 203", up.AnsweredBy, up.Disposition)
	}
	if s := <-done; s.FinalCode != 200 {
		t.Errorf("caller: %+v", s)
	}
	if ev := p.waitEnd(); ev.Data["answered_by"] != "203" {
		t.Errorf("call.end: %v", ev.Data)
	}
	p.stop["202"]()
	w202()
	w203()
	p.idle()
}
