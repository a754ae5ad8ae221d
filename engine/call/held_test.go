package call

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"luapbx/engine/phone"
	"luapbx/engine/routing"
)

// heldMedia stands in for engine/mediacall: it answers the caller itself
// (as an IVR does) and hands the call back with next; Bridge reports the
// callee's SDP.
type heldMedia struct {
	next    string
	fail    error // Bridge's result
	bridged chan []byte
}

// pbxSDP is the answer the fake IVR gives the caller (port 9: discard).
var pbxSDP = []byte("v=0\r\no=luapbx 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
	"m=audio 9 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")

func (h *heldMedia) Serve(_ context.Context, c *Call, _ routing.Target) (int, *routing.Target) {
	if err := c.AnswerCaller(pbxSDP); err != nil {
		return 0, nil
	}
	nt, err := routing.ParseTarget(h.next)
	if err != nil {
		return 500, nil
	}
	return 0, &nt
}

func (h *heldMedia) Bridge(_ *Call, sdp []byte) error {
	h.bridged <- bytes.Clone(sdp)
	return h.fail
}

// TestHeldCaller: a caller answered by the media layer rings the target
// it chose; it gets no second final response (nor the callee's 180), and
// the call ends with BYE on both sides.
func TestHeldCaller(t *testing.T) {
	tests := []struct {
		name       string
		next       string
		answer     phone.AnswerOptions
		call       phone.CallOptions
		bridgeErr  error
		wantBridge bool
		wantCaller string // who hung the caller's call up: local or remote
		wantCallee string // callee's final state
		wantEnd    map[string]any
	}{
		{name: "bridged, caller hangs up", next: "user:202", answer: phone.AnswerOptions{Delay: 50 * time.Millisecond},
			call: phone.CallOptions{HangupAfter: 400 * time.Millisecond}, wantBridge: true,
			wantCaller: "local", wantCallee: phone.StateCompleted,
			wantEnd: map[string]any{"disposition": DispAnswered, "hangup_by": ByCaller, "hangup_cause": "normal",
				"target": "user:202", "sip_code": 200, "answered_by": "202"}},
		{name: "bridged, callee hangs up", next: "user:202", answer: phone.AnswerOptions{HangupAfter: 200 * time.Millisecond},
			wantBridge: true, wantCaller: "remote", wantCallee: phone.StateCompleted,
			wantEnd: map[string]any{"disposition": DispAnswered, "hangup_by": ByCallee, "hangup_cause": "normal",
				"target": "user:202", "answered_by": "202"}},
		{name: "no answer", next: "user:203", answer: phone.AnswerOptions{Delay: 3 * time.Second},
			wantCaller: "remote", wantCallee: phone.StateCancelled,
			wantEnd: map[string]any{"disposition": DispNoAnswer, "hangup_by": BySystem, "hangup_cause": "no_answer",
				"target": "user:203", "sip_code": 200, "answered_by": nil}},
		{name: "busy", next: "user:202", answer: phone.AnswerOptions{Reject: 486},
			wantCaller: "remote", wantCallee: phone.StateRejected,
			wantEnd: map[string]any{"disposition": DispBusy, "hangup_by": ByCallee, "hangup_cause": "busy",
				"target": "user:202", "answered_by": nil}},
		{name: "bridge fails", next: "user:202", bridgeErr: errors.New("no media"), wantBridge: true,
			wantCaller: "remote", wantCallee: phone.StateCompleted,
			wantEnd: map[string]any{"disposition": DispAnswered, "hangup_by": BySystem, "hangup_cause": "media_failed",
				"answered_by": "202"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hm := &heldMedia{next: tc.next, fail: tc.bridgeErr, bridged: make(chan []byte, 1)}
			p := newPBX(t, func(s *fakeSnap, cfg *Config) {
				cfg.Media = hm
				s.exts["203"] = Extension{Number: "203", Company: "acme", RingSeconds: 1}
				s.decide = func(c *routing.Call) routing.Decision {
					return routing.Decision{Target: routing.Target{Kind: routing.TargetIVR, Arg: "main"}, Number: c.To}
				}
			})
			callee := tc.next[len("user:"):]
			_, wait := p.callee(callee, tc.answer)
			s := p.call(p.phone("201"), "800", tc.call)
			if s.FinalCode != 200 || s.State != phone.StateCompleted || s.HangupBy != tc.wantCaller {
				t.Fatalf("caller: %d %s by %s %+v %s", s.FinalCode, s.State, s.HangupBy, s.Codes, s.Error)
			}
			for _, c := range s.Codes {
				if c.Method == "INVITE" && c.Dir == "in" && c.Code > 100 && c.Code != 200 && c.Code != 407 {
					t.Errorf("the answered caller got %d", c.Code)
				}
			}
			if got := wait(); len(got) != 1 || got[0].State != tc.wantCallee {
				t.Errorf("callee: %+v", got)
			}
			select {
			case sdp := <-hm.bridged:
				if !tc.wantBridge || !bytes.Contains(sdp, []byte("m=audio")) {
					t.Errorf("bridged with %q", sdp)
				}
			default:
				if tc.wantBridge {
					t.Error("not bridged")
				}
			}
			ev := p.waitEnd()
			for k, v := range tc.wantEnd {
				if ev.Data[k] != v {
					t.Errorf("call.end %s = %v, want %v (%v)", k, ev.Data[k], v, ev.Data)
				}
			}
			if _, ok := ev.Data["answered_ms"]; !ok {
				t.Errorf("call.end without the answer of the media layer: %v", ev.Data)
			}
			p.idle()
		})
	}
}
