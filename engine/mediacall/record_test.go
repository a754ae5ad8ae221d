package mediacall

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"luapbx/engine"
	"luapbx/engine/apps"
	"luapbx/engine/call"
	"luapbx/engine/phone"
	"luapbx/engine/routing"
	"luapbx/media/correlate"
	"luapbx/media/recorder"
	"luapbx/media/wav"
)

// TestRecordMediaTarget: a decision with record on a target the PBX
// answers itself (echo) records the call: the caller left, what the PBX
// sent right; OnEnd hands the path to the CDR, with a sidecar and a
// recording.done event.
func TestRecordMediaTarget(t *testing.T) {
	sig := correlate.TestSignal(8000, 23)
	dir := t.TempDir()
	events := make(chan engine.Event, 16)
	a := newAnchor(t, func(o *Options) {
		o.RecordingsDir = dir
		o.Events = func(ev engine.Event) { events <- ev }
	})
	leg := newFakeLeg(t, phone.MediaOptions{Play: sig})
	leg.hangupAfter(1500 * time.Millisecond)
	tg := routing.Target{Kind: routing.TargetApp, Arg: "echo"}
	c := &call.Call{ID: "rec-echo", Company: "acme", From: "201", To: "700", Start: time.Now(),
		Decision: routing.Decision{Target: tg, Number: "700", Rule: "echo", Record: true}}
	a.opts.Leg = func(*call.Call) (CallerLeg, bool) { return leg, true }
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if code, next := a.Serve(ctx, c, tg); code != 0 || next != nil {
		t.Fatalf("serve: %d, next %v", code, next)
	}
	path := a.OnEnd(call.End{Call: c})
	if want := recorder.Path(dir, c.Start, c.ID); path != want {
		t.Fatalf("OnEnd recording %q, want %q", path, want)
	}
	if again := a.OnEnd(call.End{Call: c}); again != "" {
		t.Errorf("a second OnEnd returned %q", again)
	}
	pcm, format := readWAV(t, path)
	if format != wav.Stereo8k {
		t.Fatalf("format %+v", format)
	}
	if c := pieces(sig[:8000], channel(pcm, 0)); c < 0.9 {
		t.Errorf("left channel vs what the caller sent: median %.3f", c)
	}
	if c := pieces(sig[:8000], channel(pcm, 1)); c < 0.9 {
		t.Errorf("right channel vs the echo: median %.3f", c)
	}
	if _, err := os.Stat(apps.SidecarPath(path)); err != nil {
		t.Errorf("sidecar: %v", err)
	}
	select {
	case ev := <-events:
		if ev.Type != "recording.done" || ev.Data["path"] != path {
			t.Errorf("event %s %v", ev.Type, ev.Data)
		}
	case <-time.After(time.Second):
		t.Error("no recording.done event")
	}
	if a.InUse() != 0 {
		t.Errorf("%d ports in use", a.InUse())
	}
}

// TestRecordIVRFallback: an IVR call that records keeps one recording
// while its choice rings and after it falls back to voicemail.
func TestRecordIVRFallback(t *testing.T) {
	p := ivrPBX(t, true)
	wait := p.callee("205", p.phone("205", phone.MediaOptions{}), phone.AnswerOptions{Delay: 5 * time.Second})
	sig := correlate.TestSignal(2*8000, 62)
	a := p.phone("201", phone.MediaOptions{DTMF: "6", Play: silence(2*time.Second, sig)})
	s := p.call(a, "800", phone.CallOptions{HangupAfter: 5 * time.Second})
	if s.FinalCode != 200 {
		t.Fatalf("caller: %d %s (%s)", s.FinalCode, s.State, s.Error)
	}
	wait()
	e := p.waitEnd()
	v, _ := p.recs.Load(e.Call.ID)
	path, _ := v.(string)
	if want := recorder.Path(p.anchor.opts.RecordingsDir, e.Call.Start, e.Call.ID); path != want {
		t.Fatalf("recording %q, want %q", path, want)
	}
	pcm, _ := readWAV(t, path)
	if c := pieces(sig, channel(pcm, 0)); c < 0.9 {
		t.Errorf("left channel vs the caller: median %.3f", c)
	}
	if got := time.Duration(len(pcm)/2) * time.Second / 8000; got < 4*time.Second {
		t.Errorf("recording of %v: the IVR, the ringing and the voicemail last ~5 s", got)
	}
	files, _ := filepath.Glob(filepath.Join(p.anchor.opts.RecordingsDir, "*", "*", "*", "*.wav"))
	if len(files) != 1 {
		t.Errorf("recordings %v, want one", files)
	}
	p.idlePorts()
}
