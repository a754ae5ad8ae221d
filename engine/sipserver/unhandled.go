package sipserver

import (
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

// InfoHandler is what the Calls may also be: it relays INFO inside a call
// (SIP INFO DTMF) to the other leg. Without it, INFO gets 405.
type InfoHandler interface {
	OnInfo(req *sip.Request, tx sip.ServerTransaction)
}

// unhandledLogEvery is how often a method nobody handles is logged at INFO
// (each request is logged at DEBUG): a phone sending SUBSCRIBE or PUBLISH
// every few seconds must not fill the log.
const unhandledLogEvery = time.Minute

// unhandledMethods bounds the methods remembered for that rate limit: the
// method is the sender's choice.
const unhandledMethods = 32

// unhandledLog rate-limits the INFO line of unhandled requests per method.
type unhandledLog struct {
	mu   sync.Mutex
	last map[string]time.Time
}

// due says whether method's INFO line is due now (and notes it).
func (u *unhandledLog) due(method string, now time.Time) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.last == nil {
		u.last = map[string]time.Time{}
	}
	t, seen := u.last[method]
	if seen && now.Sub(t) < unhandledLogEvery {
		return false
	}
	if !seen && len(u.last) >= unhandledMethods {
		for k, v := range u.last { // forget lines logged long ago
			if now.Sub(v) >= unhandledLogEvery {
				delete(u.last, k)
			}
		}
		if len(u.last) >= unhandledMethods {
			return false
		}
	}
	u.last[method] = now
	return true
}

// notAllowed answers a request whose method the PBX does not handle: 405
// with the Allow header RFC 3261 §21.4.6 requires.
func (s *Server) notAllowed(req *sip.Request, tx sip.ServerTransaction) {
	s.refuseUnhandled(req, tx, 405, "Method Not Allowed")
}

// onSubscribe refuses every subscription: the PBX has no event package
// (presence, message-summary, dialog), so 489 Bad Event (RFC 6665 §8.2.2).
func (s *Server) onSubscribe(req *sip.Request, tx sip.ServerTransaction) {
	s.refuseUnhandled(req, tx, 489, "Bad Event")
}

// onInfo passes INFO inside a call to the call layer (relayed to the other
// leg); INFO outside a dialog, or without a call layer that relays it,
// gets 405.
func (s *Server) onInfo(req *sip.Request, tx sip.ServerTransaction) {
	s.mu.Lock()
	c := s.calls
	s.mu.Unlock()
	ih, ok := c.(InfoHandler)
	if to := req.To(); !ok || to == nil || !to.Params.Has("tag") {
		s.notAllowed(req, tx)
		return
	}
	ih.OnInfo(req, tx)
}

func (s *Server) refuseUnhandled(req *sip.Request, tx sip.ServerTransaction, code int, reason string) {
	if req.IsAck() {
		return // an ACK is never answered
	}
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	res.AppendHeader(sip.NewHeader("Allow", s.allow()))
	if err := tx.Respond(res); err != nil {
		s.log.Debug("respond failed", "code", code, "error", err)
	}
	method := string(req.Method)
	if s.unhandled.due(method, time.Now()) {
		s.log.Info("sip request not handled: refused (logged once a minute per method)", "method", method,
			"sip_code", code, "source", req.Source())
		return
	}
	s.log.Debug("sip request not handled: refused", "method", method, "sip_code", code, "source", req.Source())
}

// allow is the Allow header: the methods the PBX handles (INFO only
// inside calls, when the call layer relays it).
func (s *Server) allow() string {
	s.mu.Lock()
	_, info := s.calls.(InfoHandler)
	s.mu.Unlock()
	if info {
		return allowed + ", INFO"
	}
	return allowed
}
