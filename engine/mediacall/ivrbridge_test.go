package mediacall

import (
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"luapbx/engine/apps"
	"luapbx/engine/call"
	"luapbx/engine/phone"
	"luapbx/engine/routing"
	"luapbx/media/correlate"
	"luapbx/media/player"
	"luapbx/media/recorder"
)

// ivrMenu is ivr:main, whose options lead to targets the call layer rings.
var ivrMenu = map[string]string{
	"2": "user:202",
	"3": "user:203", // rings, never answers (ring_seconds 1)
	"4": "user:204", // busy
	"5": "gateway:bad,good",
	"6": "user:205", // not answering, falls back to voicemail
	"7": "number:202",
}

func ivrPBX(t *testing.T, record bool, tweaks ...func(*Options)) *pbx {
	t.Helper()
	menu := player.NewPrompt("menu", player.Tone([]float64{440}, 300*time.Millisecond))
	p := newPBX(t, func(o *Options) {
		o.IVR = func(company, id string) (apps.IVRConfig, bool) {
			if company != "acme" || id != "main" {
				return apps.IVRConfig{}, false
			}
			return apps.IVRConfig{ID: id, Prompt: menu, Options: ivrMenu, Timeout: 5 * time.Second}, true
		}
		for _, tw := range tweaks {
			tw(o)
		}
	})
	p.snap.setExt(call.Extension{Number: "203", Company: "acme", RingSeconds: 1})
	p.snap.setExt(call.Extension{Number: "205", Company: "acme", RingSeconds: 1, Fallback: "voicemail:205"})
	p.snap.setDecide(func(c *routing.Call) routing.Decision {
		if c.To == "800" {
			return routing.Decision{Target: routing.Target{Kind: routing.TargetIVR, Arg: "main"}, Number: c.To,
				Rule: "ivr", Record: record}
		}
		return routing.Decision{Target: routing.Target{Kind: routing.TargetUser, Arg: c.To}, Number: c.To, Rule: "internal"}
	})
	return p
}

// silence prefixes sig with d of silence: the caller's audio then starts
// once the IVR choice is bridged.
func silence(d time.Duration, sig []int16) []int16 {
	return append(make([]int16, int(d*8000/time.Second)), sig...)
}

// trunk starts a phone standing for a trunk that answers as opts say.
func (p *pbx) trunk(id string, mo phone.MediaOptions, opts phone.AnswerOptions) func() phone.Summary {
	p.t.Helper()
	ph := p.phone(id, mo)
	p.snap.setTrunk(call.Trunk{ID: id, Company: "acme", Host: strings.TrimPrefix(ph.Addr(), "udp:")})
	return p.answer("trunk "+id, ph, opts)
}

// TestIVRBridge: an IVR choice that leads to a user or a gateway rings it
// like a normal call; the caller, answered by the IVR, is bridged to the
// callee on the RTP socket it already has (no re-INVITE).
func TestIVRBridge(t *testing.T) {
	for _, tc := range []struct {
		name        string
		digit       string
		calleeHangs bool // the callee hangs up; else the caller does
		gateway     bool
	}{
		{name: "user, caller hangs up", digit: "2"},
		{name: "user, callee hangs up", digit: "2", calleeHangs: true},
		{name: "number routed again", digit: "7"},
		{name: "gateway fails over", digit: "5", gateway: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := ivrPBX(t, true)
			dir := t.TempDir()
			sigA, sigB := correlate.TestSignal(8000, 51), correlate.TestSignal(8000, 52)
			recA, recB := filepath.Join(dir, "a.wav"), filepath.Join(dir, "b.wav")
			calleeMedia := phone.MediaOptions{Play: silence(300*time.Millisecond, sigB), Record: recB}
			calleeOpts := phone.AnswerOptions{}
			// Hang-ups leave room for phones whose 20 ms sender falls
			// behind on this loaded machine (their audio then ends late).
			callerOpts := phone.CallOptions{HangupAfter: 5500 * time.Millisecond}
			if tc.calleeHangs {
				calleeOpts.HangupAfter, callerOpts.HangupAfter = 5*time.Second, 0
			}
			var wait, waitBad func() phone.Summary
			if tc.gateway {
				waitBad = p.trunk("bad", phone.MediaOptions{}, phone.AnswerOptions{Reject: 503})
				wait = p.trunk("good", calleeMedia, calleeOpts)
			} else {
				wait = p.callee("202", p.phone("202", calleeMedia), calleeOpts)
			}
			a := p.phone("201", phone.MediaOptions{DTMF: tc.digit, Play: silence(1500*time.Millisecond, sigA), Record: recA})
			s := p.call(a, "800", callerOpts)
			bs := wait()
			if s.FinalCode != 200 || bs.FinalCode != 200 || s.State != phone.StateCompleted {
				t.Fatalf("caller %d %s (%s), callee %d (%s)", s.FinalCode, s.State, s.Error, bs.FinalCode, bs.Error)
			}
			if n := strings.Count(codes(s), "in:INVITE:200"); n != 1 {
				t.Errorf("the caller saw %d INVITE responses (a re-INVITE?): %s", n, codes(s))
			}
			wantBy, phoneBy := call.ByCaller, "local"
			if tc.calleeHangs {
				wantBy, phoneBy = call.ByCallee, "remote"
			}
			if s.HangupBy != phoneBy {
				t.Errorf("caller hangup_by %q, want %q", s.HangupBy, phoneBy)
			}
			gotA, _ := readWAV(t, recA)
			gotB, _ := readWAV(t, recB)
			if c, lag := correlate.Best(sigA, gotB, 3*8000); c < 0.9 {
				t.Errorf("callee heard the caller: correlation %.3f (lag %d, %d samples; caller %+v, callee %+v)",
					c, lag, len(gotB), s.Media, bs.Media)
			}
			if c, lag := correlate.Best(sigB, gotA, 3*8000); c < 0.9 {
				t.Errorf("caller heard the callee: correlation %.3f (lag %d)", c, lag)
			}
			e := p.waitEnd()
			wantTarget := "user:202"
			switch {
			case tc.gateway:
				wantTarget = "gateway:bad,good"
				if bad := waitBad(); bad.FinalCode != 503 {
					t.Errorf("bad trunk: %+v", bad)
				}
				if e.Gateway != "good" {
					t.Errorf("gateway %q", e.Gateway)
				}
			case tc.digit == "7":
				wantTarget = "user:202" // number:202 routed again
			}
			if e.Disposition != call.DispAnswered || e.By != wantBy || e.Cause != "normal" || e.Code != 200 ||
				e.Call.Decision.Target.String() != wantTarget {
				t.Errorf("end: %s by %s cause %s code %d target %s", e.Disposition, e.By, e.Cause, e.Code,
					e.Call.Decision.Target.String())
			}
			p.idlePorts()
			if tc.digit == "7" {
				return // number:202 was routed again: that decision does not record
			}
			// The recording covers the whole answered call. media/recorder
			// places frames by arrival time, so a sender stalled on this
			// loaded machine shifts the rest of a channel by a frame:
			// compare 250 ms pieces.
			path := recorder.Path(p.anchor.opts.RecordingsDir, e.Call.Start, e.Call.ID)
			pcm, _ := readWAV(t, path)
			if c := pieces(sigA, channel(pcm, 0)); c < 0.9 {
				t.Errorf("recording left channel vs caller: median %.3f", c)
			}
			if c := pieces(sigB, channel(pcm, 1)); c < 0.9 {
				t.Errorf("recording right channel vs callee: median %.3f", c)
			}
			// It starts when the IVR answered the caller: the answered time,
			// IVR and ringing included. The call's end is when the hang-up
			// was decided and the recording stops a moment later, when the
			// call's media is released (a few ms; more on a loaded
			// machine): well within the 0.1 s the media issue allows.
			length := time.Duration(len(pcm)/2) * time.Second / 8000
			if d := length - e.End.Sub(e.Answered); d > 50*time.Millisecond || d < -100*time.Millisecond {
				t.Errorf("recording of %v for an answered time of %v", length, e.End.Sub(e.Answered))
			}
		})
	}
}

// TestIVRChoiceUnanswered: a choice that does not answer ends the call
// with BYE to the caller (it had its 200 from the IVR), the CDR saying why.
func TestIVRChoiceUnanswered(t *testing.T) {
	for _, tc := range []struct {
		name        string
		digit       string
		callee      string
		answer      phone.AnswerOptions
		callerHangs time.Duration
		wantCause   string
		wantDisp    string
		wantBy      string
		wantTarget  string
		wantCallee  string // the callee's final state
	}{
		{name: "no answer", digit: "3", callee: "203", answer: phone.AnswerOptions{Delay: 5 * time.Second},
			wantCause: "no_answer", wantDisp: call.DispNoAnswer, wantBy: call.BySystem, wantTarget: "user:203", wantCallee: phone.StateCancelled},
		{name: "busy", digit: "4", callee: "204", answer: phone.AnswerOptions{Reject: 486},
			wantCause: "busy", wantDisp: call.DispBusy, wantBy: call.ByCallee, wantTarget: "user:204", wantCallee: phone.StateRejected},
		{name: "caller hangs up while it rings", digit: "3", callee: "203", answer: phone.AnswerOptions{Delay: 5 * time.Second},
			callerHangs: 900 * time.Millisecond, wantCause: "cancel", wantDisp: call.DispNoAnswer, wantBy: call.ByCaller, wantTarget: "user:203",
			wantCallee: phone.StateCancelled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := ivrPBX(t, false)
			wait := p.callee(tc.callee, p.phone(tc.callee, phone.MediaOptions{}), tc.answer)
			recA := filepath.Join(t.TempDir(), "a.wav")
			a := p.phone("201", phone.MediaOptions{DTMF: tc.digit, Record: recA})
			s := p.call(a, "800", phone.CallOptions{HangupAfter: tc.callerHangs})
			wantHangup := "remote"
			if tc.callerHangs > 0 {
				wantHangup = "local"
			}
			if s.FinalCode != 200 || s.State != phone.StateCompleted || s.HangupBy != wantHangup {
				t.Fatalf("caller: %d %s by %s (%s)", s.FinalCode, s.State, s.HangupBy, s.Error)
			}
			if bs := wait(); bs.State != tc.wantCallee {
				t.Errorf("callee state %s (%d)", bs.State, bs.FinalCode)
			}
			e := p.waitEnd()
			// The IVR answered (answer time, code 200); the disposition
			// says what became of the choice.
			if e.Disposition != tc.wantDisp || e.Cause != tc.wantCause || e.By != tc.wantBy || e.Code != 200 ||
				e.Answered.IsZero() || e.Call.Decision.Target.String() != tc.wantTarget {
				t.Errorf("end: %s by %s cause %s code %d answered %v target %s", e.Disposition, e.By, e.Cause, e.Code,
					e.Answered, e.Call.Decision.Target.String())
			}
			p.idlePorts()
			if tc.name != "no answer" {
				return
			}
			// The caller heard the menu, then the ring-back tone (425 Hz)
			// while 203 rang.
			got, _ := readWAV(t, recA)
			ref := make([]int16, 4000)
			for i := range ref {
				ref[i] = int16(10000 * math.Sin(2*math.Pi*apps.RingbackHz*float64(i)/8000))
			}
			if c, _ := correlate.Best(ref, got, len(got)); c < 0.9 {
				t.Errorf("no ring-back heard: correlation %.3f with 425 Hz", c)
			}
		})
	}
}

// TestIVRChoiceFallsBackToVoicemail: the chosen user does not answer and
// its fallback is voicemail, served on the leg the IVR answered.
func TestIVRChoiceFallsBackToVoicemail(t *testing.T) {
	p := ivrPBX(t, false)
	wait := p.callee("205", p.phone("205", phone.MediaOptions{}), phone.AnswerOptions{Delay: 5 * time.Second})
	sig := correlate.TestSignal(2*8000, 61)
	a := p.phone("201", phone.MediaOptions{DTMF: "6", Play: silence(2*time.Second, sig)})
	s := p.call(a, "800", phone.CallOptions{HangupAfter: 5 * time.Second})
	if s.FinalCode != 200 || s.State != phone.StateCompleted {
		t.Fatalf("caller: %d %s (%s)", s.FinalCode, s.State, s.Error)
	}
	wait()
	e := p.waitEnd()
	// The caller hangs up during the voicemail: the caller ended the call,
	// and the record names the fallback it ended in.
	if e.Disposition != call.DispAnswered || e.By != call.ByCaller || e.Cause != "normal" || e.Call.Decision.Target.String() != "voicemail:205" {
		t.Errorf("end: %s by %s cause %s target %s", e.Disposition, e.By, e.Cause, e.Call.Decision.Target.String())
	}
	files, _ := filepath.Glob(filepath.Join(p.anchor.opts.VoicemailDir, "205", "*.wav"))
	if len(files) != 1 {
		t.Fatalf("voicemail files %v", files)
	}
	got, _ := readWAV(t, files[0])
	if c, _ := correlate.Best(sig, got, 3*8000); c < 0.9 {
		t.Errorf("voicemail correlation %.3f (%d samples)", c, len(got))
	}
	p.idlePorts()
}

// pieces is the median over 250 ms pieces of sig of their best
// correlation in got.
func pieces(sig, got []int16) float64 {
	const n = 2000
	var cs []float64
	for off := 0; off+n <= len(sig); off += n {
		c, _ := correlate.Best(sig[off:off+n], got, 28000)
		cs = append(cs, c)
	}
	if len(cs) == 0 {
		return 0
	}
	slices.Sort(cs)
	return cs[len(cs)/2]
}

func codes(s phone.Summary) string {
	var b strings.Builder
	for _, c := range s.Codes {
		b.WriteString(c.Dir + ":" + c.Method + ":" + strconv.Itoa(c.Code) + " ")
	}
	return b.String()
}
