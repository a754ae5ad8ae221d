package mediacall

import (
	"testing"

	"luapbx/media/rtprelay"
)

// The totals count a source while it is live and once at its end; a hand-
// over moves its counters to the relay without counting them twice.
func TestRTPTotals(t *testing.T) {
	var tot rtpTotals
	ep, relay := new(int), new(int) // stand-ins for an endpoint and a relay
	epIn, epOut := uint64(10), uint64(7)
	tot.track(ep, func() (uint64, uint64) { return epIn, epOut })
	if s := tot.sum(); s.PacketsIn != 10 || s.PacketsOut != 7 {
		t.Fatalf("live endpoint: %+v", s)
	}
	// The relay carries the endpoint's counters on, plus its leg B.
	tot.swap(ep, relay, func() (uint64, uint64) { return epIn + 5, epOut + 5 })
	if s := tot.sum(); s.PacketsIn != 15 || s.PacketsOut != 12 {
		t.Fatalf("after the hand-over: %+v", s)
	}
	tot.end(ep, rtprelay.Stats{PacketsIn: 99}) // handed over: adds nothing
	tot.end(relay, rtprelay.Stats{PacketsIn: 12, PacketsOut: 10, Lost: 2, Overflow: 1},
		rtprelay.Stats{PacketsIn: 4, PacketsOut: 3, Lost: -1})
	s := tot.sum()
	if want := (RTPStats{PacketsIn: 16, PacketsOut: 13, Lost: 2, Overflow: 1}); s != want {
		t.Fatalf("after the end: %+v, want %+v", s, want)
	}
	tot.end(relay, rtprelay.Stats{PacketsIn: 12}) // twice: nothing more
	if again := tot.sum(); again != s {
		t.Fatalf("a second end counted again: %+v", again)
	}
}
