package call

import (
	"testing"
	"time"

	"luapbx/engine/phone"
)

// TestOrderingRaces provokes sipgo's ordering races on purpose: every call
// must end cleanly (one call.end, no call or limit slot left over).
func TestOrderingRaces(t *testing.T) {
	n := 50
	if testing.Short() {
		n = 10
	}
	tests := []struct {
		name   string
		answer phone.AnswerOptions
		call   phone.CallOptions
		wantBy string // who hung up an answered call ("": either)
	}{
		{name: "180 then 200 at once", answer: phone.AnswerOptions{Count: n, HangupAfter: 10 * time.Millisecond}},
		{name: "callee BYE right after 200", answer: phone.AnswerOptions{Count: n, HangupAfter: time.Microsecond}, wantBy: ByCallee},
		// The caller's ACK and BYE leave back to back: the BYE can be
		// handled first, and the call is still the caller's hang-up.
		{name: "caller BYE right after 200", answer: phone.AnswerOptions{Count: n}, call: phone.CallOptions{HangupAfter: time.Microsecond},
			wantBy: ByCaller},
		{name: "CANCEL crossing 200", answer: phone.AnswerOptions{Count: n, Delay: 30 * time.Millisecond, HangupAfter: 20 * time.Millisecond},
			call: phone.CallOptions{CancelAfter: 30 * time.Millisecond, HangupAfter: 10 * time.Millisecond}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newPBX(t, nil)
			_, wait := p.callee("202", tc.answer)
			a := p.phone("201")
			reached := 0
			for i := range n {
				s := p.call(a, "202", tc.call)
				if s.FinalCode == 407 && tc.call.CancelAfter > 0 {
					// Under load the caller's timer can fire before it
					// answered the challenge: no call reached the PBX.
					continue
				}
				reached++
				if s.FinalCode != 200 && s.FinalCode != 487 {
					t.Fatalf("call %d: final %d codes %+v error %q", i, s.FinalCode, s.Codes, s.Error)
				}
				ev := p.waitEnd()
				d := ev.Data["disposition"]
				if d != DispAnswered && d != DispNoAnswer {
					t.Fatalf("call %d: call.end %v", i, ev.Data)
				}
				if (s.FinalCode == 200) != (d == DispAnswered) {
					t.Fatalf("call %d: caller saw %d, pbx says %v", i, s.FinalCode, d)
				}
				if by := ev.Data["hangup_by"]; tc.wantBy != "" && by != tc.wantBy {
					t.Errorf("call %d: hangup by %v (cause %v), want %s", i, by, ev.Data["hangup_cause"], tc.wantBy)
				}
			}
			if reached < n/2 {
				t.Errorf("only %d of %d calls reached the PBX", reached, n)
			}
			p.idle()
			p.stop["202"]()
			wait()
		})
	}
}
