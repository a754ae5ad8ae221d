package mediacall

import (
	"errors"
	"fmt"
	"sync"

	"luapbx/engine/call"
	"luapbx/media/g711"
	"luapbx/media/rtprelay"
	"luapbx/media/sdpneg"
)

// earlyMedia plays a ringing callee's early media (a 183 announcement) to
// a caller the PBX answered itself: an Endpoint on the callees' port reads
// it and the caller's Endpoint sends it on, in place of the ring-back. It
// only listens (nothing is sent to the callee), and it lets the port go
// without closing it: Bridge relays on it once a callee answers.
type earlyMedia struct {
	ep   *rtprelay.Endpoint
	rtp  *rtpTotals
	done chan struct{}
	once sync.Once
}

// EarlyMedia is call.EarlyMediaSink's: the callee ringing for a held
// caller sent sdp in a provisional response.
func (a *Anchor) EarlyMedia(c *call.Call, sdp []byte) error {
	cm := a.lookup(c)
	if cm == nil {
		return errors.New("mediacall: early media: no caller held for this call")
	}
	return cm.playEarly(a, sdp)
}

func (cm *callMedia) playEarly(a *Anchor, body []byte) error {
	b, err := sdpneg.Parse(body)
	if err != nil {
		return fmt.Errorf("mediacall: early media sdp: %w", err)
	}
	cfg := rtprelay.FromMedia(cm.portB, b.Media)
	cm.mu.Lock()
	defer cm.mu.Unlock()
	an := cm.caller
	switch {
	case an == nil || cm.stopped || cm.relay != nil:
		return errors.New("mediacall: early media: no caller waiting")
	case cm.early != nil: // another callee's: follow the latest
		cm.early.ep.Update(cfg)
		return nil
	}
	ep, err := rtprelay.NewEndpoint(a.log, rtprelay.EndpointConfig{Leg: cfg, AllowAnySource: a.opts.AllowAnySource})
	if err != nil {
		return err
	}
	an.stopRingback() // the early media's goroutine is the caller's writer now
	a.trackEndpoint(ep)
	e := &earlyMedia{ep: ep, rtp: &a.rtp, done: make(chan struct{})}
	cm.early = e
	go e.run(an)
	// The ring-back watched the caller's media; with it stopped, this does:
	// a caller silent past rtp_timeout is hung up while the callee rings.
	c := cm.c
	a.wg.Go(func() {
		select {
		case <-an.sess.Done():
		case <-e.done:
			return
		}
		var te *rtprelay.TimeoutError
		if errors.As(an.sess.Err(), &te) {
			an.log.Info("rtp timeout during early media: hanging up", "silent", te.Silent.String())
			a.hangup(c, "rtp_timeout")
		}
	})
	cm.log.Info("callee's early media to the answered caller", "remote", b.Media.Addr.String())
	return nil
}

// EarlyMediaEnded is call.EarlyMediaSink's: the callee whose early media
// the held caller hears failed; the caller hears the ring-back again while
// the call layer goes on.
func (a *Anchor) EarlyMediaEnded(c *call.Call) {
	cm := a.lookup(c)
	if cm == nil {
		return
	}
	cm.mu.Lock()
	e, an, stopped := cm.early, cm.caller, cm.stopped
	cm.early = nil
	cm.mu.Unlock()
	if e == nil {
		return
	}
	e.stop()
	if an != nil && !stopped && an.live() {
		an.ringback(func(cause string) { a.wg.Go(func() { a.hangup(c, cause) }) })
		cm.log.Info("callee's early media ended: ring-back again")
	}
}

// run sends the callee's audio to the caller until stop.
func (e *earlyMedia) run(an *answered) {
	defer close(e.done)
	buf := make([]byte, 1500)
	for {
		p, err := e.ep.ReadPacket(buf)
		if err != nil {
			return // stopped (ErrDetached)
		}
		if p.Event || (p.PT != g711.PTPCMU && p.PT != g711.PTPCMA) {
			continue
		}
		if err := an.ep.WriteAudio(p.Payload, p.PT); err != nil {
			an.log.Debug("early media to the caller", "error", err)
		}
	}
}

// stop ends the early media and gives the port back to the callMedia
// (open). Safe on nil and twice.
func (e *earlyMedia) stop() {
	if e == nil {
		return
	}
	e.once.Do(func() {
		e.ep.StopReading()
		<-e.done
		if _, err := e.ep.Detach(); err != nil {
			_ = e.ep.Close()
		}
		e.rtp.end(e.ep, e.ep.Stats()) // the port goes on; its packets so far are counted
	})
}

var _ call.EarlyMediaSink = (*Anchor)(nil)
