package call

import (
	"log/slog"
	"net/netip"
	"time"

	"github.com/emiago/sipgo/sip"

	"luapbx/engine/ban"
	"luapbx/engine/routing"
	"luapbx/engine/sipauth"
)

// caller is who placed a call, once admitted.
type caller struct {
	ext   *Extension // internal calls
	trunk *Trunk     // external calls
}

// admit decides whether an INVITE may become a call. It answers the request
// itself (challenge, 403, 400) and returns ok=false when it may not.
//
// Order: a banned source gets 403; an INVITE carrying credentials is checked
// (wrong ones count towards a ban and get 403); without credentials, a
// trunk's inbound address is accepted unless the From names an extension,
// an extension is challenged (407), anything else gets 403.
func (m *Manager) admit(req *sip.Request, tx sip.ServerTransaction, snap Snapshot) (caller, bool) {
	ip := ban.HostOf(req.Source())
	// Built when something is logged: most INVITEs log nothing here.
	log := func() *slog.Logger { return m.log.With("call_id", callID(req), "source", req.Source()) }
	if m.cfg.Bans != nil && m.cfg.Bans.Banned(ip) {
		log().Debug("invite from banned address")
		respond(tx, req, 403, "Forbidden")
		return caller{}, false
	}
	hasCreds := req.GetHeader("Proxy-Authorization") != nil || req.GetHeader("Authorization") != nil
	fromUser := ""
	if f := req.From(); f != nil {
		fromUser = f.Address.User
	}
	if !hasCreds {
		if _, isExt := snap.Extension(fromUser); !isExt {
			if addr, err := netip.ParseAddr(ip); err == nil {
				if t, ok := snap.TrunkFrom(addr); ok {
					return caller{trunk: &t}, true
				}
			}
			log().Info("invite refused: not an extension and not a trunk address", "from", fromUser)
			respond(tx, req, 403, "Forbidden")
			return caller{}, false
		}
		m.challenge(tx, req, sipauth.NoCredentials)
		return caller{}, false
	}
	var ext Extension
	user, res := m.cfg.Auth.Verify(req, func(u string) (sipauth.Credential, bool) {
		e, ok := snap.Extension(u)
		if ok {
			ext = e
		}
		return e.Credential, ok
	})
	switch res {
	case sipauth.OK:
		if m.cfg.Bans != nil {
			m.cfg.Bans.Success(ip)
		}
		return caller{ext: &ext}, true
	case sipauth.BadCredentials:
		l := log()
		if m.cfg.Bans != nil && m.cfg.Bans.Exempt(ip) {
			l.Warn("invite with wrong credentials", "user", user,
				"ban", "never: the address is a trunk's inbound_ips or in security.ban_exempt")
		} else {
			l.Warn("invite with wrong credentials", "user", user)
		}
		if m.cfg.Bans != nil && m.cfg.Bans.Fail(ip) {
			l.Warn("address banned after repeated authentication failures", "ip", ip)
		}
		respond(tx, req, 403, "Forbidden")
	default:
		m.challenge(tx, req, res)
	}
	return caller{}, false
}

func (m *Manager) challenge(tx sip.ServerTransaction, req *sip.Request, res sipauth.Result) {
	if r := m.cfg.Auth.Respond(req, res); r != nil {
		_ = tx.Respond(r)
	}
}

// routingCall builds the router's view of the call.
func routingCall(req *sip.Request, who caller, now func() time.Time) *routing.Call {
	rc := &routing.Call{ID: callID(req), To: routing.Normalize(req.Recipient.User), Time: now()}
	if f := req.From(); f != nil {
		rc.From = f.Address.User
	}
	if who.ext != nil {
		rc.Company, rc.CallerType, rc.Extension = who.ext.Company, routing.Internal, who.ext.Number
		rc.From = who.ext.Number
	} else {
		rc.Company, rc.CallerType, rc.Trunk = who.trunk.Company, routing.External, who.trunk.ID
		rc.DID = rc.To
	}
	rc.Header = func(name string) string {
		if h := req.GetHeader(name); h != nil {
			return h.Value()
		}
		return ""
	}
	return rc
}

func callID(req *sip.Request) string {
	if h := req.CallID(); h != nil {
		return h.Value()
	}
	return ""
}
