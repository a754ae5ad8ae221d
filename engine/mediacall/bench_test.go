package mediacall

import (
	"strconv"
	"testing"

	"luapbx/engine/call"
)

// BenchmarkRewriteCall is the signalling-side media cost of one call:
// two ports, the offer to the callee, the answer to the caller (relay
// started) and the end (relay stopped, ports back).
func BenchmarkRewriteCall(b *testing.B) {
	a := newAnchor(b, nil)
	offer, answer := sdpFor(4000, "0 8 101\r\na=rtpmap:101 telephone-event/8000"), sdpFor(4002, "8")
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		c := &call.Call{ID: strconv.Itoa(i)}
		if _, err := a.RewriteSDPErr(c, "b", offer); err != nil {
			b.Fatal(err)
		}
		if _, err := a.RewriteSDPErr(c, "a", answer); err != nil {
			b.Fatal(err)
		}
		a.OnEnd(call.End{Call: c})
	}
}
