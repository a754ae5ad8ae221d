// Package mediacall plugs the media libraries into engine/call: an Anchor
// rewrites every SDP so RTP flows through ports of ours, relays it
// (media/rtprelay) with an optional stereo recording, and serves the media
// targets (play:, app:echo, app:tone, ivr:, voicemail:) with engine/apps.
package mediacall

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"sync"
	"time"

	"luapbx/engine"
	"luapbx/engine/apps"
	"luapbx/engine/call"
	"luapbx/media/player"
	"luapbx/media/portpool"
	"luapbx/media/recorder"
)

// Options configure an Anchor.
type Options struct {
	// IP is the address our SDP announces (listen.public_ip, else the
	// listen IP). BindIP is where RTP sockets bind; default IP.
	IP     netip.Addr
	BindIP netip.Addr
	Ports  string // listen.rtp_ports, "20000-20999"
	// RTPTimeout hangs up a call whose leg is silent this long; 0 never.
	RTPTimeout time.Duration
	// AllowAnySource latches the first RTP from any address (NATed phones).
	AllowAnySource bool
	RecordingsDir  string // storage.recordings
	VoicemailDir   string // storage.voicemail
	// Prompt loads a prompt by the name a target or config gives
	// (resolved against the config folder by the caller).
	Prompt func(name string) (*player.Prompt, error)
	// Greeting returns the voicemail greeting of a company's extension
	// (false: none, the beep alone).
	Greeting func(company, ext string) (*player.Prompt, bool)
	// IVR returns the menu of ivr:<id> for a company.
	IVR func(company, id string) (apps.IVRConfig, bool)
	// Leg gives the media apps the caller's leg (see CallerLeg); default
	// CallerLegOf. When it reports false, media targets are answered 501
	// (480 for voicemail).
	Leg func(c *call.Call) (CallerLeg, bool)
	// Hangup ends a call whose media timed out; nil: a Hangup(cause)
	// method of *call.Call if it has one (see the report), else only a log.
	Hangup func(c *call.Call, cause string)
	// Events gets recording.done and voicemail.new; nil = none.
	Events func(engine.Event)
	Now    func() time.Time
}

// Anchor anchors the media of every call. Its RewriteSDP (or RewriteSDPErr)
// goes into call.Config.RewriteSDP, OnEnd into call.Config.OnEnd and the
// Anchor itself into call.Config.Media.
type Anchor struct {
	log  *slog.Logger
	opts Options
	pool *portpool.Pool

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	calls    map[*call.Call]*callMedia
	finished map[*call.Call]string // recordings of media targets, for OnEnd

	rtp rtpTotals // for Stats
}

// New opens the port pool.
func New(log *slog.Logger, opts Options) (*Anchor, error) {
	if log == nil {
		log = slog.Default()
	}
	if !opts.IP.IsValid() {
		return nil, errors.New("mediacall: no media ip")
	}
	if !opts.BindIP.IsValid() {
		opts.BindIP = opts.IP
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Leg == nil {
		opts.Leg = CallerLegOf
	}
	pool, err := portpool.New(log, opts.BindIP, opts.Ports)
	if err != nil {
		return nil, fmt.Errorf("mediacall: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Anchor{log: log.With("component", "media"), opts: opts, pool: pool,
		ctx: ctx, cancel: cancel, calls: map[*call.Call]*callMedia{}, finished: map[*call.Call]string{}}, nil
}

// Close stops every relay, returns their ports and closes the pool. Safe
// twice.
func (a *Anchor) Close() error {
	a.cancel()
	a.mu.Lock()
	cms := make([]*callMedia, 0, len(a.calls))
	for c, cm := range a.calls {
		cms = append(cms, cm)
		delete(a.calls, c)
	}
	a.mu.Unlock()
	for _, cm := range cms {
		cm.stop(a)
	}
	a.wg.Wait()
	return a.pool.Close()
}

// InUse is the number of RTP ports held by calls.
func (a *Anchor) InUse() int { return a.pool.InUse() }

// RewriteSDP is the call.SDPRewriter of today's engine/call: on an error
// (no common codec, malformed SDP, no port) it logs and passes the SDP
// through unchanged, so the far end rejects it itself. RewriteSDPErr is
// the variant that lets the call layer answer sdpneg.StatusCode(err).
func (a *Anchor) RewriteSDP(c *call.Call, leg string, body []byte) []byte {
	out, err := a.RewriteSDPErr(c, leg, body)
	if err != nil {
		a.log.Warn("sdp not anchored", "call_id", c.ID, "leg", leg, "error", err)
		return body
	}
	return out
}

// RewriteSDPErr rewrites the SDP sent on leg ("b": towards a callee, the
// caller's offer or re-offer; "a": towards the caller, a callee's answer
// or re-offer) so that media flows through our ports, and starts or
// updates the call's relay. Errors map to SIP codes with
// sdpneg.StatusCode (488 for no common codec).
func (a *Anchor) RewriteSDPErr(c *call.Call, leg string, body []byte) ([]byte, error) {
	if len(body) == 0 {
		return body, nil
	}
	cm, err := a.media(c)
	if err != nil {
		return nil, err
	}
	switch leg {
	case "b", "b-answer":
		return cm.towardsB(body)
	case "a":
		return cm.towardsA(a, c, body, false)
	case "a-offer":
		return cm.towardsA(a, c, body, true)
	default:
		return nil, fmt.Errorf("mediacall: unknown leg %q", leg)
	}
}

// media returns the call's media state, allocating its two ports on first
// use.
func (a *Anchor) media(c *call.Call) (*callMedia, error) {
	a.mu.Lock()
	cm := a.calls[c]
	a.mu.Unlock()
	if cm != nil {
		return cm, nil
	}
	if a.ctx.Err() != nil {
		return nil, errors.New("mediacall: closed")
	}
	cm, err := newCallMedia(a, c)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if old := a.calls[c]; old != nil {
		// Another goroutine won (forked legs rewrite concurrently).
		cm.release()
		return old, nil
	}
	a.calls[c] = cm
	return cm, nil
}

// OnEnd stops the call's relay and recording and returns its ports. Chain
// it into call.Config.OnEnd; it does not block on the network (the
// recording's last flush is a local file write).
func (a *Anchor) OnEnd(e call.End) (recording string) {
	a.mu.Lock()
	cm := a.calls[e.Call]
	delete(a.calls, e.Call)
	done := a.finished[e.Call]
	delete(a.finished, e.Call)
	a.mu.Unlock()
	if cm != nil {
		if path := cm.stop(a); path != "" {
			return path
		}
	}
	return done
}

// Answered is call.AnswerObserver's: the caller confirmed the callee's
// answer, so the recording (if the decision asks for one) starts now, not
// with early media.
func (a *Anchor) Answered(c *call.Call) {
	cm := a.lookup(c)
	if cm == nil {
		return
	}
	cm.mu.Lock()
	cm.startRecording(a)
	cm.mu.Unlock()
}

// lookup returns the call's anchored media, nil when there is none.
func (a *Anchor) lookup(c *call.Call) *callMedia {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.calls[c]
}

// event sends a media event of call c, to the scripts of the snapshot the
// call runs with when it has them (call.EventSink), as the call layer's
// events go; its data says whether the call's rule is an integration rule,
// so that the scripts.events filter treats both alike. Called on c's owner
// goroutine.
func (a *Anchor) event(typ string, c *call.Call, data map[string]any) {
	data["integration"] = c.Decision.Integration
	ev := engine.Event{Type: typ, Time: a.opts.Now(), CallID: c.ID, Data: data}
	if s, ok := c.Snapshot.(call.EventSink); ok {
		s.Emit(ev)
		return
	}
	if a.opts.Events != nil {
		a.opts.Events(ev)
	}
}

// RecordingFile is where the recording of c is being written, "" when it
// has none (not recorded, or not started yet). c may be a copy of the
// call (call.Manager.InProgress): the file is found by the call's start
// time and id.
func (a *Anchor) RecordingFile(c *call.Call) string {
	if !c.Decision.Record || a.opts.RecordingsDir == "" {
		return ""
	}
	path := recorder.Path(a.opts.RecordingsDir, c.Start, c.ID)
	if _, err := os.Stat(path); err != nil {
		return ""
	}
	return path
}
