package registrar

import (
	"errors"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"

	"luapbx/engine/ban"
	"luapbx/engine/sipauth"
)

// ServeRegister handles a REGISTER end to end; use it as a sipgo handler.
func (r *Registrar) ServeRegister(req *sip.Request, tx sip.ServerTransaction) {
	res := r.Handle(req)
	if err := tx.Respond(res); err != nil {
		r.log.Debug("register: respond failed", "error", err, "call_id", callID(req))
	}
}

// Handle processes a REGISTER and returns the response to send: 403 for a
// banned source, a digest challenge, 423 for a too short expiry, or 200
// listing every current contact of the AOR with its remaining expiry.
func (r *Registrar) Handle(req *sip.Request) *sip.Response {
	src := req.Source()
	ip := ban.HostOf(src)
	if r.bans != nil && r.bans.Banned(ip) {
		return sip.NewResponseFromRequest(req, sip.StatusForbidden, "Forbidden", nil)
	}
	to := req.To()
	if to == nil || to.Address.User == "" || req.CallID() == nil || req.CSeq() == nil {
		return sip.NewResponseFromRequest(req, sip.StatusBadRequest, "Bad Request", nil)
	}
	aor, domain := to.Address.User, to.Address.Host
	user, res := r.auth.Verify(req, func(u string) (sipauth.Credential, bool) {
		return r.users.Credential(domain, u)
	})
	if res != sipauth.OK {
		r.authFailed(req, ip, user, res)
		return r.auth.Respond(req, res)
	}
	if user != aor {
		r.log.Warn("register: authenticated user differs from aor", "user", user, "aor", aor, "source", src)
		return sip.NewResponseFromRequest(req, sip.StatusForbidden, "Forbidden", nil)
	}
	return r.update(req, aor, domain, src)
}

func (r *Registrar) authFailed(req *sip.Request, ip, user string, res sipauth.Result) {
	if res != sipauth.BadCredentials {
		if res == sipauth.Malformed {
			r.log.Info("register: malformed credentials", "user", user, "source", req.Source())
		}
		return
	}
	if r.bans != nil && r.bans.Exempt(ip) {
		r.log.Warn("register: authentication failed", "user", user, "source", req.Source(), "call_id", callID(req),
			"ban", "never: the address is a trunk's inbound_ips or in security.ban_exempt")
	} else {
		r.log.Warn("register: authentication failed", "user", user, "source", req.Source(), "call_id", callID(req))
	}
	if r.bans != nil && r.bans.Fail(ip) {
		r.log.Warn("source banned after failed authentications", "ip", ip, "user", user)
	}
}

func (r *Registrar) update(req *sip.Request, aor, domain, src string) *sip.Response {
	changes, wildcard, code := r.parseContacts(req)
	if code != 0 {
		res := sip.NewResponseFromRequest(req, code, reasonFor(code), nil)
		if code == sip.StatusIntervalToBrief {
			res.AppendHeader(sip.NewHeader("Min-Expires", strconv.Itoa(r.minExpires)))
		}
		return res
	}
	now := r.now()
	var bindings []Binding
	if wildcard {
		r.emit(r.st.removeAll(aor, now))
	} else if len(changes) > 0 {
		m := meta{
			aor: aor, domain: domain, callID: callID(req), cseq: req.CSeq().SeqNo,
			source: src, transport: req.Transport(), userAgent: headerValue(req, "User-Agent"),
			now: now, maxContacts: r.maxContacts,
		}
		events, bs, err := r.st.apply(m, changes)
		switch {
		case errors.Is(err, errTooManyContacts):
			return sip.NewResponseFromRequest(req, sip.StatusForbidden, "Too Many Contacts", nil)
		case err != nil:
			return sip.NewResponseFromRequest(req, sip.StatusInternalServerError, "Out Of Order", nil)
		}
		r.emit(events)
		bindings = bs
	} else {
		bindings = r.st.lookup(aor, now) // a query: list, change nothing
	}
	res := sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil)
	for i := range bindings {
		b := &bindings[i]
		h := &sip.ContactHeader{Address: b.Contact, Params: sip.NewParams()}
		h.Params.Add("expires", strconv.Itoa(b.ExpiresIn(now)))
		res.AppendHeader(h)
	}
	return res
}

// parseContacts reads the Contact headers and their effective expiry. It
// returns a non-zero status for a request to refuse as a whole.
func (r *Registrar) parseContacts(req *sip.Request) (changes []change, wildcard bool, code int) {
	hdrExpires := -1
	if h := req.GetHeader("Expires"); h != nil {
		n, err := strconv.Atoi(strings.TrimSpace(h.Value()))
		if err != nil || n < 0 {
			return nil, false, sip.StatusBadRequest
		}
		hdrExpires = n
	}
	for _, h := range req.GetHeaders("Contact") {
		c, err := contactOf(h)
		if err != nil {
			return nil, false, sip.StatusBadRequest
		}
		if c.Address.Wildcard {
			wildcard = true
			continue
		}
		e, ok := r.expiresOf(c, hdrExpires)
		if !ok {
			return nil, false, sip.StatusBadRequest
		}
		if e > 0 && e < r.minExpires {
			return nil, false, sip.StatusIntervalToBrief
		}
		changes = append(changes, change{contact: c.Address, expires: min(e, r.maxExpires)})
	}
	if wildcard && (len(changes) > 0 || hdrExpires != 0) {
		return nil, false, sip.StatusBadRequest // RFC 3261 §10.3 step 6
	}
	return changes, wildcard, 0
}

func (r *Registrar) expiresOf(c *sip.ContactHeader, hdrExpires int) (int, bool) {
	if v, ok := c.Params.Get("expires"); ok {
		n, err := strconv.Atoi(v)
		return n, err == nil && n >= 0
	}
	if hdrExpires >= 0 {
		return hdrExpires, true
	}
	return r.defExpires, true
}

func contactOf(h sip.Header) (*sip.ContactHeader, error) {
	if c, ok := h.(*sip.ContactHeader); ok {
		return c, nil
	}
	c := &sip.ContactHeader{Params: sip.NewParams()}
	v := strings.TrimSpace(h.Value())
	if v == "*" {
		c.Address.Wildcard = true
		return c, nil
	}
	name, err := sip.ParseAddressValue(v, &c.Address, &c.Params)
	c.DisplayName = name
	return c, err
}

func reasonFor(code int) string {
	switch code {
	case sip.StatusIntervalToBrief:
		return "Interval Too Brief"
	case sip.StatusBadRequest:
		return "Bad Request"
	}
	return "Error"
}

func callID(req *sip.Request) string {
	if h := req.CallID(); h != nil {
		return h.Value()
	}
	return ""
}

func headerValue(req *sip.Request, name string) string {
	if h := req.GetHeader(name); h != nil {
		return h.Value()
	}
	return ""
}
