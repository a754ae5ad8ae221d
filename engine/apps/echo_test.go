package apps

import (
	"bytes"
	"context"
	"testing"
	"time"

	"luapbx/media/correlate"
	"luapbx/media/dtmf"
	"luapbx/media/g711"
)

func TestEchoReturnsAudioAndEvents(t *testing.T) {
	tests := []struct {
		name  string
		codec uint8
	}{
		{"pcmu", g711.PTPCMU},
		{"pcma", g711.PTPCMA},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, tc.codec)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- Echo(ctx, r.s) }()
			if !waitFor(time.Second, func() bool { return r.s.busy.Load() }) {
				t.Fatal("echo did not start")
			}
			sentc := make(chan []int16, 1)
			r.ph.script(func() { sentc <- r.ph.sendPCM(correlate.TestSignal(8000, 3)) }, r.ph.digit('5'))
			sent := <-sentc
			if !waitFor(2*time.Second, func() bool { return countEvents(r.ph.received()) >= 7 }) {
				t.Fatalf("phone got %d events back", countEvents(r.ph.received()))
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("Echo: %v", err)
			}
			var audio int
			var events []rtpPkt
			var echoed []int16 // what came back, without the silence sent while the phone was quiet
			for _, k := range r.ph.received() {
				switch {
				case k.pt == tc.codec && bytes.Equal(k.payload, silenceFrame(tc.codec)):
				case k.pt == tc.codec:
					audio++
					echoed = append(echoed, decode(k.pt, k.payload)...)
				case k.pt == eventPT:
					events = append(events, k)
				default:
					t.Errorf("echoed payload type %d", k.pt)
				}
			}
			if audio < 48 {
				t.Errorf("%d of 50 audio frames echoed", audio)
			}
			assertCorrelates(t, sent, echoed, 400)
			for i, k := range events {
				ev, err := dtmf.Parse(k.payload)
				if err != nil || ev.Code != 5 || k.marker != (i == 0) || k.ts != events[0].ts {
					t.Errorf("event %d: %+v marker %v ts %d (%v)", i, ev, k.marker, k.ts, err)
				}
			}
			if st := r.s.Stats(); st.Digits != 1 {
				t.Errorf("session saw %d digits, want 1", st.Digits)
			}
		})
	}
}

func countEvents(ks []rtpPkt) int {
	n := 0
	for _, k := range ks {
		if k.pt == eventPT {
			n++
		}
	}
	return n
}
