package rtprelay

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"

	"luapbx/media/g711"
)

// EndpointConfig sets up an Endpoint.
type EndpointConfig struct {
	Leg LegConfig
	// Timeout ends ReadPacket with a *TimeoutError when the peer, which
	// should send, has been silent this long. 0 disables it.
	Timeout time.Duration
	// AllowAnySource: see Config.
	AllowAnySource bool
	// FrameSamples is how far WriteEvent advances the audio clock per packet
	// (default 160, 20 ms at 8 kHz).
	FrameSamples uint32
}

// Packet is one RTP packet read by an Endpoint. Payload aliases the buffer
// passed to ReadPacket.
type Packet struct {
	PT        uint8
	Event     bool // RFC 4733 telephone-event (payload is the 4-byte event)
	Marker    bool
	Seq       uint16
	Timestamp uint32
	SSRC      uint32
	Payload   []byte
	At        time.Time
}

// Endpoint is a leg whose other end is the PBX itself: prompt player, echo,
// IVR, voicemail. One goroutine calls ReadPacket; one goroutine (maybe
// another) calls WriteAudio and WriteEvent and paces them (one frame every
// 20 ms is up to the caller). Latching, hold, stats and the timeout work as
// in Relay; what we send carries our own SSRC, sequence and timestamps.
type Endpoint struct {
	log   *slog.Logger
	leg   *leg
	tmo   time.Duration
	epoch time.Time
	frame uint32

	// reader
	pkt rtp.Packet

	// writer
	wbuf    [maxPacket]byte
	seq     uint16
	ts      uint32
	eventTS uint32
	started bool
	sent    bool   // a packet went out
	lastTS  uint32 // timestamp of the last packet sent
	lastAt  int64  // when it was sent, nanoseconds since epoch

	stopRead atomic.Bool // StopReading: ReadPacket returns ErrDetached
	tap      atomic.Pointer[Tap]

	mu       sync.Mutex // guards closed, detached
	closed   bool
	detached bool
	closeErr error
}

// NewEndpoint returns an endpoint owning cfg.Leg.Socket (Close closes it).
func NewEndpoint(log *slog.Logger, cfg EndpointConfig) (*Endpoint, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Leg.Socket == nil {
		return nil, errors.New("endpoint: no socket")
	}
	if cfg.FrameSamples == 0 {
		cfg.FrameSamples = 160
	}
	e := &Endpoint{
		log: log, tmo: cfg.Timeout, epoch: time.Now(), frame: cfg.FrameSamples,
		leg: newLeg(A, cfg.Leg, rand.Uint32(), cfg.AllowAnySource),
		seq: uint16(rand.Uint32()), ts: rand.Uint32(),
	}
	e.leg.lastIn.Store(0)
	return e, nil
}

func (e *Endpoint) now() int64 { return int64(time.Since(e.epoch)) }

// ReadPacket blocks until an RTP packet from the peer arrives and returns it,
// its payload in buf. It returns a *TimeoutError after Timeout of silence
// and net.ErrClosed after Close.
func (e *Endpoint) ReadPacket(buf []byte) (Packet, error) {
	l := e.leg
	for {
		if err := e.setDeadline(); err != nil {
			return Packet{}, err
		}
		// Checked after setting the deadline: StopReading sets the flag
		// before its own deadline, so one of the two always wins.
		if e.stopRead.Load() {
			return Packet{}, ErrDetached
		}
		n, src, err := l.sock.ReadFromUDPAddrPort(buf)
		if err != nil {
			if e.stopRead.Load() {
				return Packet{}, ErrDetached
			}
			if errors.Is(err, os.ErrDeadlineExceeded) && e.tmo > 0 {
				if silent := time.Duration(e.now() - l.lastIn.Load()); silent >= e.tmo {
					return Packet{}, &TimeoutError{Leg: l.id, Silent: silent}
				}
				continue
			}
			return Packet{}, fmt.Errorf("read rtp: %w", err)
		}
		at := time.Now()
		now := int64(at.Sub(e.epoch))
		if !l.parse(&e.pkt, buf[:n], src, now) {
			continue
		}
		h := &e.pkt.Header
		cfg := l.cfg.Load()
		event := cfg.EventPT != 0 && h.PayloadType == cfg.EventPT
		l.pktIn.Add(1)
		l.bytesIn.Add(uint64(n))
		l.rx.update(h.SSRC, h.SequenceNumber, h.Timestamp, uint32(now*8000/int64(time.Second)), !event)
		l.lost.Store(l.rx.lost())
		l.jitter.Store(floatBits(l.rx.jitter))
		if tap := e.tap.Load(); tap != nil && !event {
			(*tap).WriteRTP(0, h.PayloadType, h.Timestamp, e.pkt.Payload, at)
		}
		return Packet{PT: h.PayloadType, Event: event, Marker: h.Marker, Seq: h.SequenceNumber,
			Timestamp: h.Timestamp, SSRC: h.SSRC, Payload: e.pkt.Payload, At: at}, nil
	}
}

func (e *Endpoint) setDeadline() error {
	if e.tmo <= 0 {
		return nil
	}
	if !e.leg.cfg.Load().Direction.Sends() {
		e.leg.lastIn.Store(e.now())
	}
	return e.leg.sock.SetReadDeadline(e.epoch.Add(time.Duration(e.leg.lastIn.Load()) + e.tmo))
}

// WriteAudio sends one frame. pt is the codec of payload (g711.PTPCMU or
// PTPCMA); it is transcoded when the leg negotiated the other one. The
// timestamp advances by len(payload) samples. Nothing is sent (but the clock
// advances) while the peer is on hold or its address is unknown.
func (e *Endpoint) WriteAudio(payload []byte, pt uint8) error {
	cfg := e.leg.cfg.Load()
	if len(payload) > maxPacket-12 {
		return fmt.Errorf("write audio: payload of %d bytes too big", len(payload))
	}
	body := e.wbuf[12 : 12+len(payload)]
	switch {
	case pt == cfg.Codec:
		copy(body, payload)
	case pt == g711.PTPCMU && cfg.Codec == g711.PTPCMA:
		g711.UlawToAlaw(body, payload)
	case pt == g711.PTPCMA && cfg.Codec == g711.PTPCMU:
		g711.AlawToUlaw(body, payload)
	default:
		return fmt.Errorf("write audio: cannot send payload type %d on a leg using %d", pt, cfg.Codec)
	}
	marker := !e.started
	e.started = true
	if tap := e.tap.Load(); tap != nil {
		(*tap).WriteRTP(1, cfg.Codec, e.ts, body, time.Now())
	}
	err := e.send(cfg.Codec, marker, e.ts, len(payload))
	e.ts += uint32(len(payload))
	return err
}

// WriteEvent sends one RFC 4733 packet (payload: event, E/volume, duration).
// start marks the first packet of an event: it gets the marker bit and fixes
// the timestamp all packets of that event carry. Each call advances the
// audio clock by FrameSamples. Without a negotiated event PT it returns an
// error.
func (e *Endpoint) WriteEvent(payload []byte, start bool) error {
	cfg := e.leg.cfg.Load()
	if cfg.EventPT == 0 {
		return errors.New("write event: telephone-event not negotiated")
	}
	if len(payload) != 4 {
		return fmt.Errorf("write event: payload of %d bytes, want 4", len(payload))
	}
	if start || !e.started {
		e.eventTS = e.ts
	}
	e.started = true
	copy(e.wbuf[12:], payload)
	err := e.send(cfg.EventPT, start, e.eventTS, 4)
	e.ts += e.frame
	return err
}

// send writes the header before the payload already in wbuf[12:] and sends.
func (e *Endpoint) send(pt uint8, marker bool, ts uint32, n int) error {
	l := e.leg
	dst := l.remote.Load()
	if dst == nil || !l.cfg.Load().Direction.Receives() {
		return nil
	}
	b := e.wbuf[:12+n]
	b[0] = 0x80
	b[1] = pt
	if marker {
		b[1] |= 0x80
	}
	binary.BigEndian.PutUint16(b[2:], e.seq)
	binary.BigEndian.PutUint32(b[4:], ts)
	binary.BigEndian.PutUint32(b[8:], l.tx.ssrc)
	e.seq++
	e.sent, e.lastTS, e.lastAt = true, ts, e.now()
	if _, err := l.sock.WriteToUDPAddrPort(b, *dst); err != nil {
		return fmt.Errorf("write rtp: %w", err)
	}
	l.pktOut.Add(1)
	l.bytesOut.Add(uint64(len(b)))
	return nil
}

// SetTap starts (nil: stops) tapping the Endpoint's audio: what the peer
// sends as channel 0 (the caller's side of a recording), what we send
// with WriteAudio as channel 1. Telephone-events are not tapped. A tap
// must not block or keep the payload (see Tap).
func (e *Endpoint) SetTap(t Tap) {
	if t == nil {
		e.tap.Store(nil)
		return
	}
	e.tap.Store(&t)
}

// Update applies the peer's renegotiated SDP; see Relay.Update.
func (e *Endpoint) Update(cfg LegConfig) {
	e.leg.setConfig(cfg)
	e.leg.lastIn.Store(e.now())
}

// Stats returns the leg's counters.
func (e *Endpoint) Stats() Stats { return e.leg.stats() }

// LocalPort is our socket's UDP port.
func (e *Endpoint) LocalPort() int { return localPort(e.leg.sock) }

// Close closes the socket (unblocking ReadPacket). Safe twice; after
// Detach it does nothing (the socket belongs to the Relay).
func (e *Endpoint) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed || e.detached {
		return e.closeErr
	}
	e.closed = true
	e.closeErr = e.leg.sock.Close()
	return e.closeErr
}
