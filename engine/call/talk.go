package call

import (
	"context"
	"errors"
	"time"

	"github.com/emiago/sipgo/sip"
)

// talk sends the winner's 200 (with its SDP) to the caller, waits for the
// caller's ACK, and then relays until either side hangs up.
//
// The owner sends the 200 itself: WriteResponse retransmits it and returns
// with the caller's ACK (or its BYE or CANCEL, or after 64*T1 without
// either). Events wait in c.events meanwhile; whatever they ask of the
// caller (a callee's BYE, a hangup) had to wait for that ACK anyway, and
// a goroutine per call and a hand-over per ACK are saved.
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
	c.log.Info("callee answered", "leg", w.spec.name)
	if r, done := c.confirm(c.a.WriteResponse(res)); done {
		return r
	}
	return c.talkLoop()
}

// confirm handles the outcome of the 200 to the caller: its ACK (err nil)
// or why none came. done is true when the call is over.
func (c *Call) confirm(err error) (result, bool) {
	if err != nil && c.winner.byeIn {
		// The callee hung up before its 200 was handled: its side is over.
		if errors.Is(err, sip.ErrTransactionCanceled) {
			return result{cancelled: true, code: 487, cause: "cancel", by: ByCaller}, true
		}
		return c.hangupCaller(ByCallee, "normal"), true
	}
	switch {
	case err == nil:
		c.markAnswered()
		return result{}, false
	case errors.Is(err, sip.ErrTransactionCanceled):
		// The caller's CANCEL crossed the 200: it got 487.
		c.log.Info("caller cancelled as the callee answered")
		c.byeCallee()
		return result{cancelled: true, code: 487, cause: "cancel", by: ByCaller}, true
	case c.callerBye.Load():
		// The caller's BYE overtook its ACK (sipgo handles them on
		// separate goroutines): it had the answer and hung up.
		c.markAnswered()
		c.byeCallee()
		return result{answered: true, code: 200, cause: "normal", by: ByCaller}, true
	default:
		c.log.Info("caller did not confirm the answer", "error", err)
		c.markAnswered()
		c.byeBoth()
		return result{answered: true, code: 200, cause: "no_ack", by: BySystem}, true
	}
}

// talkHeld bridges a caller the PBX had answered (an IVR) to the callee
// that answered its choice: no response goes to the caller, whose SDP
// stays valid; the media layer relays its RTP to the callee.
func (c *Call) talkHeld() result {
	w := c.winner
	if err := c.m.cfg.Media.Bridge(c, w.sess.InviteResponse.Body()); err != nil {
		if c.a.Context().Err() != nil { // the caller's BYE crossed the answer
			c.log.Info("callee answered as the caller hung up", "leg", w.spec.name)
			c.byeCallee()
			return result{answered: true, code: 200, cause: "normal", by: ByCaller}
		}
		c.log.Warn("callee answered but the caller could not be bridged", "leg", w.spec.name, "error", err)
		c.byeBoth()
		return result{answered: true, code: 200, cause: "media_failed", by: BySystem}
	}
	c.log.Info("callee answered: bridged to the answered caller", "leg", w.spec.name)
	c.setState(StateAnswered) // the answer time stays the IVR's
	c.event("call.answered", map[string]any{"callee": w.spec.name})
	return c.talkLoop()
}

// talkLoop relays until either side hangs up; the caller has confirmed the
// answer (or was answered by the PBX before).
func (c *Call) talkLoop() result {
	if c.winner.byeIn {
		// The callee hung up before its 200 was handled.
		return c.hangupCaller(ByCallee, "normal")
	}
	for {
		select {
		case ev := <-c.events:
			if r, done := c.talkEvent(ev); done {
				return r
			}
		case <-c.ctx.Done():
			return c.hangupBoth(BySystem, "shutdown")
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

// hangupCaller ends the call from the callee's or the system's side, once
// the caller confirmed the answer (talk waited for its ACK).
func (c *Call) hangupCaller(by, cause string) result {
	c.markAnswered()
	c.markEnd() // the callee's BYE or the system's decision, not the caller's answer to our BYE
	c.byeCaller()
	return result{answered: true, code: 200, cause: cause, by: by}
}

func (c *Call) talkEvent(ev event) (result, bool) {
	w := c.winner
	switch ev.kind {
	case evBye:
		if ev.leg == nil {
			c.markAnswered()
			c.byeCallee()
			return result{answered: true, code: 200, cause: "normal", by: ByCaller}, true
		}
		if ev.leg == w {
			return c.hangupCaller(ByCallee, "normal"), true
		}
		ev.leg.byeIn = true
	case evAnswered:
		if ev.leg != w {
			l := ev.leg
			c.goTracked(func() { l.bye(l.sess) })
		}
	case evFailed:
		ev.leg.failed, ev.leg.code = true, int(ev.code)
	case evReinvite:
		c.relayReinvite(ev)
	case evInfo:
		c.relayInfo(ev)
	case evHangup:
		c.log.Info("the PBX hangs up", "cause", ev.cause)
		return c.hangupBoth(BySystem, ev.cause), true
	}
	return result{}, false
}

// hangupBoth ends the call from the system's side once the caller
// confirmed the answer: both legs get their BYE at once.
func (c *Call) hangupBoth(by, cause string) result {
	c.markAnswered()
	c.byeBoth()
	return result{answered: true, code: 200, cause: cause, by: by}
}

// byeBoth hangs up both legs in parallel: a dead leg's BYE, which waits
// up to byeTimeout for an answer, must not delay the live one's.
func (c *Call) byeBoth() {
	c.markEnd()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.byeCaller()
	}()
	c.byeCallee()
	<-done
}

// markEnd notes when the call's end was decided, once: the record's end
// (and so its duration and billable time) is this moment, not when a BYE
// to a dead leg gave up.
func (c *Call) markEnd() {
	c.mu.Lock()
	if c.endAt.IsZero() {
		c.endAt = c.m.cfg.Now()
	}
	c.mu.Unlock()
}

// byeTimeout bounds a BYE transaction the PBX sends.
const byeTimeout = 10 * time.Second

// byeCallee hangs up the answered B leg.
func (c *Call) byeCallee() {
	c.markEnd()
	c.winner.setState("ended")
	c.winner.bye(c.winner.sess)
}

// byeCaller hangs up the A leg.
func (c *Call) byeCaller() {
	c.markEnd()
	ctx, cancel := context.WithTimeout(context.Background(), byeTimeout)
	defer cancel()
	if err := c.a.Bye(ctx); err != nil {
		c.log.Debug("bye to caller failed", "error", err)
	}
}

// relayReinvite passes a re-INVITE (hold, unhold, new SDP) to the other leg
// and its answer back.
func (c *Call) relayReinvite(ev event) {
	defer close(ev.re.done)
	ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
	defer cancel()
	out := sip.NewRequest(sip.INVITE, sip.Uri{})
	var res *sip.Response
	var err error
	if ev.leg == nil {
		out.Recipient = c.winner.sess.InviteResponse.Contact().Address
		out.SetBody(c.rewrite("b", ev.re.req.Body()))
		out.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		res, err = c.winner.sess.Do(ctx, out)
	} else if ev.leg == c.winner {
		out.Recipient = c.a.InviteRequest.Contact().Address
		out.SetBody(c.rewrite("a-offer", ev.re.req.Body()))
		out.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		res, err = c.a.Do(ctx, out)
	} else {
		respond(ev.re.tx, ev.re.req, 481, "Call/Transaction Does Not Exist")
		return
	}
	if err != nil {
		c.log.Info("re-invite relay failed", "error", err)
		respond(ev.re.tx, ev.re.req, 500, "Server Internal Error")
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
	back := sip.NewResponseFromRequest(ev.re.req, res.StatusCode, res.Reason, nil)
	if len(res.Body()) > 0 {
		side := "a" // the callee's answer to the caller's offer
		if ev.leg != nil {
			side = "b-answer" // the caller's answer to the callee's offer
		}
		back.SetBody(c.rewrite(side, res.Body()))
		back.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	}
	_ = ev.re.tx.Respond(back)
}
