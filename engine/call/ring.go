package call

import (
	"time"

	"github.com/emiago/sipgo/sip"
)

// ringOpts bound one attempt.
type ringOpts struct {
	ringFor    time.Duration // give up (no answer) after this
	noResponse time.Duration // give up on a leg with no response at all (trunks); 0 = never
}

// ring rings specs in parallel until one answers (it becomes c.winner),
// all fail, the time runs out, or the caller cancels.
func (c *Call) ring(specs []legSpec, o ringOpts) result {
	c.setState(StateRinging)
	legs := make([]*leg, 0, len(specs))
	for _, s := range specs {
		legs = append(legs, c.startLeg(s))
	}
	defer func() {
		for _, l := range legs {
			if l != c.winner {
				l.active = false
				l.cancel()
			}
		}
	}()
	ringT := time.NewTimer(o.ringFor)
	defer ringT.Stop()
	var noRespC <-chan time.Time
	if o.noResponse > 0 {
		t := time.NewTimer(o.noResponse)
		defer t.Stop()
		noRespC = t.C
	}
	aDone := c.a.Context().Done()
	for {
		if r, done := attemptOver(legs); done {
			return r
		}
		select {
		case ev := <-c.events:
			if r, done := c.ringEvent(ev); done {
				return r
			}
		case <-aDone:
			c.log.Info("caller cancelled")
			return result{cancelled: true, code: 487, cause: "cancel", by: ByCaller}
		case <-ringT.C:
			return result{code: 480, cause: "no_answer", by: BySystem}
		case <-noRespC:
			for _, l := range legs {
				if !l.gotResp && !l.failed {
					l.failed, l.code = true, 408
					l.abandon()
				}
			}
		case <-c.ctx.Done():
			return result{code: 503, cause: "shutdown", by: BySystem}
		}
	}
}

// attemptOver reports the result once every leg has failed.
func attemptOver(legs []*leg) (result, bool) {
	code := 0
	for _, l := range legs {
		if !l.failed {
			return result{}, false
		}
		code = worse(code, l.code)
	}
	if code == 0 {
		code = 480
	}
	return result{code: code, cause: causeOf(code), by: ByCallee}, true
}

// worse picks the code to report from a fork: 6xx, then busy, then the
// first other failure.
func worse(cur, next int) int {
	switch {
	case cur == 0:
		return next
	case cur >= 600:
		return cur
	case next >= 600 || next == 486:
		return next
	}
	return cur
}

func causeOf(code int) string {
	switch code {
	case 486, 600:
		return "busy"
	case 408, 480, 487:
		return "no_answer"
	case 404:
		return "not_found"
	}
	return "failed"
}

// ringEvent handles one event while ringing.
func (c *Call) ringEvent(ev event) (result, bool) {
	l := ev.leg
	switch ev.kind {
	case evProvisional:
		if l != nil && l.active {
			l.gotResp = true
			l.setState("ringing")
			if !c.held {
				c.relayProvisional(ev.res)
			} else { // an answered caller hears our ring-back, or this early media
				c.earlyToHeld(l, ev.res)
			}
		}
	case evAnswered:
		if l.active && c.winner == nil {
			c.winner = l
			l.setState("answered")
			return result{answered: true, code: 200}, true
		}
		c.goTracked(func() { l.bye(l.sess) })
	case evFailed:
		l.failed, l.code, l.gotResp = true, int(ev.code), true
		l.setState("failed")
		if c.held && c.earlyLeg == l {
			c.earlyLeg = nil
			if sink, ok := c.m.cfg.Media.(EarlyMediaSink); ok {
				sink.EarlyMediaEnded(c) // the caller hears the ring-back again
			}
		}
		if l.active {
			c.log.Info("b leg failed", "leg", l.spec.name, "code", ev.code, "error", ev.err)
		}
	case evBye:
		if l != nil {
			l.byeIn = true
		}
	case evReinvite, evInfo: // not relayed before the answer: try again later
		respond(ev.re.tx, ev.re.req, 491, "Request Pending")
		close(ev.re.done)
	case evHangup:
		if c.held { // the answered caller's media ended (rtp_timeout)
			c.log.Info("the PBX hangs up while ringing", "cause", ev.cause)
			return result{code: 503, cause: ev.cause, by: BySystem}, true
		}
	}
	return result{}, false
}

// earlyToHeld hands a callee's early media to the media layer for a caller
// it answered itself.
func (c *Call) earlyToHeld(l *leg, r *sip.Response) {
	body := r.Body()
	sink, ok := c.m.cfg.Media.(EarlyMediaSink)
	if len(body) == 0 || !ok {
		return
	}
	if err := sink.EarlyMedia(c, body); err != nil {
		c.log.Info("callee's early media not played to the answered caller", "leg", l.spec.name, "error", err)
		return
	}
	c.earlyLeg = l
	c.log.Debug("callee's early media played to the answered caller", "leg", l.spec.name, "code", r.StatusCode)
}

// relayProvisional passes 180/183 (with their SDP) to the caller.
func (c *Call) relayProvisional(r *sip.Response) {
	if r.StatusCode == 100 {
		return
	}
	body := r.Body()
	var hdrs []sip.Header
	if len(body) > 0 {
		body = c.rewrite("a", body)
		hdrs = append(hdrs, sip.NewHeader("Content-Type", "application/sdp"))
		c.relayed = true
	}
	if err := c.a.Respond(r.StatusCode, r.Reason, body, hdrs...); err != nil {
		c.log.Debug("provisional to caller failed", "code", r.StatusCode, "error", err)
	}
}

// cancelLegs cancels every leg still ringing (teardown; safe twice).
func (c *Call) cancelLegs() {
	c.mu.Lock()
	legs := c.legs
	c.mu.Unlock()
	for _, l := range legs {
		l.cancel()
	}
}
