// Package apps makes the PBX a media endpoint on an answered call: it plays
// prompts (`play:<file>`), echoes (`app:echo`), sends a tone (`app:tone`),
// runs IVR menus (`ivr:<id>`) and records voicemail (`voicemail:<ext>`).
//
// Everything runs over a Session: one per answered leg, wrapping the leg's
// Media (an *rtprelay.Endpoint in production). Session.Run is the only
// reader of the Media; it copies each packet, recognises RFC 4733 digits
// and hands the packets to the application running at the moment. The
// applications run one at a time on the caller's goroutine and are the only
// writers; they pace what they send with a Pacer (one frame every 20 ms).
package apps

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"luapbx/media/dtmf"
	"luapbx/media/g711"
	"luapbx/media/rtprelay"
)

// Media is the call leg the PBX terminates. *rtprelay.Endpoint implements
// it. One goroutine (Session.Run) calls ReadPacket; one other goroutine
// (the application) calls WriteAudio and WriteEvent.
//
// Optional extras, found by type assertion: `Codec() uint8` (the negotiated
// audio payload type, so that prompts are sent without transcoding; without
// it the codec of the peer's audio is used, PCMU until some arrives) and
// io.Closer (Run closes the Media when its context ends, to unblock the
// read).
type Media interface {
	ReadPacket(buf []byte) (rtprelay.Packet, error)
	WriteAudio(payload []byte, pt uint8) error
	WriteEvent(payload []byte, start bool) error
}

var _ Media = (*rtprelay.Endpoint)(nil)

// MaxPayload is the largest RTP payload a Session passes on (60 ms of
// G.711); bigger packets are dropped and counted.
const MaxPayload = 480

// queueLen is how many packets wait for a slow application (320 ms).
const queueLen = 16

// ErrBusy is returned when an application starts on a Session that is
// already running one.
var ErrBusy = errors.New("apps: another application is running on this session")

// ErrMediaEnded wraps the read error when the leg's media stopped (the
// Media was closed, or the peer fell silent past rtp_timeout).
var ErrMediaEnded = errors.New("apps: media ended")

// Packet is one received RTP packet, copied out of the read buffer.
type Packet struct {
	PT        uint8
	Event     bool // RFC 4733 telephone-event
	Marker    bool
	Seq       uint16
	Timestamp uint32
	SSRC      uint32
	At        time.Time
	// Digit is the DTMF digit ('0'-'9', '*', '#', 'A'-'D') when this packet
	// starts a new telephone-event, else 0. Each key press is reported once.
	Digit rune
	n     int
	buf   [MaxPayload]byte
}

// Payload returns the packet's payload (valid while the Packet is).
func (p *Packet) Payload() []byte { return p.buf[:p.n] }

// Session is the PBX's side of one answered leg.
type Session struct {
	log   *slog.Logger
	m     Media
	codec atomic.Uint32 // learned audio payload type, when Media has no Codec()
	pkts  chan Packet
	busy  atomic.Bool
	// interval paces what applications send (FrameInterval; benchmarks
	// shorten it to measure the per-frame cost without the wait).
	interval time.Duration
	// pc is the send schedule shared by the applications (clock.go);
	// only the running application touches it.
	pc *Pacer

	done    chan struct{} // closed when Run returns
	errOnce sync.Once
	err     error // why Run returned; read after done

	dropped atomic.Uint64
	digits  atomic.Uint64
	silent  atomic.Uint64
}

// NewSession wraps m. Start Run before any application.
func NewSession(log *slog.Logger, m Media) *Session {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Session{log: log, m: m, pkts: make(chan Packet, queueLen), done: make(chan struct{}), interval: FrameInterval}
	s.codec.Store(uint32(g711.PTPCMU))
	return s
}

// Run reads the Media until ReadPacket fails or ctx ends (then it closes
// the Media if it is an io.Closer, which unblocks the read). It returns the
// read error (nil after ctx ended). Applications that are running see the
// end of the media and return.
func (s *Session) Run(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() {
		if c, ok := s.m.(io.Closer); ok {
			_ = c.Close()
		}
	})
	defer stop()
	err := s.read(ctx)
	s.errOnce.Do(func() { s.err = err })
	close(s.done)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func (s *Session) read(ctx context.Context) error {
	buf := make([]byte, 1500)
	var pm pump
	for {
		rp, err := s.m.ReadPacket(buf)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		s.deliver(&pm, &rp)
	}
}

// pump is the reader's state.
type pump struct {
	det       dtmf.Detector
	eventSSRC uint32
	p         Packet
}

// deliver copies one packet, recognises digits and queues it for the
// application, dropping it when the queue is full (no application is
// reading, or it is stuck).
func (s *Session) deliver(pm *pump, rp *rtprelay.Packet) {
	if len(rp.Payload) > MaxPayload {
		s.dropped.Add(1)
		return
	}
	p := &pm.p
	p.PT, p.Event, p.Marker, p.Seq = rp.PT, rp.Event, rp.Marker, rp.Seq
	p.Timestamp, p.SSRC, p.At, p.Digit = rp.Timestamp, rp.SSRC, rp.At, 0
	p.n = copy(p.buf[:], rp.Payload)
	if rp.Event {
		if rp.SSRC != pm.eventSSRC {
			pm.det.Reset()
			pm.eventSSRC = rp.SSRC
		}
		if d, ok, _ := pm.det.Packet(rp.Timestamp, rp.Payload); ok {
			p.Digit = d
			s.digits.Add(1)
		}
	} else if rp.PT == g711.PTPCMU || rp.PT == g711.PTPCMA {
		if uint32(rp.PT) != s.codec.Load() {
			s.codec.Store(uint32(rp.PT))
		}
	}
	select {
	case s.pkts <- *p:
	default:
		s.dropped.Add(1)
	}
}

// Codec is the payload type applications send audio in: the Media's
// negotiated codec when it says, else the codec of the peer's audio
// (PCMU before any arrived). The Endpoint transcodes when it differs.
func (s *Session) Codec() uint8 {
	if c, ok := s.m.(interface{ Codec() uint8 }); ok {
		return c.Codec()
	}
	return uint8(s.codec.Load())
}

// Done is closed when Run has returned (the media ended).
func (s *Session) Done() <-chan struct{} { return s.done }

// Err is why the media ended: the read error, or the context's error when
// Run's context ended. It is nil while Run runs.
func (s *Session) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

// SessionStats counts what the Session did with received packets.
type SessionStats struct {
	Dropped uint64 `json:"dropped"` // queue full (no application reading) or too big
	Digits  uint64 `json:"digits"`  // DTMF key presses recognised
	Silence uint64 `json:"silence"` // silence frames sent while nothing else played
}

// Stats returns the counters.
func (s *Session) Stats() SessionStats {
	return SessionStats{Dropped: s.dropped.Load(), Digits: s.digits.Load(), Silence: s.silent.Load()}
}

// acquire marks an application as running and resumes the send schedule
// where the previous application left it; release undoes it.
func (s *Session) acquire() error {
	if !s.busy.CompareAndSwap(false, true) {
		return ErrBusy
	}
	if s.pc != nil {
		s.pc.Resume()
	}
	return nil
}

func (s *Session) release() {
	if s.pc != nil {
		s.pc.Stop()
	}
	s.busy.Store(false)
}

// flush discards packets queued before an application (or a phase of one)
// started listening.
func (s *Session) flush() {
	for {
		select {
		case <-s.pkts:
		default:
			return
		}
	}
}

// flushDigits is flush keeping the digits of the discarded packets (keys
// pressed ahead of an application).
func (s *Session) flushDigits() string {
	var b strings.Builder
	for {
		select {
		case p := <-s.pkts:
			if p.Digit != 0 {
				b.WriteRune(p.Digit)
			}
		default:
			return b.String()
		}
	}
}

// ended returns the error applications return when the media ended.
func (s *Session) ended() error {
	if err := s.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrMediaEnded, err)
	}
	return ErrMediaEnded
}
