package mediacall

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sync"

	"luapbx/engine/apps"
	"luapbx/engine/call"
	"luapbx/media/portpool"
	"luapbx/media/recorder"
	"luapbx/media/rtprelay"
	"luapbx/media/sdpneg"
)

// callMedia is one anchored call: a port facing the caller (A) and one
// facing every callee (B; forked legs share it, only one answers), the
// caller's offer, and once a callee answered, the relay.
type callMedia struct {
	c   *call.Call
	log logger

	mu               sync.Mutex
	portA, portB     *portpool.Port // owned by relay once it exists
	localA, localB   sdpneg.Local
	originA, originB *sdpneg.Origin
	offerA           *sdpneg.Session
	offerBody        []byte // the caller's offer as last received
	offerB           []byte // what we sent the callees for it
	relay            *rtprelay.Relay
	rec              *recorder.Recorder
	codecA           uint8 // the caller's negotiated codec
	stopped          bool
	// caller is the caller the PBX answered (an IVR) while its choice
	// rings: no portA, and Bridge hands its Endpoint to the relay.
	caller *answered
	// early plays a ringing callee's early media to that caller.
	early *earlyMedia
}

func newCallMedia(a *Anchor, c *call.Call) (*callMedia, error) {
	pa, err := a.pool.Allocate()
	if err != nil {
		return nil, fmt.Errorf("mediacall: rtp port: %w", err)
	}
	pb, err := a.pool.Allocate()
	if err != nil {
		_ = pa.Close()
		return nil, fmt.Errorf("mediacall: rtp port: %w", err)
	}
	return &callMedia{c: c, log: a.log.With("call_id", c.ID), portA: pa, portB: pb,
		localA: sdpneg.Local{IP: a.opts.IP, Port: pa.Port()}, localB: sdpneg.Local{IP: a.opts.IP, Port: pb.Port()},
		originA: sdpneg.NewOrigin("luapbx"), originB: sdpneg.NewOrigin("luapbx")}, nil
}

// release closes ports no relay owns yet.
func (cm *callMedia) release() {
	if cm.relay != nil {
		return
	}
	for _, p := range []*portpool.Port{cm.portA, cm.portB} {
		if p != nil {
			_ = p.Close()
		}
	}
}

// towardsB rewrites the caller's offer (initial or re-INVITE) for callees.
func (cm *callMedia) towardsB(body []byte) ([]byte, error) {
	cm.mu.Lock()
	defer cm.mu.Unlock()
	if cm.stopped {
		return nil, errors.New("mediacall: call ended")
	}
	if cm.offerB != nil && bytes.Equal(body, cm.offerBody) {
		return cm.offerB, nil // the same offer to another forked leg
	}
	s, err := sdpneg.Parse(body)
	if err != nil {
		return nil, fmt.Errorf("mediacall: caller sdp: %w", err)
	}
	out, err := s.Offer(cm.originB, cm.localB)
	if err != nil {
		return nil, fmt.Errorf("mediacall: offer to callee: %w", err)
	}
	cm.offerA, cm.offerBody, cm.offerB = s, bytes.Clone(body), out
	if cm.relay != nil {
		// A re-INVITE from the caller (hold, new address): the caller's
		// codec stays until the callee's answer says otherwise.
		m := s.Media
		m.Codecs = []uint8{cm.negotiatedA(m)}
		cm.relay.Update(rtprelay.A, rtprelay.FromMedia(nil, m))
	}
	return out, nil
}

// negotiatedA is the caller's current codec if m still has it, else m's
// first (under mu).
func (cm *callMedia) negotiatedA(m sdpneg.Media) uint8 {
	if slices.Contains(m.Codecs, cm.codecA) {
		return cm.codecA
	}
	return m.Codec()
}

// towardsA rewrites a callee's answer (or re-offer) for the caller: it is
// turned into our answer to the caller's offer, preferring the callee's
// codec, and starts or updates the relay.
//
// reoffer says body is the callee's offer in a re-INVITE of its own (hold,
// unhold): it becomes our offer to the caller with the callee's direction.
// Otherwise body answers the caller's latest offer, and our answer to the
// caller keeps within that offer's direction (a caller's hold, answered
// sendrecv by the callee, is answered recvonly).
func (cm *callMedia) towardsA(a *Anchor, c *call.Call, body []byte, reoffer bool) ([]byte, error) {
	cm.mu.Lock()
	defer cm.mu.Unlock()
	if cm.stopped {
		return nil, errors.New("mediacall: call ended")
	}
	if cm.offerA == nil {
		return nil, errors.New("mediacall: callee sdp before the caller's offer")
	}
	if cm.caller != nil {
		return nil, errors.New("mediacall: the caller was answered already (bridge, not rewrite)")
	}
	b, err := sdpneg.Parse(body)
	if err != nil {
		return nil, fmt.Errorf("mediacall: callee sdp: %w", err)
	}
	base := cm.offerA
	if cm.relay != nil && reoffer {
		// offerA may be the caller's last answer (its recvonly to a
		// hold), which must not narrow the direction of the next offer.
		o := *cm.offerA
		o.Media.Direction = b.Media.Direction.Reverse()
		base = &o
	}
	out, negA, err := base.Answer(cm.originA, cm.localA,
		sdpneg.AnswerOptions{Prefer: b.Media.Codecs, Direction: b.Media.Direction})
	if err != nil {
		return nil, fmt.Errorf("mediacall: answer to caller: %w", err)
	}
	cm.codecA = negA.Codec()
	if cm.relay != nil {
		cm.relay.Update(rtprelay.A, rtprelay.FromMedia(nil, negA))
		cm.relay.Update(rtprelay.B, rtprelay.FromMedia(nil, b.Media))
		return out, nil
	}
	cfg := rtprelay.Config{
		A:       rtprelay.FromMedia(cm.portA, negA),
		B:       rtprelay.FromMedia(cm.portB, b.Media),
		Timeout: a.opts.RTPTimeout, AllowAnySource: a.opts.AllowAnySource,
	}
	// The recording starts at the answer (Answered), not on early media.
	r, err := rtprelay.New(a.log, cfg)
	if err != nil {
		return nil, fmt.Errorf("mediacall: relay: %w", err)
	}
	cm.relay = r
	a.trackRelay(r)
	a.wg.Go(func() { cm.run(a, r) })
	cm.log.Debug("media anchored", "port_a", cm.localA.Port, "port_b", cm.localB.Port,
		"codec_a", negA.Codec(), "codec_b", b.Media.Codec())
	return out, nil
}

// startRecording taps the relay into the call's recording (under mu,
// relay running): the one a held caller brought, or a new stereo one when
// the decision says record.
func (cm *callMedia) startRecording(a *Anchor) {
	if cm.relay == nil || cm.stopped {
		return
	}
	if cm.rec == nil {
		cm.rec = a.newRecording(cm.c, cm.log)
	}
	if cm.rec != nil {
		cm.relay.SetTap(cm.rec)
	}
}

// bridge connects the held caller to the callee that answered with body.
func (cm *callMedia) bridge(a *Anchor, body []byte) error {
	b, err := sdpneg.Parse(body)
	if err != nil {
		return fmt.Errorf("mediacall: callee sdp: %w", err)
	}
	cm.mu.Lock()
	an := cm.caller
	cm.caller = nil
	stopped := cm.stopped
	early := cm.early
	cm.early = nil
	cm.mu.Unlock()
	early.stop() // portB is the relay's from here
	switch {
	case an == nil:
		return errors.New("mediacall: bridge: no caller held")
	case stopped:
		an.close(false)
		return errors.New("mediacall: bridge: call ended")
	}
	h, err := an.handover() // waits for the caller's reader: not under mu
	if err != nil {
		return err
	}
	r, err := rtprelay.New(a.log, rtprelay.Config{HandoverA: h, B: rtprelay.FromMedia(cm.portB, b.Media),
		Timeout: a.opts.RTPTimeout, AllowAnySource: a.opts.AllowAnySource})
	if err != nil {
		_ = h.Close()
		a.endEndpoint(an.ep)
		return fmt.Errorf("mediacall: relay: %w", err)
	}
	// The relay's leg A goes on with the endpoint's counters.
	a.rtp.swap(an.ep, r, relayPackets(r))
	cm.mu.Lock()
	if cm.stopped {
		cm.mu.Unlock()
		_ = r.Close()
		a.count(r)
		return errors.New("mediacall: bridge: call ended")
	}
	cm.relay = r
	cm.startRecording(a)
	recording := cm.rec != nil
	cm.mu.Unlock()
	a.wg.Go(func() { cm.run(a, r) })
	cm.log.Info("answered caller bridged", "port_a", h.LocalPort(), "port_b", cm.localB.Port,
		"codec_a", cm.codecA, "codec_b", b.Media.Codec(), "record", recording)
	return nil
}

// run relays until the call ends; a silent leg hangs the call up.
func (cm *callMedia) run(a *Anchor, r *rtprelay.Relay) {
	err := r.Run(a.ctx)
	var te *rtprelay.TimeoutError
	switch {
	case err == nil || errors.Is(err, rtprelay.ErrClosed):
		return
	case !errors.As(err, &te):
		cm.log.Warn("rtp relay failed: hanging up a call that would have no audio", "error", err)
		a.hangup(cm.c, "media_failed")
		return
	}
	cm.log.Warn("rtp timeout: hanging up", "leg", te.Leg.String(), "silent", te.Silent.String())
	a.hangup(cm.c, "rtp_timeout")
}

// stop ends the relay and the recording and returns the ports.
func (cm *callMedia) stop(a *Anchor) (recording string) {
	cm.mu.Lock()
	if cm.stopped {
		cm.mu.Unlock()
		return ""
	}
	cm.stopped = true
	r, rec, an, early := cm.relay, cm.rec, cm.caller, cm.early
	cm.rec, cm.caller, cm.early = nil, nil, nil
	cm.mu.Unlock()
	early.stop() // before portB closes
	cm.mu.Lock()
	cm.release()
	cm.mu.Unlock()
	if an != nil {
		an.close(false) // the call layer has hung the caller up
	}
	if r != nil {
		_ = r.Close()
		a.count(r)
	}
	return cm.closeRecording(a, rec)
}

// logger is the part of *slog.Logger a call's media logs with.
type logger interface {
	Debug(string, ...any)
	Info(string, ...any)
	Warn(string, ...any)
}

// closeRecording finishes the WAV and writes its sidecar; it returns the
// WAV's path, "" when there is none.
func (cm *callMedia) closeRecording(a *Anchor, rec *recorder.Recorder) string {
	return a.finishRecording(cm.c, cm.log, rec)
}

// finishRecording closes a call's recording, writes its sidecar and sends
// recording.done; it returns the WAV's path, "" when there is none.
func (a *Anchor) finishRecording(c *call.Call, log logger, rec *recorder.Recorder) string {
	if rec == nil {
		return ""
	}
	dur, err := rec.Close()
	if err != nil {
		log.Warn("recording failed", "path", rec.Path(), "error", err)
		return ""
	}
	var gen uint64
	if c.Snapshot != nil {
		gen = c.Snapshot.Generation()
	}
	side := apps.Recording{CallID: c.ID, From: c.From, To: c.To, Company: c.Company,
		Target: c.Decision.Target.String(), Rule: c.Decision.Rule, Explanation: c.Explanation,
		Generation: gen, Start: c.Start, DurationSeconds: dur.Seconds(), Path: rec.Path()}
	if err := apps.WriteSidecar(rec.Path(), side); err != nil {
		log.Warn("recording sidecar failed", "path", rec.Path(), "error", err)
	}
	st := rec.Stats()
	log.Info("recording done", "path", rec.Path(), "duration_s", dur.Seconds(), "frames", st.Written)
	if miss := st.Dropped + st.Late; miss > 0 && miss*100 > st.Written {
		// Over 1 % of the frames are silence in the file although they
		// reached the relay: the recorder fell behind (dropped) or they
		// came too late or too early for their place.
		log.Warn("recording has gaps the network did not cause", "path", rec.Path(),
			"dropped", st.Dropped, "late", st.Late, "frames", st.Written)
	}
	a.event("recording.done", c, map[string]any{"path": rec.Path(), "duration_seconds": dur.Seconds(),
		"sidecar": apps.SidecarPath(rec.Path())})
	return rec.Path()
}
