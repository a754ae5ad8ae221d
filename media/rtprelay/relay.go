// Package rtprelay moves RTP between the two legs of a call through sockets
// of ours (the PBX anchors media). Per leg it latches to where packets really
// come from, keeps the stream it sends consistent (one SSRC, continuous
// sequence numbers and timestamps across source changes), transcodes PCMU <->
// PCMA when the legs negotiated different codecs, maps RFC 4733
// telephone-event payload types, does not send to a leg on hold, counts
// packets, loss and jitter, and reports a leg that goes silent.
//
// The packet path allocates nothing. On Linux the process's poller
// (poller_linux.go) reads the sockets of all relays with epoll and
// recvmmsg/sendmmsg in rounds; elsewhere (or with UsePoller off) one
// goroutine per leg reads into a buffer it owns. Either way the header is
// rewritten in place and the packet sent on. A Tap sees
// every accepted packet of both directions (for the recorder); the payload
// it gets is the relay's buffer, so it must copy.
//
// For calls where the PBX itself is one end (prompts, IVR, voicemail, echo)
// use Endpoint instead: one leg, read and written by the caller.
package rtprelay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// Leg names a side of the call.
type Leg int

// A is the caller's leg (tap channel 0), B the callee's (tap channel 1).
const (
	A Leg = 0
	B Leg = 1
)

func (l Leg) String() string {
	if l == A {
		return "a"
	}
	return "b"
}

// Tap receives a copy of the media of both directions. ch is the leg the
// packet came from (0 = A, caller; 1 = B, callee), pt its payload type as
// received. payload is not owned by the tap: copy it before returning. It
// runs on the packet path: it must not block.
type Tap interface {
	// WriteRTP gets a payload of leg ch with its payload type, RTP
	// timestamp and arrival time; it must not block or keep payload.
	WriteRTP(ch int, pt uint8, ts uint32, payload []byte, at time.Time)
}

var (
	// ErrTimeout is matched by the *TimeoutError Run returns.
	ErrTimeout = errors.New("rtp timeout")
	// ErrClosed is returned by Run after Close.
	ErrClosed = errors.New("relay closed")
	// ErrRunning is returned by a second Run.
	ErrRunning = errors.New("relay already running")
)

// TimeoutError says which leg went silent and for how long.
type TimeoutError struct {
	Leg    Leg
	Silent time.Duration
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("rtp timeout: leg %s silent for %s", e.Leg, e.Silent.Round(time.Millisecond))
}

// Is makes errors.Is(err, ErrTimeout) true.
func (e *TimeoutError) Is(target error) bool { return target == ErrTimeout }

// Config is one relay's setup.
type Config struct {
	A, B LegConfig
	// Timeout is rtp_timeout: a leg whose peer should send (per its
	// direction) and is silent this long ends Run with a *TimeoutError. 0
	// disables it.
	Timeout time.Duration
	// AllowAnySource latches the first packet from any address instead of
	// only from the IP in the peer's SDP (peers behind NAT).
	AllowAnySource bool
	// Tap, if set, sees the media of both directions (SetTap adds or
	// changes it later).
	Tap Tap
	// HandoverA, when set, is leg A: an Endpoint's leg taken over with
	// its socket, config, latching, counters and outgoing stream (A is
	// then ignored). The relay's clock is the Endpoint's.
	HandoverA *Handover
}

// Relay relays one call's RTP between leg A and leg B.
type Relay struct {
	log   *slog.Logger
	legs  [2]*leg
	tap   atomic.Pointer[Tap]
	tmo   time.Duration
	epoch time.Time

	mu      sync.Mutex
	started bool
	closed  bool

	raw [2]*rawSock // the descriptors the poller owns (Linux), else nil
	// dropsBase is each socket's kernel drop count when the relay took it
	// (an Endpoint may have owned the port before): Overflow is the rest.
	dropsBase [2]uint64

	stop      chan struct{}
	done      chan struct{}
	timedOut  chan error // the poller's silence check
	stopping  atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

// New checks the config and returns a relay; Run starts it. The relay owns
// both sockets from now on: Close closes them (returning pool ports).
func New(log *slog.Logger, cfg Config) (*Relay, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if (cfg.A.Socket == nil && cfg.HandoverA == nil) || cfg.B.Socket == nil {
		return nil, errors.New("relay: both legs need a socket")
	}
	r := &Relay{
		log: log, tmo: cfg.Timeout, epoch: time.Now(),
		stop: make(chan struct{}), done: make(chan struct{}), timedOut: make(chan error, 1),
	}
	r.SetTap(cfg.Tap)
	if h := cfg.HandoverA; h != nil {
		r.epoch = h.epoch
		r.legs[A] = h.adopt()
	} else {
		r.legs[A] = newLeg(A, cfg.A, rand.Uint32(), cfg.AllowAnySource)
	}
	r.legs[B] = newLeg(B, cfg.B, rand.Uint32(), cfg.AllowAnySource)
	return r, nil
}

// SetTap starts (or, with nil, stops) tapping the media of both
// directions, e.g. the recording once the call is answered. Safe while
// running.
func (r *Relay) SetTap(t Tap) {
	if t == nil {
		r.tap.Store(nil)
		return
	}
	r.tap.Store(&t)
}

// Run relays until ctx ends, Close is called or a leg times out; it returns
// nil, ErrClosed or a *TimeoutError. It waits for its goroutines.
func (r *Relay) Run(ctx context.Context) error {
	r.mu.Lock()
	switch {
	case r.closed:
		r.mu.Unlock()
		return ErrClosed
	case r.started:
		r.mu.Unlock()
		return ErrRunning
	}
	r.started = true
	r.mu.Unlock()
	defer close(r.done)

	now := r.now()
	for _, l := range r.legs {
		l.lastIn.Store(now)
	}
	var err error
	if stopPoll, ok, perr := r.startPoller(); perr != nil {
		err = fmt.Errorf("rtp relay: %w", perr)
	} else if ok {
		err = r.watch(ctx, false)
		r.stopping.Store(true)
		stopPoll()
	} else {
		var wg sync.WaitGroup
		wg.Go(func() { r.pump(r.legs[A], r.legs[B]) })
		wg.Go(func() { r.pump(r.legs[B], r.legs[A]) })
		err = r.watch(ctx, true)
		r.stopping.Store(true)
		for _, l := range r.legs {
			_ = l.sock.SetReadDeadline(time.Unix(1, 0)) // wakes the reader
		}
		wg.Wait()
	}
	switch {
	case err == nil:
	case errors.Is(err, ErrClosed) || errors.Is(err, context.Canceled): // the call ended: its own log line says how
		r.log.Debug("rtp relay stopped", "reason", err.Error())
	default: // the relay ended the call (rtp_timeout, a socket error)
		r.log.Info("rtp relay stopped", "reason", err.Error())
	}
	return err
}

// watch blocks until the relay must stop. With tick it checks for silent
// legs itself; the poller checks them for the relays it serves.
func (r *Relay) watch(ctx context.Context, tick bool) error {
	var ticks <-chan time.Time
	if tick && r.tmo > 0 {
		t := time.NewTicker(min(max(r.tmo/4, 10*time.Millisecond), time.Second))
		defer t.Stop()
		ticks = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-r.stop:
			return ErrClosed
		case err := <-r.timedOut:
			return err
		case <-ticks:
			if err := r.checkSilence(); err != nil {
				return err
			}
		}
	}
}

// checkSilence reports the leg silent the longest, if past the timeout.
func (r *Relay) checkSilence() error {
	now := r.now()
	var worst *TimeoutError
	for _, l := range r.legs {
		if !l.cfg.Load().Direction.Sends() {
			l.lastIn.Store(now) // not expected to send: the clock restarts when it should
			continue
		}
		silent := time.Duration(now - l.lastIn.Load())
		if silent >= r.tmo && (worst == nil || silent > worst.Silent) {
			worst = &TimeoutError{Leg: l.id, Silent: silent}
		}
	}
	if worst == nil {
		return nil
	}
	return worst
}

// now is nanoseconds since the relay was made (monotonic).
func (r *Relay) now() int64 { return int64(time.Since(r.epoch)) }

// Update applies a leg's renegotiated SDP (re-INVITE): new remote address
// (latching starts again), codec, event payload type or direction. The
// streams we send keep their SSRC, sequence numbers and timestamps.
func (r *Relay) Update(which Leg, cfg LegConfig) {
	l := r.legs[which&1]
	l.setConfig(cfg)
	l.lastIn.Store(r.now())
	r.log.Debug("rtp leg updated", "leg", which.String(), "remote", cfg.Remote.String(),
		"codec", cfg.Codec, "event_pt", cfg.EventPT, "direction", cfg.Direction.String())
}

// Stats returns a leg's counters; safe while running.
func (r *Relay) Stats(which Leg) Stats { return r.legs[which&1].stats() }

// LocalPort is the UDP port of our socket for a leg.
func (r *Relay) LocalPort(which Leg) int { return localPort(r.legs[which&1].sock) }

// Close stops Run (waiting for it) and closes both sockets. Safe twice.
func (r *Relay) Close() error {
	r.closeOnce.Do(func() {
		r.mu.Lock()
		started := r.started
		r.closed = true
		r.mu.Unlock()
		close(r.stop)
		if started {
			<-r.done
		}
		r.closeErr = errors.Join(r.closeSocket(A), r.closeSocket(B))
	})
	return r.closeErr
}
