package call

import (
	"context"
	"errors"
	"time"

	"github.com/emiago/sipgo/sip"
)

// answer sends the winner's 200 (with its SDP) to the caller on a tracked
// goroutine (it blocks until the caller's ACK) and then relays until either
// side hangs up.
func (c *Call) talk() result {
	w := c.winner
	if c.calleeSlot != "" {
		defer c.m.drop(c.calleeSlot)
	}
	if c.held {
		return c.talkHeld()
	}
	body := c.rewrite("a", w.sess.InviteResponse.Body())
	res := sip.NewSDPResponseFromRequest(c.a.InviteRequest, body)
	acked := make(chan error, 1)
	c.goTracked(func() { acked <- c.a.WriteResponse(res) })
	c.log.Info("callee answered", "leg", w.spec.name)
	return c.talkLoop(acked)
}

// talkHeld bridges a caller the PBX had answered (an IVR) to the callee
// that answered its choice: no response goes to the caller, whose SDP
// stays valid; the media layer relays its RTP to the callee.
func (c *Call) talkHeld() result {
	w := c.winner
	if err := c.m.cfg.Media.Bridge(c, w.sess.InviteResponse.Body()); err != nil {
		c.byeCallee()
		if c.a.Context().Err() != nil { // the caller's BYE crossed the answer
			c.log.Info("callee answered as the caller hung up", "leg", w.spec.name)
			return result{answered: true, code: 200, cause: "normal", by: ByCaller}
		}
		c.log.Warn("callee answered but the caller could not be bridged", "leg", w.spec.name, "error", err)
		c.byeCaller()
		return result{answered: true, code: 200, cause: "media_failed", by: BySystem}
	}
	c.log.Info("callee answered: bridged to the answered caller", "leg", w.spec.name)
	c.setState(StateAnswered) // the answer time stays the IVR's
	c.event("call.answered", map[string]any{"callee": w.spec.name})
	return c.talkLoop(nil)
}

// talkLoop relays until either side hangs up; acked (nil when the caller
// was answered before) reports the caller's ACK of the callee's 200.
func (c *Call) talkLoop(acked chan error) result {
	w := c.winner
	if w.byeIn {
		// The callee hung up before its 200 was handled.
		return c.hangupCaller(acked, ByCallee, "normal")
	}
	for {
		select {
		case err := <-acked:
			acked = nil
			switch {
			case err == nil:
				c.markAnswered()
			case errors.Is(err, sip.ErrTransactionCanceled):
				// The caller's CANCEL crossed the 200: it got 487.
				c.log.Info("caller cancelled as the callee answered")
				c.byeCallee()
				return result{cancelled: true, code: 487, cause: "cancel", by: ByCaller}
			case c.callerBye.Load():
				// The caller's BYE overtook its ACK (sipgo handles them on
				// separate goroutines): it had the answer and hung up.
				c.markAnswered()
				c.byeCallee()
				return result{answered: true, code: 200, cause: "normal", by: ByCaller}
			default:
				c.log.Info("caller did not confirm the answer", "error", err)
				c.markAnswered()
				c.byeCallee()
				c.byeCaller()
				return result{answered: true, code: 200, cause: "no_ack", by: BySystem}
			}
		case ev := <-c.events:
			if r, done := c.talkEvent(ev, acked); done {
				return r
			}
		case <-c.ctx.Done():
			c.byeCallee()
			return c.hangupCaller(acked, BySystem, "shutdown")
		}
	}
}

// markAnswered records the answer (the caller's ACK, or its BYE) once.
func (c *Call) markAnswered() {
	c.mu.Lock()
	first := c.state != StateAnswered
	c.mu.Unlock()
	if !first {
		return
	}
	c.setState(StateAnswered)
	if o, ok := c.m.cfg.Media.(AnswerObserver); ok {
		o.Answered(c)
	}
	if c.eventsOn() {
		c.event("call.answered", map[string]any{"callee": c.winner.spec.name})
	}
}

// hangupCaller ends the call from the callee's or the system's side: it
// waits (bounded) for the caller's ACK so the BYE does not overtake it; a
// caller whose CANCEL won gets no BYE.
func (c *Call) hangupCaller(acked chan error, by, cause string) result {
	if acked != nil {
		var err error
		select {
		case err = <-acked:
		case <-time.After(sip.T1 * 64):
		}
		if errors.Is(err, sip.ErrTransactionCanceled) {
			return result{cancelled: true, code: 487, cause: "cancel", by: ByCaller}
		}
	}
	c.markAnswered()
	c.byeCaller()
	return result{answered: true, code: 200, cause: cause, by: by}
}

func (c *Call) talkEvent(ev event, acked chan error) (result, bool) {
	w := c.winner
	switch ev.kind {
	case evBye:
		if ev.leg == nil {
			c.markAnswered()
			c.byeCallee()
			return result{answered: true, code: 200, cause: "normal", by: ByCaller}, true
		}
		if ev.leg == w {
			return c.hangupCaller(acked, ByCallee, "normal"), true
		}
		ev.leg.byeIn = true
	case evAnswered:
		if ev.leg != w {
			l := ev.leg
			c.goTracked(func() { l.bye(l.sess) })
		}
	case evFailed:
		ev.leg.failed, ev.leg.code = true, ev.code
	case evReinvite:
		c.relayReinvite(ev)
	case evHangup:
		c.log.Info("the PBX hangs up", "cause", ev.cause)
		c.byeCallee()
		return c.hangupCaller(acked, BySystem, ev.cause), true
	}
	return result{}, false
}

// byeCallee hangs up the answered B leg.
func (c *Call) byeCallee() {
	c.winner.setState("ended")
	c.winner.bye(c.winner.sess)
}

// byeCaller hangs up the A leg.
func (c *Call) byeCaller() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.a.Bye(ctx); err != nil {
		c.log.Debug("bye to caller failed", "error", err)
	}
}

// relayReinvite passes a re-INVITE (hold, unhold, new SDP) to the other leg
// and its answer back.
func (c *Call) relayReinvite(ev event) {
	defer close(ev.done)
	ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
	defer cancel()
	out := sip.NewRequest(sip.INVITE, sip.Uri{})
	var res *sip.Response
	var err error
	if ev.leg == nil {
		out.Recipient = c.winner.sess.InviteResponse.Contact().Address
		out.SetBody(c.rewrite("b", ev.req.Body()))
		out.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		res, err = c.winner.sess.Do(ctx, out)
	} else if ev.leg == c.winner {
		out.Recipient = c.a.InviteRequest.Contact().Address
		out.SetBody(c.rewrite("a-offer", ev.req.Body()))
		out.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		res, err = c.a.Do(ctx, out)
	} else {
		respond(ev.tx, ev.req, 481, "Call/Transaction Does Not Exist")
		return
	}
	if err != nil {
		c.log.Info("re-invite relay failed", "error", err)
		respond(ev.tx, ev.req, 500, "Server Internal Error")
		return
	}
	if res.IsSuccess() {
		ack := sip.NewRequest(sip.ACK, out.Recipient)
		if ev.leg == nil {
			err = c.winner.sess.WriteRequest(ack)
		} else {
			err = c.a.WriteRequest(ack)
		}
		if err != nil {
			c.log.Info("re-invite ack failed", "error", err)
		}
	}
	back := sip.NewResponseFromRequest(ev.req, res.StatusCode, res.Reason, nil)
	if len(res.Body()) > 0 {
		side := "a" // the callee's answer to the caller's offer
		if ev.leg != nil {
			side = "b-answer" // the caller's answer to the callee's offer
		}
		back.SetBody(c.rewrite(side, res.Body()))
		back.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	}
	_ = ev.tx.Respond(back)
}
