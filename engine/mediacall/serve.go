package mediacall

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"luapbx/engine/apps"
	"luapbx/engine/call"
	"luapbx/engine/routing"
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

// Serve is call.Media's: it runs a media target on the caller's leg,
// answering it with our SDP on an rtprelay.Endpoint (or reusing the leg
// answered before, when an IVR choice fell back to a media target), and
// hangs up once the application is done. It returns 0 once it answered,
// else the SIP code to reject the call with. When an IVR choice leads to
// a target the call layer rings (user:, group:, gateway:, number:), it
// returns that target: the caller stays answered, hears ring-back, and
// Bridge later relays its media to the callee that answers.
func (a *Anchor) Serve(ctx context.Context, c *call.Call, t routing.Target) (int, *routing.Target) {
	var leg CallerLeg
	ok := false
	if a.opts.Leg != nil {
		leg, ok = a.opts.Leg(c)
	}
	if !ok {
		if t.Kind == routing.TargetVoicemail {
			return 480, nil
		}
		return 501, nil
	}
	if code := a.checkTarget(c, t); code != 0 {
		return code, nil
	}
	an := a.takeHeld(c)
	if an == nil {
		code := 0
		if an, code = a.answer(ctx, c, leg); an == nil {
			return code, nil
		}
	}
	next, err := a.runApps(an.ctx, c, an.sess, t)
	if err == nil && next != nil {
		if !an.live() {
			err = errors.New("mediacall: the caller left before its choice rang")
		} else if err = a.hold(c, an); err == nil {
			return 0, next
		}
	}
	left := false // the caller hung up (not an rtp timeout)
	select {
	case <-an.leg.Done():
		left = true
	default:
	}
	a.finish(c, an)
	switch {
	case err == nil || left && (errors.Is(err, context.Canceled) || errors.Is(err, apps.ErrMediaEnded)):
		a.log.Info("media target done", "call_id", c.ID, "target", t.String(), "caller_left", left)
	case errors.Is(err, apps.ErrNoMessage): // '#' or the limit with almost nothing said: an outcome, not a fault
		a.log.Info("media target done: no voicemail message left", "call_id", c.ID, "target", t.String(), "caller_left", left)
	default:
		a.log.Warn("media target failed", "call_id", c.ID, "target", t.String(), "error", err)
	}
	return 0, nil
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

// runApps runs t and, for IVR choices, the media targets it leads to. A
// choice the call layer must ring is returned as next (err nil).
func (a *Anchor) runApps(ctx context.Context, c *call.Call, s *apps.Session, t routing.Target) (*routing.Target, error) {
	for range maxAppSteps {
		var err error
		switch t.Kind {
		case routing.TargetApp:
			if t.Arg == "tone" {
				return nil, apps.Tone(ctx, s)
			}
			return nil, apps.Echo(ctx, s)
		case routing.TargetPlay:
			p, perr := a.opts.Prompt(t.Arg)
			if perr != nil {
				return nil, fmt.Errorf("mediacall: prompt %s: %w", t.Arg, perr)
			}
			return nil, apps.Play(ctx, s, p)
		case routing.TargetVoicemail:
			return nil, a.voicemail(ctx, c, s, t.Arg)
		case routing.TargetIVR:
			cfg, ok := a.opts.IVR(c.Company, t.Arg)
			if !ok {
				return nil, fmt.Errorf("mediacall: no ivr %q", t.Arg)
			}
			next, ierr := apps.IVR(ctx, s, cfg)
			if ierr != nil {
				return nil, ierr
			}
			if t, err = routing.ParseTarget(next); err != nil {
				return nil, fmt.Errorf("mediacall: ivr %s target: %w", cfg.ID, err)
			}
			if rung(t.Kind) {
				return &t, nil
			}
			if code := a.checkTarget(c, t); code != 0 {
				return nil, fmt.Errorf("mediacall: ivr target %s not available here (%d)", next, code)
			}
		default:
			// reject: after an answer there is nothing to reject.
			return nil, fmt.Errorf("mediacall: target %s cannot follow a media target", t.String())
		}
	}
	return nil, errors.New("mediacall: too many chained media targets")
}

// rung says whether the call layer rings targets of kind k.
func rung(k routing.TargetKind) bool {
	switch k {
	case routing.TargetUser, routing.TargetGroup, routing.TargetGateway, routing.TargetNumber:
		return true
	}
	return false
}

func (a *Anchor) voicemail(ctx context.Context, c *call.Call, s *apps.Session, ext string) error {
	cfg := apps.VoicemailConfig{Dir: filepath.Join(a.opts.VoicemailDir, ext), CallID: c.ID, From: c.From,
		To: c.To, Extension: ext, Now: a.opts.Now}
	if a.opts.Greeting != nil {
		if g, ok := a.opts.Greeting(c.Company, ext); ok {
			cfg.Greeting = g
		}
	}
	msg, err := apps.Voicemail(ctx, s, cfg)
	if err != nil {
		return err
	}
	a.event("voicemail.new", c, map[string]any{"path": msg.Path, "extension": ext,
		"from": msg.From, "duration_seconds": msg.DurationSeconds, "reason": msg.Reason})
	return nil
}
