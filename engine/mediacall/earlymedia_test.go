package mediacall

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"luapbx/engine/call"
	"luapbx/engine/routing"
	"luapbx/media/recorder"
)

// TestRecordingStartsAtAnswer: early media (183 with SDP) starts the
// relay, but the recording starts with the answer.
func TestRecordingStartsAtAnswer(t *testing.T) {
	dir := t.TempDir()
	a := newAnchor(t, func(o *Options) { o.RecordingsDir = dir })
	c := &call.Call{ID: "early-media", Start: time.Now(),
		Decision: routing.Decision{Record: true, Rule: "r"}}
	caller, callee := udp(t), udp(t)
	if _, err := a.RewriteSDPErr(c, "b", sdpFor(port(caller), "0")); err != nil {
		t.Fatal(err)
	}
	// The 183's SDP: the relay runs (early media reaches the caller).
	toA, err := a.RewriteSDPErr(c, "a", sdpFor(port(callee), "0"))
	if err != nil {
		t.Fatal(err)
	}
	ourA := anchoredPort(t, toA)
	if _, err := caller.WriteToUDPAddrPort(rtpPacket(1), ourA); err != nil {
		t.Fatal(err)
	}
	path := recorder.Path(dir, c.Start, c.ID)
	time.Sleep(100 * time.Millisecond)
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("recording started with early media: %v", err)
	}
	a.Answered(c) // the caller ACKed the 200
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("no recording after the answer: %v", err)
	}
	a.Answered(c) // a second answer does not start another
	if got := a.OnEnd(call.End{Call: c}); got != path {
		t.Errorf("recording %q, want %q", got, path)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(path), c.ID+".json")); err != nil {
		t.Errorf("no sidecar: %v", err)
	}
	if a.InUse() != 0 {
		t.Errorf("%d ports in use", a.InUse())
	}
}
