package call

import (
	"sync/atomic"
	"testing"
	"time"

	"luapbx/engine/phone"
)

// WantEvents false: no event is built or sent, and the call still ends
// (OnEnd); true, or unset: every event goes out.
func TestWantEvents(t *testing.T) {
	tests := []struct {
		name      string
		want      func(bool) bool // nil: unset
		wantSent  bool
		wantAsked bool
	}{
		{"unset sends", nil, true, false},
		{"wanted sends", func(bool) bool { return true }, true, true},
		{"unwanted skips", func(bool) bool { return false }, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var asked atomic.Int32
			ended := make(chan End, 1)
			p := newPBX(t, func(_ *fakeSnap, c *Config) {
				if tc.want != nil {
					c.WantEvents = func(integ bool) bool {
						asked.Add(1)
						return tc.want(integ)
					}
				}
				c.OnEnd = func(e End) { ended <- e }
			})
			_, wait := p.callee("202", phone.AnswerOptions{Delay: 20 * time.Millisecond})
			s := p.call(p.phone("201"), "202", phone.CallOptions{HangupAfter: 50 * time.Millisecond})
			if s.FinalCode != 200 {
				t.Fatalf("caller: final %d codes %+v err %s", s.FinalCode, s.Codes, s.Error)
			}
			wait()
			select {
			case e := <-ended:
				if e.Disposition != DispAnswered {
					t.Errorf("ended %s", e.Disposition)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("call did not end")
			}
			p.idle()
			p.ev.mu.Lock()
			n := len(p.ev.evs)
			p.ev.mu.Unlock()
			if sent := n > 0; sent != tc.wantSent {
				t.Errorf("%d events sent, want sent=%v", n, tc.wantSent)
			}
			if tc.wantSent && n < 4 { // start, routed, answered, end
				t.Errorf("only %d events sent", n)
			}
			if got := asked.Load() > 0; got != tc.wantAsked {
				t.Errorf("WantEvents asked %d times", asked.Load())
			}
		})
	}
}
