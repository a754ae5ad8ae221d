package mediacall

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"luapbx/engine/apps"
	"luapbx/engine/call"
	"luapbx/media/recorder"
	"luapbx/media/rtprelay"
	"luapbx/media/sdpneg"
)

// answered is a caller the PBX answered itself (a media target): our
// Endpoint on one RTP port, the Session reading it and, while the call
// layer rings the target an IVR led to, the ring-back playing on it.
type answered struct {
	log    *slog.Logger
	leg    CallerLeg
	ep     *rtprelay.Endpoint
	rtp    *rtpTotals // counts ep's packets until it closes or is handed over
	sess   *apps.Session
	local  sdpneg.Local   // our address in the answer the caller holds
	origin *sdpneg.Origin // its o= line (versions go on in re-INVITEs)
	codec  uint8          // the codec negotiated with the caller

	ctx    context.Context // ends when the caller hangs up or the media is dropped
	cancel context.CancelFunc
	wg     sync.WaitGroup // the session reader and the hang-up watcher

	rbCancel context.CancelFunc // ring-back, while held
	rbDone   chan struct{}

	// rec records the answered call when the decision says record: the
	// caller left, what the PBX plays right. Held for a bridge, it moves
	// to the callMedia (the relay goes on with it).
	rec *recorder.Recorder
}

// answer answers the caller with our SDP on a new Endpoint and starts
// reading it. It returns the SIP code to reject with when it could not
// answer, or (nil, 0) when the caller did not take the answer.
func (a *Anchor) answer(ctx context.Context, c *call.Call, leg CallerLeg) (*answered, int) {
	offer, err := sdpneg.Parse(leg.Offer())
	if err != nil {
		a.log.Info("media target: caller sdp refused", "call_id", c.ID, "error", err)
		return nil, sdpneg.StatusCode(err)
	}
	port, err := a.pool.Allocate()
	if err != nil {
		a.log.Warn("media target: no rtp port", "call_id", c.ID, "error", err)
		return nil, 503
	}
	origin, local := sdpneg.NewOrigin("luapbx"), sdpneg.Local{IP: a.opts.IP, Port: port.Port()}
	body, neg, err := offer.Answer(origin, local, sdpneg.AnswerOptions{})
	if err != nil {
		_ = port.Close()
		return nil, sdpneg.StatusCode(err)
	}
	ep, err := rtprelay.NewEndpoint(a.log, rtprelay.EndpointConfig{Leg: rtprelay.FromMedia(port, neg),
		Timeout: a.opts.RTPTimeout, AllowAnySource: a.opts.AllowAnySource})
	if err != nil {
		_ = port.Close()
		return nil, 500
	}
	a.trackEndpoint(ep)
	// Media anchored for callees rung before (early media of a target
	// that fell back to this one) is not needed any more.
	a.drop(c)
	if err := leg.Answer(ctx, body); err != nil {
		_ = ep.Close()
		a.endEndpoint(ep)
		a.log.Info("media target: caller did not take the answer", "call_id", c.ID, "error", err)
		return nil, 0
	}
	an := &answered{log: a.log.With("call_id", c.ID), leg: leg, ep: ep, rtp: &a.rtp, local: local, origin: origin,
		codec: neg.Codec(), sess: apps.NewSession(a.log.With("call_id", c.ID), ep)}
	an.ctx, an.cancel = context.WithCancel(ctx)
	an.wg.Go(func() {
		select {
		case <-leg.Done():
			an.cancel()
		case <-an.ctx.Done():
		}
	})
	a.record(c, an)
	an.wg.Go(func() { _ = an.sess.Run(an.ctx) })
	return an, 0
}

// record starts recording an answered caller when the decision says so.
func (a *Anchor) record(c *call.Call, an *answered) {
	if rec := a.newRecording(c, an.log); rec != nil {
		an.rec = rec
		an.ep.SetTap(rec)
	}
}

// newRecording starts the call's stereo recording if its decision says
// record; nil when it does not, or when the file cannot be created (logged).
func (a *Anchor) newRecording(c *call.Call, log logger) *recorder.Recorder {
	if !c.Decision.Record || a.opts.RecordingsDir == "" {
		return nil
	}
	path := recorder.Path(a.opts.RecordingsDir, c.Start, c.ID)
	rec, err := recorder.New(path, recorder.WithStart(a.opts.Now()), recorder.WithClock(a.opts.Now),
		recorder.WithLogger(a.log))
	if err != nil {
		log.Warn("recording not started", "error", err)
		return nil
	}
	log.Info("recording started", "path", path)
	return rec
}

// finish closes an answered caller that is done (hanging it up unless it
// left) and its recording; the recording's path waits in finished for
// OnEnd, which puts it in the CDR.
func (a *Anchor) finish(c *call.Call, an *answered) {
	an.close(true)
	rec := an.rec
	an.rec = nil
	if path := a.finishRecording(c, an.log, rec); path != "" {
		a.mu.Lock()
		a.finished[c] = path
		a.mu.Unlock()
	}
}

// live reports whether the caller is still there.
func (an *answered) live() bool {
	select {
	case <-an.leg.Done():
		return false
	case <-an.sess.Done():
		return false
	default:
		return true
	}
}

// ringback plays the ring-back tone until stopRingback. A caller whose
// media stops meanwhile (rtp_timeout) ends the call through hangup.
func (an *answered) ringback(hangup func(cause string)) {
	ctx, cancel := context.WithCancel(an.ctx)
	an.rbCancel, an.rbDone = cancel, make(chan struct{})
	an.wg.Go(func() {
		defer close(an.rbDone)
		err := apps.Ringback(ctx, an.sess)
		var te *rtprelay.TimeoutError
		if errors.As(err, &te) && ctx.Err() == nil {
			an.log.Info("rtp timeout while ringing: hanging up", "silent", te.Silent.String())
			hangup("rtp_timeout")
		}
	})
}

// stopRingback stops the ring-back, if it plays, and waits for it.
func (an *answered) stopRingback() {
	if an.rbCancel == nil {
		return
	}
	an.rbCancel()
	<-an.rbDone
	an.rbCancel = nil
}

// close stops everything and closes the Endpoint (its port goes back to
// the pool); hangup sends the caller BYE first unless it hung up.
func (an *answered) close(hangup bool) {
	an.stopRingback()
	if hangup {
		select {
		case <-an.leg.Done():
		default:
			an.leg.Hangup()
		}
	}
	an.cancel()
	an.wg.Wait()
	an.closeEndpoint()
}

// closeEndpoint closes the Endpoint and counts its packets (nothing once
// it was handed over: the relay counts them).
func (an *answered) closeEndpoint() {
	_ = an.ep.Close()
	if an.rtp != nil {
		an.rtp.end(an.ep, an.ep.Stats())
	}
}

// detachWait bounds how long a hand-over waits for the session reader.
const detachWait = 2 * time.Second

// handover stops the ring-back and the session reader and gives the
// Endpoint's socket, latching and outgoing stream to a relay.
func (an *answered) handover() (*rtprelay.Handover, error) {
	an.stopRingback()
	an.ep.SetTap(nil) // the relay taps from now on
	an.ep.StopReading()
	select {
	case <-an.sess.Done():
	case <-time.After(detachWait):
		an.close(false)
		return nil, errors.New("mediacall: the caller's reader did not stop")
	}
	h, err := an.ep.Detach()
	an.cancel()
	an.wg.Wait()
	if err != nil {
		an.closeEndpoint()
		return nil, fmt.Errorf("mediacall: hand-over: %w", err)
	}
	return h, nil
}

// hold keeps an answered caller (ring-back) while the call layer rings
// the target an IVR chose, anchoring the callees' side on a new port;
// Bridge or the call's end takes it from there.
func (a *Anchor) hold(c *call.Call, an *answered) error {
	pb, err := a.pool.Allocate()
	if err != nil {
		return fmt.Errorf("mediacall: rtp port: %w", err)
	}
	cm := &callMedia{c: c, log: an.log, portB: pb, caller: an, localA: an.local, originA: an.origin,
		localB: sdpneg.Local{IP: a.opts.IP, Port: pb.Port()}, originB: sdpneg.NewOrigin("luapbx"),
		codecA: an.codec, rec: an.rec}
	an.rec = nil // the call's media owns it now
	a.mu.Lock()
	old := a.calls[c]
	a.calls[c] = cm
	a.mu.Unlock()
	if old != nil {
		old.stop(a)
	}
	// The hang-up is sent off the ring-back goroutine: close waits for
	// that one, and the call's owner may be the one closing.
	an.ringback(func(cause string) { a.wg.Go(func() { a.hangup(c, cause) }) })
	return nil
}

// takeHeld returns the caller held for c (a media target after an IVR
// choice that was not answered, e.g. a fallback to voicemail), its
// ring-back stopped; nil when there is none.
func (a *Anchor) takeHeld(c *call.Call) *answered {
	a.mu.Lock()
	cm := a.calls[c]
	if cm == nil || cm.caller == nil {
		a.mu.Unlock()
		return nil
	}
	delete(a.calls, c)
	a.mu.Unlock()
	cm.mu.Lock()
	an := cm.caller
	cm.caller = nil
	if an != nil {
		an.rec, cm.rec = cm.rec, nil // the recording goes on with the caller
	}
	cm.mu.Unlock()
	cm.stop(a) // the callees' port (and their early media)
	if an != nil {
		an.stopRingback()
	}
	return an
}

// drop stops and forgets the call's anchored media, if any.
func (a *Anchor) drop(c *call.Call) {
	a.mu.Lock()
	cm := a.calls[c]
	delete(a.calls, c)
	a.mu.Unlock()
	if cm != nil {
		cm.stop(a)
	}
}

// hangup ends a call from the media side (rtp_timeout).
func (a *Anchor) hangup(c *call.Call, cause string) {
	if a.opts.Hangup != nil {
		a.opts.Hangup(c, cause)
		return
	}
	if h, ok := any(c).(interface{ Hangup(cause string) }); ok {
		h.Hangup(cause)
	}
}

// Bridge is call.Media's: the callee of a call whose caller the PBX had
// answered (an IVR) answered with sdp. The caller's Endpoint socket
// becomes leg A of a relay towards the callee, with the recording if the
// decision says so; the caller is not re-INVITEd.
func (a *Anchor) Bridge(c *call.Call, sdp []byte) error {
	cm := a.lookup(c)
	if cm == nil {
		return errors.New("mediacall: bridge: no caller held for this call")
	}
	return cm.bridge(a, sdp)
}
