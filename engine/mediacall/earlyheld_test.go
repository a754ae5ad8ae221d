package mediacall

import (
	"math"
	"path/filepath"
	"testing"
	"time"

	"luapbx/engine/apps"
	"luapbx/engine/call"
	"luapbx/engine/phone"
	"luapbx/media/correlate"
)

// TestEarlyMediaToAnsweredCaller: a callee an IVR choice rings plays an
// announcement in early media (183 with SDP): the caller, answered by the
// IVR, hears it instead of the ring-back, whether the callee then rejects
// (the call ends busy) or answers (the relay takes over on the same port).
func TestEarlyMediaToAnsweredCaller(t *testing.T) {
	for _, tc := range []struct {
		name     string
		digit    string
		callee   string
		answer   phone.AnswerOptions
		wantDisp string
	}{
		{name: "announcement then busy", digit: "4", callee: "204",
			answer: phone.AnswerOptions{EarlyMedia: true, Delay: 2500 * time.Millisecond, Reject: 486}, wantDisp: call.DispBusy},
		{name: "announcement then answer", digit: "2", callee: "202",
			answer: phone.AnswerOptions{EarlyMedia: true, Delay: 1500 * time.Millisecond, HangupAfter: 1500 * time.Millisecond}, wantDisp: call.DispAnswered},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := ivrPBX(t, false)
			sig := correlate.TestSignal(2*8000, 71)
			wait := p.callee(tc.callee, p.phone(tc.callee, phone.MediaOptions{Play: sig}), tc.answer)
			recA := filepath.Join(t.TempDir(), "a.wav")
			a := p.phone("201", phone.MediaOptions{DTMF: tc.digit, Record: recA})
			s := p.call(a, "800", phone.CallOptions{})
			if s.FinalCode != 200 || s.State != phone.StateCompleted || s.HangupBy != "remote" {
				t.Fatalf("caller: %d %s by %s (%s)", s.FinalCode, s.State, s.HangupBy, s.Error)
			}
			bs := wait()
			if bs.Codes[len(bs.Codes)-1].Code == 0 {
				t.Fatalf("callee %+v", bs)
			}
			e := p.waitEnd()
			if e.Disposition != tc.wantDisp {
				t.Errorf("end: %s by %s cause %s", e.Disposition, e.By, e.Cause)
			}
			got, _ := readWAV(t, recA)
			// The announcement's first second came well before any answer
			// (at 1.5 s): the hand-over to the relay, where a loaded machine
			// may lose a packet or two, is not part of it.
			if c, lag := correlate.Best(sig[:8000], got, len(got)); c < 0.9 {
				t.Errorf("the caller did not hear the announcement: correlation %.3f (lag %d, %d samples)", c, lag, len(got))
			}
			p.idlePorts()
		})
	}
}

// TestEarlyMediaThenRingback: the first trunk of a gateway announces in
// early media and fails (503); while the next trunk rings (180, no SDP)
// the IVR caller hears the ring-back again, not silence.
func TestEarlyMediaThenRingback(t *testing.T) {
	p := ivrPBX(t, false)
	sig := correlate.TestSignal(3*8000, 72)
	waitBad := p.trunk("bad", phone.MediaOptions{Play: sig}, phone.AnswerOptions{EarlyMedia: true, Delay: 1500 * time.Millisecond, Reject: 503})
	waitGood := p.trunk("good", phone.MediaOptions{}, phone.AnswerOptions{Delay: 2500 * time.Millisecond, HangupAfter: 500 * time.Millisecond})
	recA := filepath.Join(t.TempDir(), "a.wav")
	a := p.phone("201", phone.MediaOptions{DTMF: "5", Record: recA})
	if s := p.call(a, "800", phone.CallOptions{}); s.FinalCode != 200 || s.State != phone.StateCompleted {
		t.Fatalf("caller: %d %s (%s)", s.FinalCode, s.State, s.Error)
	}
	if bad := waitBad(); bad.FinalCode != 503 {
		t.Errorf("bad trunk: %+v", bad)
	}
	waitGood()
	p.waitEnd()
	got, _ := readWAV(t, recA)
	c, lag := correlate.Best(sig[:8000], got, len(got))
	if c < 0.9 {
		t.Fatalf("the caller did not hear the announcement: correlation %.3f", c)
	}
	// The announcement lasts ~1.5 s from the 183; the next trunk rings 2.5 s.
	from := lag + 13000
	if from+8000 > len(got) {
		t.Fatalf("nothing heard after the announcement: %d samples recorded, the announcement at %d", len(got), lag)
	}
	ref := make([]int16, 4000)
	for i := range ref {
		ref[i] = int16(10000 * math.Sin(2*math.Pi*apps.RingbackHz*float64(i)/8000))
	}
	if c, _ := correlate.Best(ref, got[from:from+8000], 8000); c < 0.9 {
		t.Errorf("no ring-back after the announcement: correlation %.3f with 425 Hz", c)
	}
	p.idlePorts()
}

// TestEarlyMediaCallerSilent: while the callee's early media plays to an
// IVR-answered caller, the caller's own RTP is still watched: a caller
// that goes silent is hung up after rtp_timeout, not left ringing until
// ring_seconds.
func TestEarlyMediaCallerSilent(t *testing.T) {
	const timeout = 700 * time.Millisecond
	p := ivrPBX(t, false, func(o *Options) { o.RTPTimeout = timeout })
	sig := correlate.TestSignal(3*8000, 73)
	// 202 announces for 3 s, would answer after 4 s; its ring_seconds is 5.
	wait := p.callee("202", p.phone("202", phone.MediaOptions{Play: sig}),
		phone.AnswerOptions{EarlyMedia: true, Delay: 4 * time.Second, HangupAfter: time.Second})
	// The caller picks 2, sends 1 s of audio, then nothing.
	a := p.phone("201", phone.MediaOptions{DTMF: "2", Play: correlate.TestSignal(8000, 74)})
	start := time.Now()
	s := p.call(a, "800", phone.CallOptions{})
	el := time.Since(start)
	if s.FinalCode != 200 || s.State != phone.StateCompleted || s.HangupBy != "remote" {
		t.Fatalf("caller: %d %s by %s (%s)", s.FinalCode, s.State, s.HangupBy, s.Error)
	}
	e := p.waitEnd()
	if e.Cause != "rtp_timeout" || e.By != call.BySystem {
		t.Errorf("end: %s by %s cause %s, want rtp_timeout by the system", e.Disposition, e.By, e.Cause)
	}
	// DTMF and 1 s of audio, then the timeout: well before 202 answers at 4 s.
	if el < time.Second+timeout || el > 3500*time.Millisecond {
		t.Errorf("caller hung up after %v, want about %v", el, time.Second+timeout)
	}
	if bs := wait(); bs.State != phone.StateCancelled {
		t.Errorf("callee: %s (codes %+v), want cancelled while ringing", bs.State, bs.Codes)
	}
	p.idlePorts()
}
