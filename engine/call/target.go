package call

import (
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"luapbx/engine/routing"
)

// gatewayRingFor bounds how long a trunk call rings.
const gatewayRingFor = 120 * time.Second

// execute runs a target, following fallbacks and number: re-routes. An
// answered result means the call is up with c.winner.
func (c *Call) execute(t routing.Target, number string) result {
	for step := 0; step <= routing.MaxMaps; step++ {
		c.setTarget(t.String())
		var r result
		next := ""
		switch t.Kind {
		case routing.TargetReject:
			return result{code: t.Code, cause: "rejected", by: BySystem, rejected: true}
		case routing.TargetNumber:
			rc := *c.rc
			rc.To = t.Arg
			d, ex := c.Snapshot.Decide(c.ctx, &rc)
			c.setDecision(d, ex)
			c.log.Info("call re-routed", "number", t.Arg, "target", d.Target.String(), "rule", d.Rule)
			t, number = d.Target, d.Number
			continue
		case routing.TargetUser:
			r, next = c.ringUser(t.Arg)
		case routing.TargetGroup:
			r, next = c.ringGroup(t.Arg)
		case routing.TargetGateway:
			r = c.ringGateway(t.Trunks(), number)
		case routing.TargetIVR, routing.TargetVoicemail, routing.TargetPlay, routing.TargetApp:
			r, nt := c.media(t)
			if nt == nil {
				return r
			}
			// The caller chose where to go (an IVR option): it stays
			// answered while that target rings.
			c.held = true
			c.setDecisionTarget(*nt)
			c.log.Info("media target leads on", "from_target", t.String(), "target", nt.String())
			c.event("call.routed", map[string]any{"target": nt.String(), "number": number, "rule": c.Decision.Rule,
				"after": t.String()})
			t = *nt
			continue
		default:
			return result{code: 404, cause: "no_route", by: BySystem, rejected: true}
		}
		if r.answered || r.cancelled || next == "" || r.code == 503 && r.cause == "shutdown" {
			return r
		}
		nt, err := routing.ParseTarget(next)
		if err != nil {
			c.log.Warn("bad fallback target", "fallback", next, "error", err)
			return r
		}
		c.log.Info("falling back", "from_target", t.String(), "fallback", next, "code", r.code)
		// The record names where the call went (voicemail:201), as for an
		// IVR choice; the rule and the explanation still say why it started.
		c.setDecisionTarget(nt)
		t = nt
	}
	return result{code: 482, cause: "loop", by: BySystem, rejected: true}
}

// media hands ivr/voicemail/play/app targets to the media layer; next is
// the target an application chose for the call layer to ring.
func (c *Call) media(t routing.Target) (result, *routing.Target) {
	if c.m.cfg.Media != nil {
		if c.held { // back on the leg the media layer answered (a fallback)
			c.setState(StateAnswered)
		}
		code, next := c.m.cfg.Media.Serve(c.ctx, c, t)
		switch {
		case code != 0:
			return result{code: code, cause: "media", by: BySystem}, nil
		case next != nil:
			return result{}, next
		}
		if c.callerBye.Load() {
			return result{answered: true, code: 200, cause: "normal", by: ByCaller}, nil
		}
		return result{answered: true, code: 200, cause: "media", by: BySystem}, nil
	}
	code := 501
	if t.Kind == routing.TargetVoicemail {
		code = 480
	}
	c.log.Warn("media targets are not available yet", "target", t.String(), "code", code)
	return result{code: code, cause: "media_unavailable", by: BySystem}, nil
}

// contacts lists the legs to ring for an extension, or a failure code:
// 486 over its max_calls, 480 when not registered.
func (c *Call) contacts(number string) ([]legSpec, int) {
	ext, ok := c.Snapshot.Extension(number)
	if !ok {
		return nil, 404
	}
	if ext.MaxCalls > 0 && c.m.inUse("ext:"+number) >= ext.MaxCalls {
		return nil, 486
	}
	bs := c.m.cfg.Locations.Lookup(number)
	if len(bs) == 0 {
		return nil, 480
	}
	specs := make([]legSpec, 0, len(bs))
	for i := range bs {
		b := bs[i]
		tr := strings.ToLower(b.Transport)
		if tr == "" {
			tr = "udp"
		}
		specs = append(specs, legSpec{name: number, uri: b.Contact, binding: &b, transport: tr})
	}
	return specs, 0
}

func (c *Call) ringSeconds(n int) time.Duration {
	if n <= 0 {
		n = c.m.cfg.RingSeconds
	}
	return time.Duration(n) * time.Second
}

// ringUser rings every contact of an extension; the fallback applies on
// busy, no answer and not registered.
func (c *Call) ringUser(number string) (result, string) {
	ext, _ := c.Snapshot.Extension(number)
	specs, code := c.contacts(number)
	if code != 0 {
		c.log.Info("extension unavailable", "extension", number, "code", code)
		cause := causeOf(code)
		if code == 480 {
			cause = "not_registered" // no phone to ring: not a ring that went unanswered
		}
		return result{code: code, cause: cause, by: BySystem}, ext.Fallback
	}
	r := c.withSlot(number, func() result {
		return c.ring(specs, ringOpts{ringFor: c.ringSeconds(ext.RingSeconds), noResponse: c.m.cfg.TrunkTimeout})
	})
	if r.answered || r.cancelled {
		return r, ""
	}
	return r, ext.Fallback
}

// withSlot counts a call towards a callee extension's max_calls while f runs
// (and while an answered call lasts: the slot is then released by talk).
func (c *Call) withSlot(number string, f func() result) result {
	key := "ext:" + number
	c.m.take(key)
	r := f()
	if r.answered {
		c.calleeSlot = key
	} else {
		c.m.drop(key)
	}
	return r
}

// ringGroup rings a group: all members at once, or one after another.
func (c *Call) ringGroup(number string) (result, string) {
	g, ok := c.Snapshot.Group(c.Company, number)
	if !ok {
		return result{code: 404, cause: "not_found", by: BySystem, rejected: true}, ""
	}
	ringFor := c.ringSeconds(g.RingSeconds)
	last := result{code: 480, cause: "no_answer", by: BySystem}
	members := c.groupMembers(g)
	if g.Strategy == "hunt" {
		for _, mbr := range members {
			specs, code := c.contacts(mbr)
			if code != 0 {
				last = result{code: code, cause: causeOf(code), by: BySystem}
				continue
			}
			r := c.withSlot(mbr, func() result { return c.ring(specs, ringOpts{ringFor: ringFor, noResponse: c.m.cfg.TrunkTimeout}) })
			if r.answered || r.cancelled || r.cause == "shutdown" {
				return r, ""
			}
			last = r
		}
		return last, g.Fallback
	}
	var all []legSpec
	for _, mbr := range members {
		specs, code := c.contacts(mbr)
		if code != 0 {
			last = result{code: code, cause: causeOf(code), by: BySystem}
			continue
		}
		all = append(all, specs...)
	}
	if len(all) == 0 {
		return last, g.Fallback
	}
	r := c.ring(all, ringOpts{ringFor: ringFor, noResponse: c.m.cfg.TrunkTimeout})
	if r.answered || r.cancelled {
		return r, ""
	}
	// A busy member does not make the group busy: report no answer.
	if r.code == 486 {
		r.code, r.cause = 480, "no_answer"
	}
	return r, g.Fallback
}

// groupMembers are the members of g to ring: all but the caller's own
// extension (a member calling its group must not ring its own phone).
// When that leaves nobody, the group rings no one and its fallback, if
// any, applies as for a group nobody answered.
func (c *Call) groupMembers(g Group) []string {
	if c.Extension == "" || !slices.Contains(g.Members, c.Extension) {
		return g.Members
	}
	out := make([]string, 0, len(g.Members)-1)
	for _, mbr := range g.Members {
		if mbr != c.Extension {
			out = append(out, mbr)
		}
	}
	c.log.Info("caller left out of the group it calls", "group", g.Number, "extension", c.Extension)
	return out
}

// ringGateway tries trunks in order: timeout, 408, 5xx and a trunk down or
// full move on; any other failure stops.
func (c *Call) ringGateway(ids []string, number string) result {
	last := result{code: 503, cause: "no_trunk", by: BySystem}
	// Trunks the keepalive marks down are tried last rather than never: a
	// provider back up since the last probe still gets the call.
	var up, down []Trunk
	for _, id := range ids {
		t, ok := c.Snapshot.Trunk(c.Company, id)
		switch {
		case !ok:
			c.log.Warn("gateway names an unknown trunk", "trunk", id)
		case c.m.cfg.Trunks != nil && !c.m.cfg.Trunks.Up(id):
			c.log.Info("trunk down, tried last", "trunk", id)
			down = append(down, t)
		default:
			up = append(up, t)
		}
	}
	for _, t := range append(up, down...) {
		id := t.ID
		key := "trunk:" + id
		if !c.m.tryTake(key, t.MaxCalls) {
			c.log.Info("trunk full, skipped", "trunk", id, "max_calls", t.MaxCalls)
			continue
		}
		c.mu.Lock()
		c.outTrunk = id
		c.mu.Unlock()
		r := c.ring([]legSpec{trunkSpec(&t, number)}, ringOpts{ringFor: gatewayRingFor, noResponse: c.m.cfg.TrunkTimeout})
		if r.answered {
			c.calleeSlot = key
			return r
		}
		c.m.drop(key)
		if r.cancelled || r.cause == "shutdown" || !failover(r.code) {
			return r
		}
		c.log.Info("trunk failed, trying the next", "trunk", id, "code", r.code)
		last = r
	}
	return last
}

func failover(code int) bool { return code == 408 || code >= 500 && code < 600 }

func trunkSpec(t *Trunk, number string) legSpec {
	tr := strings.ToLower(t.Transport)
	if tr == "" {
		tr = "udp"
	}
	host, port := t.Host, 0
	if h, p, err := net.SplitHostPort(t.Host); err == nil {
		host = h
		port, _ = strconv.Atoi(p)
	}
	uri := sip.Uri{Scheme: "sip", User: number, Host: host, Port: port}
	return legSpec{name: t.ID, uri: uri, trunk: t, transport: tr}
}
