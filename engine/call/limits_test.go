package call

import (
	"context"
	"strings"
	"testing"
	"time"

	"luapbx/engine/phone"
	"luapbx/engine/routing"
)

func TestLimits(t *testing.T) {
	tests := []struct {
		name  string
		tweak func(*fakeSnap, *Config)
	}{
		{name: "system max_calls", tweak: func(_ *fakeSnap, c *Config) { c.MaxCalls = 1 }},
		{name: "extension max_calls", tweak: func(s *fakeSnap, _ *Config) {
			e := s.exts["201"]
			e.MaxCalls = 1
			s.exts["201"] = e
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newPBX(t, tc.tweak)
			_, wait := p.callee("202", phone.AnswerOptions{Count: 2, Delay: 5 * time.Second})
			a1, a2 := p.phone("201"), p.phone("201")
			first := make(chan phone.Summary, 1)
			ctx, cancel := context.WithCancel(context.Background())
			go func() {
				s, _ := a1.Call(ctx, "202", phone.CallOptions{CancelAfter: 3 * time.Second})
				first <- s
			}()
			deadline := time.Now().Add(5 * time.Second)
			for p.m.Active() == 0 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			s := p.call(a2, "202", phone.CallOptions{Expect: 503})
			if s.FinalCode != 503 {
				t.Errorf("second call: final %d want 503: %+v", s.FinalCode, s.Codes)
			}
			cancel()
			<-first
			p.waitEnd()
			p.idle()
			p.stop["202"]()
			wait()
		})
	}
}

func TestTrunkMaxCallsFailsOver(t *testing.T) {
	p := newPBX(t, func(s *fakeSnap, _ *Config) {
		s.decide = func(c *routing.Call) routing.Decision {
			return routing.Decision{Target: routing.Target{Kind: routing.TargetGateway, Arg: "small,big"}, Number: "0612345678"}
		}
	})
	small, waitSmall := p.callee("small", phone.AnswerOptions{Count: 2, Delay: 3 * time.Second})
	big, waitBig := p.callee("big", phone.AnswerOptions{HangupAfter: 20 * time.Millisecond})
	p.snap.setTrunk(Trunk{ID: "small", Host: strings.TrimPrefix(small.Addr(), "udp:"), MaxCalls: 1})
	p.snap.setTrunk(Trunk{ID: "big", Host: strings.TrimPrefix(big.Addr(), "udp:")})
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan phone.Summary, 1)
	go func() {
		s, _ := p.phone("201").Call(ctx, "0612345678", phone.CallOptions{CancelAfter: 2 * time.Second})
		first <- s
	}()
	for range 300 {
		if p.m.inUse("trunk:small") == 1 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	s := p.call(p.phone("202"), "0612345678", phone.CallOptions{})
	if s.FinalCode != 200 {
		t.Fatalf("second call should go out through big: %+v", s.Codes)
	}
	if ev := p.waitEnd(); ev.Data["gateway"] != "big" {
		t.Errorf("call.end %v", ev.Data)
	}
	cancel()
	<-first
	p.waitEnd()
	p.stop["small"]()
	waitSmall()
	waitBig()
	p.idle()
}
