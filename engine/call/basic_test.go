package call

import (
	"testing"
	"time"

	"luapbx/engine/phone"
)

func TestBasicCall(t *testing.T) {
	tests := []struct {
		name      string
		callerBye bool
		wantBy    string
	}{
		{name: "caller hangs up", callerBye: true, wantBy: ByCaller},
		{name: "callee hangs up", callerBye: false, wantBy: ByCallee},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newPBX(t, nil)
			ao := phone.AnswerOptions{Delay: 50 * time.Millisecond}
			co := phone.CallOptions{}
			if tc.callerBye {
				co.HangupAfter = 100 * time.Millisecond
			} else {
				ao.HangupAfter = 100 * time.Millisecond
			}
			_, wait := p.callee("202", ao)
			a := p.phone("201")
			s := p.call(a, "202", co)
			if s.FinalCode != 200 || s.State != phone.StateCompleted {
				t.Fatalf("caller: final %d state %s codes %+v err %s", s.FinalCode, s.State, s.Codes, s.Error)
			}
			if !sawCode(s, 407) || !sawCode(s, 180) {
				t.Errorf("caller should see 407 then 180: %+v", s.Codes)
			}
			got := wait()
			if len(got) != 1 || got[0].State != phone.StateCompleted {
				t.Fatalf("callee summaries: %+v", got)
			}
			ev := p.waitEnd()
			if ev.Data["disposition"] != DispAnswered || ev.Data["hangup_by"] != tc.wantBy {
				t.Errorf("call.end: %v", ev.Data)
			}
			p.idle()
		})
	}
}

func sawCode(s phone.Summary, code int) bool {
	for _, c := range s.Codes {
		if c.Code == code && c.Dir == "in" {
			return true
		}
	}
	return false
}
