package mediacall

import (
	"sync"

	"luapbx/media/rtprelay"
)

// RTPStats counts the RTP of every call: packets in and out as they flow,
// relayed or to and from the PBX's own media (IVR, voicemail, echo, early
// media); loss and overflow once each relay or endpoint has ended (loss can
// still shrink while late packets arrive, and overflow is read from the
// socket at the end).
type RTPStats struct {
	PacketsIn, PacketsOut, Lost uint64
	// Overflow: datagrams the kernel dropped for a full socket buffer (the
	// relay read too slowly; Linux).
	Overflow uint64
}

// Stats returns the RTP counters, for metrics.
func (a *Anchor) Stats() RTPStats { return a.rtp.sum() }

// rtpTotals keeps RTPStats: ended holds what ended relays and endpoints
// counted, live the packet counters of those still up. A source moves from
// live to ended (or from an endpoint to the relay it was handed to) under
// mu, so a sum never counts it twice nor drops it: the counters only grow.
type rtpTotals struct {
	mu    sync.Mutex
	ended RTPStats
	live  map[any]func() (in, out uint64)
}

func (t *rtpTotals) sum() RTPStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.ended
	for _, f := range t.live {
		in, out := f()
		s.PacketsIn += in
		s.PacketsOut += out
	}
	return s
}

// track counts k's packets from now on (until end, or swap to another).
func (t *rtpTotals) track(k any, f func() (in, out uint64)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.live == nil {
		t.live = make(map[any]func() (in, out uint64))
	}
	t.live[k] = f
}

// swap replaces old by k, which carries old's counters on (an endpoint's
// leg handed over to a relay).
func (t *rtpTotals) swap(old, k any, f func() (in, out uint64)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.live, old)
	if t.live == nil {
		t.live = make(map[any]func() (in, out uint64))
	}
	t.live[k] = f
}

// end moves k's final statistics into the totals; a k not tracked (ended
// already, or handed over) adds nothing.
func (t *rtpTotals) end(k any, legs ...rtprelay.Stats) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.live[k]; !ok {
		return
	}
	delete(t.live, k)
	for _, st := range legs {
		t.ended.PacketsIn += st.PacketsIn
		t.ended.PacketsOut += st.PacketsOut
		t.ended.Overflow += st.Overflow
		if st.Lost > 0 {
			t.ended.Lost += uint64(st.Lost)
		}
	}
}

func relayPackets(r *rtprelay.Relay) func() (in, out uint64) {
	return func() (in, out uint64) {
		a, b := r.Stats(rtprelay.A), r.Stats(rtprelay.B)
		return a.PacketsIn + b.PacketsIn, a.PacketsOut + b.PacketsOut
	}
}

func endpointPackets(ep *rtprelay.Endpoint) func() (in, out uint64) {
	return func() (in, out uint64) {
		st := ep.Stats()
		return st.PacketsIn, st.PacketsOut
	}
}

// trackRelay counts a new relay's packets.
func (a *Anchor) trackRelay(r *rtprelay.Relay) { a.rtp.track(r, relayPackets(r)) }

// count moves an ended relay's statistics into the totals.
func (a *Anchor) count(r *rtprelay.Relay) { a.rtp.end(r, r.Stats(rtprelay.A), r.Stats(rtprelay.B)) }

// trackEndpoint counts the packets of one of the PBX's own media legs.
func (a *Anchor) trackEndpoint(ep *rtprelay.Endpoint) { a.rtp.track(ep, endpointPackets(ep)) }

// endEndpoint moves a closed endpoint's statistics into the totals.
func (a *Anchor) endEndpoint(ep *rtprelay.Endpoint) { a.rtp.end(ep, ep.Stats()) }
