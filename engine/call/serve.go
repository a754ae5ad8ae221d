package call

import (
	"strings"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"luapbx/engine"
)

// serve runs a new call from its INVITE to its end, on the handler's
// goroutine (sipgo ends the INVITE transaction when the handler returns).
func (m *Manager) serve(req *sip.Request, tx sip.ServerTransaction) {
	snap, release := m.cfg.Snapshots()
	defer release()
	who, ok := m.admit(req, tx, snap)
	if !ok {
		return
	}
	slots, maxes := []string{}, []int{}
	if who.ext != nil {
		slots, maxes = append(slots, "ext:"+who.ext.Number), append(maxes, who.ext.MaxCalls)
	} else {
		slots, maxes = append(slots, "trunk:"+who.trunk.ID), append(maxes, who.trunk.MaxCalls)
	}
	if !m.acquire(slots, maxes) {
		m.refuse(req, tx, snap, who, 503, CauseCallLimit, "call refused: limit reached", "slots", slots)
		return
	}
	defer m.release(slots)
	if len(req.Body()) == 0 {
		// Late offers (INVITE without SDP) are not supported by the relay.
		m.refuse(req, tx, snap, who, 488, CauseNoSDP, "call refused: no SDP offer in the INVITE")
		return
	}
	if m.cfg.CheckSDP != nil {
		if code := m.cfg.CheckSDP(req.Body()); code != 0 {
			cause := CauseIncompatibleSDP
			if code == 400 {
				cause = CauseBadSDP
			}
			m.refuse(req, tx, snap, who, code, cause, "call refused: caller's SDP not acceptable")
			return
		}
	}
	c, ok := m.newCall(req, tx, snap, who)
	if !ok {
		return
	}
	defer m.removeCall(c)
	c.run()
}

func (m *Manager) newCall(req *sip.Request, tx sip.ServerTransaction, snap Snapshot, who caller) (*Call, bool) {
	rc := routingCall(req, who, m.cfg.Now)
	c := &Call{
		ID: rc.ID, Start: m.cfg.Now(), From: rc.From, To: rc.To, Company: rc.Company,
		CallerType: rc.CallerType, Extension: rc.Extension, Trunk: rc.Trunk, Snapshot: snap,
		m: m, rc: rc, events: make(chan event, eventQueue), done: make(chan struct{}), ctx: m.ctx,
		state: StateRouting,
	}
	c.log = m.log.With("call_id", c.ID)
	tr := req.Transport()
	ua := m.dialogUA(tr)
	if ua == nil {
		m.refuse(req, tx, snap, who, 500, "failed", "call refused: no sip client for the transport", "transport", tr)
		return nil, false
	}
	d, err := ua.ReadInvite(req, tx)
	if err != nil {
		m.refuse(req, tx, snap, who, 400, "failed", "call refused: invite not readable", "error", err)
		return nil, false
	}
	c.a = d
	if !m.addCall(c) {
		respond(tx, req, 482, "Loop Detected")
		return nil, false
	}
	// No 100 Trying here: sipgo's server transaction sends one when
	// nothing else went out within 200 ms (RFC 3261 §17.2.1), and a callee
	// usually rings sooner, so a call mostly saves a response.
	return c, true
}

// dialogUA is a dialog user agent sending on our socket of transport. Each
// dialog gets its own (sipgo points responses at its ContactHDR); the
// client and contact behind it are looked up once per transport.
func (m *Manager) dialogUA(transport string) *sipgo.DialogUA {
	ep, ok := m.endpoint(transport)
	if !ok {
		return nil
	}
	return &sipgo.DialogUA{Client: ep.client, ContactHDR: ep.contact, RewriteContact: true}
}

// sipEndpoint is our client and contact on one transport.
type sipEndpoint struct {
	client  *sipgo.Client
	contact sip.ContactHeader
}

// endpoint returns the client and contact of transport ("udp", "UDP",
// "tcp"), asking the Transport the first time only: both stay the same
// once the sockets are bound, and building the contact formats and parses
// the bound address.
func (m *Manager) endpoint(transport string) (sipEndpoint, bool) {
	key := transport
	switch {
	case strings.EqualFold(transport, "udp"):
		key = "udp"
	case strings.EqualFold(transport, "tcp"):
		key = "tcp"
	default:
		key = strings.ToLower(transport)
	}
	m.epMu.Lock()
	ep, ok := m.endpoints[key]
	m.epMu.Unlock()
	if ok {
		return ep, true
	}
	cl, err := m.cfg.Transport.Client(key)
	if err != nil {
		m.log.Error("no sip client", "transport", transport, "error", err)
		return sipEndpoint{}, false
	}
	ep = sipEndpoint{client: cl, contact: m.cfg.Transport.Contact(key)}
	m.epMu.Lock()
	m.endpoints[key] = ep
	m.epMu.Unlock()
	return ep, true
}

// run is the call's owner: route, ring, talk, end.
func (c *Call) run() {
	d, ex := c.Snapshot.Decide(c.ctx, c.rc)
	c.setDecision(d, ex)
	c.log.Info("call routed", "from", c.From, "to", c.To, "target", d.Target.String(), "number", d.Number,
		"rule", d.Rule, "gen", c.Snapshot.Generation())
	// call.start goes after the decision so it carries the rule's
	// integration flag (scripts get events of integration rules only).
	if c.eventsOn() {
		c.event("call.start", nil)
		c.event("call.routed", map[string]any{"target": d.Target.String(), "number": d.Number, "rule": d.Rule})
	}
	res := c.execute(d.Target, d.Number)
	switch {
	case res.answered && c.winner != nil:
		res = c.talk()
	case c.held && !res.answered:
		res = c.dropHeld(res)
	}
	c.finish(res)
}

// dropHeld ends a call whose caller the PBX answered (an IVR) when the
// target it chose did not answer: the caller, past its final response,
// gets BYE. The record keeps why (busy, no_answer, ...) as the cause.
func (c *Call) dropHeld(r result) result {
	// The disposition is what became of the choice: no_answer, busy, ...
	disp := r.disposition()
	if r.cancelled { // the caller hung up while its choice rang
		return result{answered: true, code: 200, cause: "cancel", by: ByCaller, disp: disp}
	}
	c.log.Info("the chosen target did not answer: hanging up", "target", c.Decision.Target.String(),
		"code", r.code, "cause", r.cause)
	c.byeCaller()
	by := r.by
	if by == "" {
		by = BySystem
	}
	return result{answered: true, code: 200, cause: r.cause, by: by, disp: disp}
}

// finish answers A if it is still waiting, waits for every leg, and
// reports the end.
func (c *Call) finish(res result) {
	if !res.answered && !res.cancelled && res.code != 0 {
		if err := c.a.Respond(res.code, reason(res.code), nil); err != nil {
			c.log.Debug("final answer to caller failed", "code", res.code, "error", err)
		}
	}
	c.endWith(res)
	close(c.done)
	c.cancelLegs()
	c.m.removeCall(c) // listed no more, though a leg may still wait to CANCEL
	c.wg.Wait()
	c.drainEvents()
	c.mu.Lock()
	legs := c.legs
	c.mu.Unlock()
	for _, l := range legs {
		c.m.removeLeg(l)
	}
}

// drainEvents handles what legs handed over after the owner's last read
// and before done closed: a callee's 200 that crossed the caller's CANCEL
// (ACKed by its leg, so the callee is talking to no one) gets a BYE; a
// re-INVITE gets 481. Every leg goroutine has ended: nothing sends now.
func (c *Call) drainEvents() {
	for {
		select {
		case ev := <-c.events:
			switch {
			case ev.kind == evAnswered && ev.leg != nil && ev.leg.sess != nil:
				c.log.Info("callee answered after the call ended: hanging it up", "leg", ev.leg.spec.name)
				ev.leg.bye(ev.leg.sess)
			case ev.kind == evReinvite || ev.kind == evInfo:
				respond(ev.re.tx, ev.re.req, 481, "Call/Transaction Does Not Exist")
				close(ev.re.done)
			}
		default:
			return
		}
	}
}

// endWith records how the call ended and emits call.end, once.
func (c *Call) endWith(res result) {
	c.endOnce.Do(func() {
		now := c.m.cfg.Now()
		c.mu.Lock()
		if !c.endAt.IsZero() && c.endAt.Before(now) {
			// The end was decided before a BYE waited for its answer.
			now = c.endAt
		}
		c.state = StateEnded
		c.end = endInfo{code: res.code, cause: res.cause, by: res.by, disposition: res.disposition()}
		answered := c.answered
		e := c.end
		c.mu.Unlock()
		by := c.answeredBy(e.disposition)
		c.log.Info("call ended", "disposition", e.disposition, "sip_code", e.code, "hangup_by", e.by,
			"hangup_cause", e.cause, "duration", now.Sub(c.Start).Round(time.Millisecond))
		if c.eventsOn() {
			data := map[string]any{
				"duration_ms": now.Sub(c.Start).Milliseconds(), "hangup_cause": e.cause, "hangup_by": e.by,
				"sip_code": e.code, "disposition": e.disposition, "target": c.Decision.Target.String(),
				"number": c.Decision.Number, "rule": c.Decision.Rule,
			}
			if !answered.IsZero() {
				data["answered_ms"] = now.Sub(answered).Milliseconds()
			}
			if c.outTrunk != "" {
				data["gateway"] = c.outTrunk
			}
			if by != "" {
				data["answered_by"] = by
			}
			c.event("call.end", data)
		}
		if c.m.cfg.OnEnd != nil {
			c.m.cfg.OnEnd(End{
				Call: c, End: now, Answered: answered, Code: e.code, Cause: e.cause, By: e.by,
				Disposition: e.disposition, Gateway: c.outTrunk, AnsweredBy: by,
			})
		}
	})
}

// answeredBy names the callee that answered an answered call (the owner
// reads c.winner): "" when the PBX answered a media target itself, or
// when the call's disposition is not answered (a CANCEL that crossed the
// callee's 200).
func (c *Call) answeredBy(disposition string) string {
	if disposition != DispAnswered || c.winner == nil {
		return ""
	}
	return c.winner.spec.name
}

// eventsOn says whether this call's events go anywhere; callers skip
// building the extra fields of an event nobody gets.
func (c *Call) eventsOn() bool {
	if s, ok := c.Snapshot.(EventSink); ok {
		return s.WantEvents(c.Decision.Integration)
	}
	return c.m.cfg.Events != nil && (c.m.cfg.WantEvents == nil || c.m.cfg.WantEvents(c.Decision.Integration))
}

// event emits a call event with the call's common fields.
func (c *Call) event(typ string, extra map[string]any) {
	if !c.eventsOn() {
		return
	}
	data := map[string]any{
		"from": c.From, "to": c.To, "company": c.Company, "caller_type": c.CallerType.String(),
		"extension": c.Extension, "trunk": c.Trunk, "generation": int64(c.Snapshot.Generation()),
		"integration": c.Decision.Integration, "record": c.Decision.Record,
	}
	for k, v := range extra {
		data[k] = v
	}
	ev := engine.Event{Type: typ, Time: c.m.cfg.Now(), CallID: c.ID, Data: data}
	if s, ok := c.Snapshot.(EventSink); ok {
		s.Emit(ev)
		return
	}
	c.m.emit(ev)
}

// result is how a target attempt (and finally the call) ended.
type result struct {
	answered  bool
	cancelled bool // the caller gave up (CANCEL); 487 already sent
	code      int  // SIP code: the final answer to A, or 200
	cause     string
	by        string
	rejected  bool // a reject: target or policy
	// disp overrides the disposition: a caller answered by an IVR whose
	// choice was not answered ends as that choice did (no_answer, busy).
	disp string
}

func (r result) disposition() string {
	switch {
	case r.disp != "":
		return r.disp
	case r.answered:
		return DispAnswered
	case r.rejected:
		return DispRejected
	case r.cancelled:
		return DispNoAnswer
	}
	switch r.code {
	case 486, 600:
		return DispBusy
	case 408, 480, 487:
		return DispNoAnswer
	case 403, 404, 482, 484:
		return DispRejected
	}
	return DispFailed
}
