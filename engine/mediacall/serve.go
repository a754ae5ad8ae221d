package mediacall

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"

	"luapbx/engine/apps"
	"luapbx/engine/call"
	"luapbx/engine/routing"
	"luapbx/media/rtprelay"
	"luapbx/media/sdpneg"
)

// CallerLeg is the caller's side of a call the PBX answers itself. It is
// what engine/call must expose for media targets (not there yet; see the
// report): Options.Leg adapts a *call.Call to it.
type CallerLeg interface {
	// Offer is the SDP of the caller's INVITE.
	Offer() []byte
	// Answer sends 200 OK with sdp and waits for the ACK.
	Answer(ctx context.Context, sdp []byte) error
	// Hangup sends BYE to the caller (once answered).
	Hangup()
	// Done is closed when the caller hung up.
	Done() <-chan struct{}
}

// maxAppSteps bounds ivr -> ivr/play chains within one call.
const maxAppSteps = 8

// Serve runs a media target on the caller's leg: it answers with our SDP
// on an rtprelay.Endpoint, runs the application and hangs up. It returns
// 0 once it answered, else the SIP code to reject the call with.
func (a *Anchor) Serve(ctx context.Context, c *call.Call, t routing.Target) int {
	var leg CallerLeg
	ok := false
	if a.opts.Leg != nil {
		leg, ok = a.opts.Leg(c)
	}
	if !ok {
		if t.Kind == routing.TargetVoicemail {
			return 480
		}
		return 501
	}
	if code := a.checkTarget(c, t); code != 0 {
		return code
	}
	offer, err := sdpneg.Parse(leg.Offer())
	if err != nil {
		a.log.Info("media target: caller sdp refused", "call_id", c.ID, "error", err)
		return sdpneg.StatusCode(err)
	}
	port, err := a.pool.Allocate()
	if err != nil {
		a.log.Warn("media target: no rtp port", "call_id", c.ID, "error", err)
		return 503
	}
	body, neg, err := offer.Answer(sdpneg.NewOrigin("luapbx"), sdpneg.Local{IP: a.opts.IP, Port: port.Port()}, sdpneg.AnswerOptions{})
	if err != nil {
		_ = port.Close()
		return sdpneg.StatusCode(err)
	}
	ep, err := rtprelay.NewEndpoint(a.log, rtprelay.EndpointConfig{Leg: rtprelay.FromMedia(port, neg),
		Timeout: a.opts.RTPTimeout, AllowAnySource: a.opts.AllowAnySource})
	if err != nil {
		_ = port.Close()
		return 500
	}
	defer ep.Close()
	if err := leg.Answer(ctx, body); err != nil {
		a.log.Info("media target: caller did not take the answer", "call_id", c.ID, "error", err)
		return 0
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		select {
		case <-leg.Done():
			cancel()
		case <-ctx.Done():
		}
	})
	sess := apps.NewSession(a.log, ep)
	wg.Go(func() { _ = sess.Run(ctx) })
	err = a.runApps(ctx, c, sess, t)
	select {
	case <-leg.Done():
	default:
		leg.Hangup()
	}
	cancel()
	a.log.Info("media target done", "call_id", c.ID, "target", t.String(), "error", err)
	return 0
}

// checkTarget rejects targets that cannot run before answering.
func (a *Anchor) checkTarget(c *call.Call, t routing.Target) int {
	switch t.Kind {
	case routing.TargetApp:
		if t.Arg != "echo" && t.Arg != "tone" {
			return 501
		}
	case routing.TargetPlay:
		if a.opts.Prompt == nil {
			return 501
		}
	case routing.TargetIVR:
		if a.opts.IVR == nil {
			return 501
		}
		if _, ok := a.opts.IVR(c.Company, t.Arg); !ok {
			return 404
		}
	case routing.TargetVoicemail:
		if a.opts.VoicemailDir == "" || t.Arg == "" || filepath.Base(t.Arg) != t.Arg {
			return 480
		}
	}
	return 0
}

// runApps runs t and, for IVR choices, the media targets it leads to.
func (a *Anchor) runApps(ctx context.Context, c *call.Call, s *apps.Session, t routing.Target) error {
	for range maxAppSteps {
		var err error
		switch t.Kind {
		case routing.TargetApp:
			if t.Arg == "tone" {
				return apps.Tone(ctx, s)
			}
			return apps.Echo(ctx, s)
		case routing.TargetPlay:
			p, perr := a.opts.Prompt(t.Arg)
			if perr != nil {
				return fmt.Errorf("mediacall: prompt %s: %w", t.Arg, perr)
			}
			return apps.Play(ctx, s, p)
		case routing.TargetVoicemail:
			return a.voicemail(ctx, c, s, t.Arg)
		case routing.TargetIVR:
			cfg, ok := a.opts.IVR(c.Company, t.Arg)
			if !ok {
				return fmt.Errorf("mediacall: no ivr %q", t.Arg)
			}
			next, ierr := apps.IVR(ctx, s, cfg)
			if ierr != nil {
				return ierr
			}
			a.log.Info("ivr choice", "call_id", c.ID, "ivr", t.Arg, "target", next)
			if t, err = routing.ParseTarget(next); err != nil {
				return fmt.Errorf("mediacall: ivr %s target: %w", cfg.ID, err)
			}
			if code := a.checkTarget(c, t); code != 0 {
				return fmt.Errorf("mediacall: ivr target %s not available here (%d)", next, code)
			}
		default:
			// Ringing a user, group or gateway after an IVR needs the
			// call layer to take the call back (not available yet).
			return fmt.Errorf("mediacall: target %s cannot follow a media target", t.String())
		}
	}
	return errors.New("mediacall: too many chained media targets")
}

func (a *Anchor) voicemail(ctx context.Context, c *call.Call, s *apps.Session, ext string) error {
	cfg := apps.VoicemailConfig{Dir: filepath.Join(a.opts.VoicemailDir, ext), CallID: c.ID, From: c.From,
		To: c.To, Extension: ext, Now: a.opts.Now}
	msg, err := apps.Voicemail(ctx, s, cfg)
	if err != nil {
		return err
	}
	a.event("voicemail.new", c.ID, map[string]any{"path": msg.Path, "extension": ext,
		"from": msg.From, "duration_seconds": msg.DurationSeconds, "reason": msg.Reason})
	return nil
}
