package mediacall

import (
	"testing"

	"luapbx/engine/call"
)

// FuzzRewriteSDP feeds outside SDP as the caller's offer and as the
// callee's answer: no panic, an error or an SDP, and every port back.
func FuzzRewriteSDP(f *testing.F) {
	f.Add(sdpFor(4000, "0 8"), sdpFor(4002, "8"))
	f.Add(sdpFor(4000, "9"), []byte("v=0"))
	a := newAnchor(f, nil)
	f.Fuzz(func(t *testing.T, offer, answer []byte) {
		c := &call.Call{ID: "fuzz"}
		if out, err := a.RewriteSDPErr(c, "b", offer); err == nil && len(offer) > 0 && len(out) == 0 {
			t.Fatal("empty offer out")
		}
		_, _ = a.RewriteSDPErr(c, "a", answer)
		a.OnEnd(call.End{Call: c})
		if a.InUse() != 0 {
			t.Fatalf("%d ports in use", a.InUse())
		}
	})
}
