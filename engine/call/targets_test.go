package call

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"luapbx/engine/phone"
	"luapbx/engine/routing"
)

func TestCancelWhileRinging(t *testing.T) {
	p := newPBX(t, nil)
	_, wait := p.callee("202", phone.AnswerOptions{Delay: 3 * time.Second})
	a := p.phone("201")
	s := p.call(a, "202", phone.CallOptions{CancelAfter: 300 * time.Millisecond, Expect: 487})
	if s.FinalCode != 487 {
		t.Fatalf("caller final %d, codes %+v", s.FinalCode, s.Codes)
	}
	ev := p.waitEnd()
	if ev.Data["disposition"] != DispNoAnswer || ev.Data["hangup_by"] != ByCaller {
		t.Errorf("call.end %v", ev.Data)
	}
	got := wait()
	if len(got) != 1 || got[0].State != phone.StateCancelled {
		t.Errorf("callee should see the call cancelled: %+v", got)
	}
	p.idle()
}

func TestBusyAndFallback(t *testing.T) {
	tests := []struct {
		name      string
		answer    phone.AnswerOptions
		fallback  string
		want      int
		wantDisp  string
		wantCause string // "": not checked
	}{
		{name: "busy", answer: phone.AnswerOptions{Reject: 486}, want: 486, wantDisp: DispBusy, wantCause: "busy"},
		{name: "busy to fallback", answer: phone.AnswerOptions{Reject: 486}, fallback: "user:203", want: 200, wantDisp: DispAnswered},
		{name: "no answer to fallback", answer: phone.AnswerOptions{Delay: 10 * time.Second}, fallback: "user:203", want: 200, wantDisp: DispAnswered},
		{name: "not registered", want: 480, wantDisp: DispNoAnswer, wantCause: "not_registered"},
		{name: "fallback reject", answer: phone.AnswerOptions{Reject: 486}, fallback: "reject:404", want: 404, wantDisp: DispRejected},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newPBX(t, func(s *fakeSnap, _ *Config) {
				e := s.exts["202"]
				e.Fallback, e.RingSeconds = tc.fallback, 1
				s.exts["202"] = e
			})
			if tc.name != "not registered" {
				_, wait := p.callee("202", tc.answer)
				defer wait()
			}
			if strings.HasPrefix(tc.fallback, "user:") {
				_, wait3 := p.callee("203", phone.AnswerOptions{HangupAfter: 50 * time.Millisecond})
				defer wait3()
			}
			s := p.call(p.phone("201"), "202", phone.CallOptions{Expect: tc.want})
			if s.FinalCode != tc.want {
				t.Fatalf("final %d want %d: %+v", s.FinalCode, tc.want, s.Codes)
			}
			if ev := p.waitEnd(); ev.Data["disposition"] != tc.wantDisp ||
				tc.wantCause != "" && ev.Data["hangup_cause"] != tc.wantCause {
				t.Errorf("call.end %v, want %s (%s)", ev.Data, tc.wantDisp, tc.wantCause)
			}
		})
	}
}

func TestGroups(t *testing.T) {
	tests := []struct {
		name     string
		strategy string
		answers  map[string]phone.AnswerOptions
		want     int
		answered []string // members whose summary must be completed
	}{
		{name: "ringall first answer wins", strategy: "ringall", answers: map[string]phone.AnswerOptions{
			"202": {Delay: 2 * time.Second}, "203": {Delay: 100 * time.Millisecond, HangupAfter: 50 * time.Millisecond}, "204": {Reject: 486}},
			want: 200, answered: []string{"203"}},
		{name: "hunt moves on", strategy: "hunt", answers: map[string]phone.AnswerOptions{
			"202": {Reject: 486}, "203": {Delay: 5 * time.Second}, "204": {HangupAfter: 50 * time.Millisecond}},
			want: 200, answered: []string{"204"}},
		{name: "ringall all busy", strategy: "ringall", answers: map[string]phone.AnswerOptions{
			"202": {Reject: 486}, "203": {Reject: 486}, "204": {Reject: 486}}, want: 480},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newPBX(t, func(s *fakeSnap, _ *Config) {
				s.groups["600"] = Group{Number: "600", Strategy: tc.strategy, Members: []string{"202", "203", "204"}, RingSeconds: 1}
				s.decide = func(c *routing.Call) routing.Decision {
					return routing.Decision{Target: routing.Target{Kind: routing.TargetGroup, Arg: "600"}, Number: c.To}
				}
			})
			waits := map[string]func() []phone.Summary{}
			for _, n := range []string{"202", "203", "204"} {
				_, waits[n] = p.callee(n, tc.answers[n])
			}
			s := p.call(p.phone("201"), "600", phone.CallOptions{Expect: tc.want, HangupAfter: 0})
			if s.FinalCode != tc.want {
				t.Fatalf("final %d want %d: %+v", s.FinalCode, tc.want, s.Codes)
			}
			p.waitEnd()
			for _, n := range tc.answered {
				got := waits[n]()
				if len(got) != 1 || got[0].State != phone.StateCompleted {
					t.Errorf("member %s: %+v", n, got)
				}
			}
			p.idle()
		})
	}
}

func TestGatewayFailover(t *testing.T) {
	var p *pbx
	p = newPBX(t, func(s *fakeSnap, _ *Config) {
		s.decide = func(c *routing.Call) routing.Decision {
			return routing.Decision{Target: routing.Target{Kind: routing.TargetGateway, Arg: "bad,good"}, Number: "3471234567"}
		}
	})
	bad, waitBad := p.callee("bad", phone.AnswerOptions{Reject: 503})
	good, waitGood := p.callee("good", phone.AnswerOptions{HangupAfter: 50 * time.Millisecond})
	p.snap.setTrunk(Trunk{ID: "bad", Host: strings.TrimPrefix(bad.Addr(), "udp:")})
	p.snap.setTrunk(Trunk{ID: "good", Host: strings.TrimPrefix(good.Addr(), "udp:")})
	s := p.call(p.phone("201"), "3471234567", phone.CallOptions{})
	if s.FinalCode != 200 {
		t.Fatalf("final %d: %+v", s.FinalCode, s.Codes)
	}
	if ev := p.waitEnd(); ev.Data["gateway"] != "good" || ev.Data["disposition"] != DispAnswered {
		t.Errorf("call.end %v", ev.Data)
	}
	if got := waitBad(); len(got) != 1 || got[0].FinalCode != 503 {
		t.Errorf("bad trunk: %+v", got)
	}
	if got := waitGood(); len(got) != 1 || got[0].State != phone.StateCompleted {
		t.Errorf("good trunk: %+v", got)
	}
	p.idle()
}

func TestAdmission(t *testing.T) {
	tests := []struct {
		name      string
		user      string
		password  string
		trunkIP   bool
		want      int
		reachesGW bool
	}{
		{name: "trunk address accepted", user: "0612345678", trunkIP: true, want: 200},
		{name: "unknown address forbidden", user: "0612345678", want: 403},
		{name: "wrong password never reaches a gateway", user: "201", password: "nope", want: 403},
		{name: "extension reaches the gateway", user: "201", password: "pw201", want: 200, reachesGW: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newPBX(t, func(s *fakeSnap, _ *Config) {
				if tc.trunkIP {
					s.trunks["in"] = Trunk{ID: "in", Company: "acme"}
					s.from[netip.MustParseAddr("127.0.0.1")] = "in"
				}
				s.decide = func(c *routing.Call) routing.Decision {
					if c.CallerType == routing.External {
						return routing.Decision{Target: routing.Target{Kind: routing.TargetUser, Arg: "202"}}
					}
					return routing.Decision{Target: routing.Target{Kind: routing.TargetGateway, Arg: "gw"}, Number: c.To}
				}
			})
			gw, waitGW := p.callee("gw", phone.AnswerOptions{HangupAfter: 50 * time.Millisecond})
			p.snap.setTrunk(Trunk{ID: "gw", Host: strings.TrimPrefix(gw.Addr(), "udp:")})
			_, wait202 := p.callee("202", phone.AnswerOptions{HangupAfter: 50 * time.Millisecond})
			ph, err := phone.New(phone.Config{Server: "udp:" + p.addr, User: tc.user, Password: tc.password, Log: testLog()})
			if err != nil {
				t.Fatal(err)
			}
			defer ph.Close()
			s := p.call(ph, "0733811720", phone.CallOptions{Expect: tc.want})
			if s.FinalCode != tc.want {
				t.Fatalf("final %d want %d: %+v", s.FinalCode, tc.want, s.Codes)
			}
			if tc.want == 200 {
				p.waitEnd()
				if tc.trunkIP {
					wait202()
				}
			}
			if !tc.reachesGW {
				time.Sleep(200 * time.Millisecond)
				p.stop["gw"]()
			}
			got := waitGW()
			if reached := len(got) > 0; reached != tc.reachesGW {
				t.Errorf("gateway reached=%v want %v", reached, tc.reachesGW)
			}
			if tc.password == "nope" {
				if e := p.bans.List(); len(e) != 1 || e[0].Failures != 1 {
					t.Errorf("wrong password not counted: %+v", e)
				}
			}
		})
	}
}

func TestBanAfterFailures(t *testing.T) {
	p := newPBX(t, nil) // bans after 3 failures
	bad, err := phone.New(phone.Config{Server: "udp:" + p.addr, User: "201", Password: "wrong", Log: testLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	for i := range 3 {
		if s := p.call(bad, "202", phone.CallOptions{Expect: 403}); s.FinalCode != 403 {
			t.Fatalf("attempt %d: final %d", i, s.FinalCode)
		}
	}
	list := p.bans.List()
	if len(list) != 1 || !list[0].Banned || list[0].IP != "127.0.0.1" {
		t.Fatalf("address not banned: %+v", list)
	}
	// Banned: even the right password is refused, before any challenge.
	s := p.call(p.phone("201"), "202", phone.CallOptions{Expect: 403})
	if s.FinalCode != 403 || sawCode(s, 407) {
		t.Fatalf("banned caller: %+v", s.Codes)
	}
}
