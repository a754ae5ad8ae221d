package rtprelay

import (
	"math"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"

	"luapbx/media/sdpneg"
)

// Socket is one leg's UDP socket. *net.UDPConn and *portpool.Port satisfy it;
// Close must release the port (the pool's Port does).
type Socket interface {
	ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error)
	WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error)
	SetReadDeadline(t time.Time) error
	LocalAddr() net.Addr
	Close() error
}

// LegConfig is what signalling negotiated for one leg (sdpneg.Media of that
// party). Update replaces it after a re-INVITE.
type LegConfig struct {
	Socket Socket // our socket for this leg; ignored by Update
	// Remote is the peer's RTP address from its SDP. Invalid or unspecified
	// means unknown: the first packet from any source is latched.
	Remote netip.AddrPort
	// Codec is the negotiated audio payload type (g711.PTPCMU or PTPCMA).
	Codec uint8
	// EventPT is the negotiated telephone-event payload type, 0 for none.
	EventPT uint8
	// Direction is the peer's: a peer that does not receive (sendonly,
	// inactive, c=0.0.0.0) is not sent to; a peer that does not send is not
	// watched for the inactivity timeout.
	Direction sdpneg.Direction
}

// FromMedia fills the negotiated part of a LegConfig from sdpneg.Media.
func FromMedia(sock Socket, m sdpneg.Media) LegConfig {
	return LegConfig{Socket: sock, Remote: m.Addr, Codec: m.Codec(), EventPT: m.EventPT, Direction: m.Direction}
}

func (c *LegConfig) knownRemote() bool {
	return c.Remote.IsValid() && !c.Remote.Addr().IsUnspecified() && c.Remote.Port() != 0
}

// Stats are one leg's counters. "In" is what the peer sent us, "Out" what we
// sent the peer. Lost and Jitter follow RFC 3550 (A.1, A.8) on what came in.
type Stats struct {
	PacketsIn  uint64  `json:"packets_in"`
	BytesIn    uint64  `json:"bytes_in"`
	PacketsOut uint64  `json:"packets_out"`
	BytesOut   uint64  `json:"bytes_out"`
	Lost       int64   `json:"lost"`
	JitterMs   float64 `json:"jitter_ms"`
	Dropped    uint64  `json:"dropped"`   // from this peer, not forwarded (hold, no address, unknown PT, RTCP)
	Malformed  uint64  `json:"malformed"` // not RTP
	Rejected   uint64  `json:"rejected"`  // from a source we do not accept
	// Overflow: datagrams the kernel dropped because our socket's receive
	// buffer was full (we read too slowly: a starved poller). Linux poller
	// only; known once Run has returned (the socket's count since the
	// relay took it, so not an Endpoint's time before a hand-over).
	Overflow uint64         `json:"overflow"`
	Remote   netip.AddrPort `json:"remote"`  // where we send now
	Latched  bool           `json:"latched"` // Remote comes from real packets
}

// leg is one socket and the state around it. Fields marked "reader" belong to
// the goroutine reading the socket; "sender" to the one goroutine that sends
// to this leg; the rest is atomic.
type leg struct {
	id   Leg
	sock Socket

	cfg    atomic.Pointer[LegConfig]
	gen    atomic.Uint64                  // bumped by Update
	remote atomic.Pointer[netip.AddrPort] // where to send; nil when unknown
	lastIn atomic.Int64                   // nanoseconds since the relay's epoch

	// reader
	seenGen  uint64
	latched  bool
	src      netip.AddrPort
	srcAt    int64
	rx       rxStats
	allowAny bool

	// sender
	tx txStream

	pktIn, bytesIn, pktOut, bytesOut atomic.Uint64
	dropped, malformed, rejected     atomic.Uint64
	overflow                         atomic.Uint64 // set when the relay stops
	lost                             atomic.Int64
	jitter                           atomic.Uint64 // float64 bits, timestamp units
	isLatched                        atomic.Bool
}

func newLeg(id Leg, cfg LegConfig, ssrc uint32, allowAny bool) *leg {
	l := &leg{id: id, sock: cfg.Socket, allowAny: allowAny}
	l.tx.ssrc = ssrc
	l.setConfig(cfg)
	return l
}

// setConfig installs a (re)negotiated config. A new remote address restarts
// latching; the same address (a re-INVITE for hold or a codec change) keeps
// the latched source, so a peer behind NAT keeps getting media.
func (l *leg) setConfig(cfg LegConfig) {
	cfg.Socket = l.sock
	old := l.cfg.Swap(&cfg)
	if old != nil && old.Remote == cfg.Remote {
		return
	}
	if cfg.knownRemote() {
		r := netip.AddrPortFrom(cfg.Remote.Addr().Unmap(), cfg.Remote.Port())
		l.remote.Store(&r)
	} else {
		l.remote.Store(nil)
	}
	l.isLatched.Store(false)
	l.gen.Add(1)
}

// relatchAfter is how long a latched source must be silent before, with
// AllowAnySource, another IP may take the leg over.
const relatchAfter = int64(time.Second)

// accept applies symmetric latching to a packet's source; it runs in the reader.
func (l *leg) accept(src netip.AddrPort, now int64) bool {
	if g := l.gen.Load(); g != l.seenGen {
		l.seenGen, l.latched = g, false
	}
	if l.latched && src == l.src {
		l.srcAt = now
		return true
	}
	if !l.mayLatch(src, now) {
		l.rejected.Add(1)
		return false
	}
	l.latched, l.src, l.srcAt = true, src, now
	r := src
	l.remote.Store(&r) // allocates, once per source change only
	l.isLatched.Store(true)
	return true
}

func (l *leg) mayLatch(src netip.AddrPort, now int64) bool {
	if l.latched {
		// A new port on the same IP (NAT rebinding, phone restarting its
		// stream) is taken at once; another IP only in any-source mode and
		// only once the latched source went quiet.
		return src.Addr() == l.src.Addr() || (l.allowAny && now-l.srcAt > relatchAfter)
	}
	cfg := l.cfg.Load()
	// An SDP address has no zone; a link-local source has its interface.
	return l.allowAny || !cfg.knownRemote() || src.Addr().WithZone("") == cfg.Remote.Addr().Unmap().WithZone("")
}

// parse checks that b is RTP (not RTCP) from an accepted source and reads it
// into pkt; it runs in the reader and counts what it rejects.
func (l *leg) parse(pkt *rtp.Packet, b []byte, src netip.AddrPort, now int64) bool {
	if len(b) < 12 || len(b) > maxPacket || b[0]>>6 != 2 {
		l.malformed.Add(1)
		return false
	}
	if b[1] >= 192 && b[1] <= 223 { // RTCP multiplexed on the RTP port (RFC 5761)
		l.dropped.Add(1)
		return false
	}
	if err := pkt.Unmarshal(b); err != nil {
		l.malformed.Add(1)
		return false
	}
	if !l.accept(netip.AddrPortFrom(src.Addr().Unmap(), src.Port()), now) {
		return false
	}
	l.lastIn.Store(now)
	return true
}

func (l *leg) stats() Stats {
	s := Stats{
		PacketsIn: l.pktIn.Load(), BytesIn: l.bytesIn.Load(),
		PacketsOut: l.pktOut.Load(), BytesOut: l.bytesOut.Load(),
		Lost:    l.lost.Load(),
		Dropped: l.dropped.Load(), Malformed: l.malformed.Load(), Rejected: l.rejected.Load(),
		Overflow: l.overflow.Load(), Latched: l.isLatched.Load(),
	}
	s.JitterMs = math.Float64frombits(l.jitter.Load()) / sdpneg.ClockRate * 1000
	if r := l.remote.Load(); r != nil {
		s.Remote = *r
	}
	return s
}

// rxStats computes loss and jitter of what a peer sends (RFC 3550 A.1, A.8).
// A new SSRC or a large sequence jump starts a new count; the loss of the
// previous one is kept.
type rxStats struct {
	started     bool
	ssrc        uint32
	base        uint32
	maxSeq      uint16
	cycles      uint32
	received    int64
	lostBefore  int64
	transit     uint32
	haveTransit bool
	jitter      float64
}

const maxDropout = 3000

func (s *rxStats) lostNow() int64 {
	expected := int64(s.cycles) + int64(s.maxSeq) - int64(s.base) + 1
	if lost := expected - s.received; lost > 0 {
		return lost
	}
	return 0
}

func (s *rxStats) restart(ssrc uint32, seq uint16) {
	if s.started {
		s.lostBefore += s.lostNow()
	}
	*s = rxStats{started: true, ssrc: ssrc, base: uint32(seq), maxSeq: seq, lostBefore: s.lostBefore, jitter: s.jitter}
}

// update records one packet; arrival is in RTP timestamp units (8 kHz).
func (s *rxStats) update(ssrc uint32, seq uint16, ts uint32, arrival uint32, audio bool) {
	if !s.started || ssrc != s.ssrc {
		s.restart(ssrc, seq)
	} else if d := seq - s.maxSeq; d != 0 && d < maxDropout {
		if seq < s.maxSeq {
			s.cycles += 1 << 16
		}
		s.maxSeq = seq
	} else if d >= maxDropout && d < 1<<16-100 {
		s.restart(ssrc, seq) // the stream jumped: count it as a new one
	}
	s.received++
	if !audio {
		return // RFC 4733 packets repeat their timestamp: keep them out of jitter
	}
	transit := arrival - ts
	if s.haveTransit {
		d := float64(int32(transit - s.transit))
		s.jitter += (math.Abs(d) - s.jitter) / 16
	}
	s.transit, s.haveTransit = transit, true
}

func (s *rxStats) lost() int64 { return s.lostBefore + s.lostNow() }

// txStream keeps what we send to one leg a single consistent stream: our
// SSRC, and sequence numbers and timestamps that continue across source
// changes (new SSRC after a re-INVITE, a transfer or a local prompt).
type txStream struct {
	ssrc    uint32
	started bool
	inSSRC  uint32
	seqOff  uint16
	tsOff   uint32
	lastSeq uint16
	lastTS  uint32
	lastAt  int64 // nanoseconds
	// forceNew treats the next packet as a new source (after a hand-over
	// from an Endpoint, whose stream it continues).
	forceNew bool
}

// next maps an incoming packet's numbers; newSource is true on a switch.
func (t *txStream) next(ssrc uint32, seq uint16, ts uint32, now int64) (oseq uint16, ots uint32, newSource bool) {
	switch {
	case !t.started:
		t.started, t.inSSRC = true, ssrc
		t.lastSeq, t.lastTS = seq-1, ts
	case ssrc != t.inSSRC || t.forceNew:
		t.inSSRC, t.forceNew = ssrc, false
		elapsed := uint32(max((now-t.lastAt)*sdpneg.ClockRate/int64(time.Second), 1))
		t.seqOff = t.lastSeq + 1 - seq
		t.tsOff = t.lastTS + elapsed - ts
		newSource = true
	}
	oseq, ots = seq+t.seqOff, ts+t.tsOff
	if int16(oseq-t.lastSeq) > 0 {
		t.lastSeq, t.lastTS, t.lastAt = oseq, ots, now
	}
	return oseq, ots, newSource
}
