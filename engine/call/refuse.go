package call

import (
	"github.com/emiago/sipgo/sip"
)

// Hangup causes of calls refused before they are routed (besides the
// causes of calls that ran: normal, busy, no_answer, ...).
const (
	CauseCallLimit       = "call_limit"       // a concurrent-call limit (system, extension, trunk) was reached: 503
	CauseNoSDP           = "no_sdp"           // an INVITE without an SDP offer (late offer, not supported): 488
	CauseIncompatibleSDP = "incompatible_sdp" // no codec in common, or no audio stream: 488
	CauseBadSDP          = "bad_sdp"          // a malformed SDP offer: 400
)

// refuse answers an admitted INVITE with code before it becomes a call,
// logs why (INFO, with call_id) and leaves a call record through
// Config.OnEnd (disposition failed, by the system, duration zero).
//
// It stays cheap under a flood (a limit reached at 1,000 INVITEs/s): no
// dialog, no goroutine, no call event; the record goes through OnEnd like
// every call's, so the CDR writer batches it with the others (its Add
// never blocks on I/O). The log line replaces the WARN a refusal logged
// before, so a flood logs no more lines than it did.
func (m *Manager) refuse(req *sip.Request, tx sip.ServerTransaction, snap Snapshot, who caller,
	code int, cause, msg string, attrs ...any) {
	respond(tx, req, code, reason(code))
	id := callID(req)
	m.log.Info(msg, append([]any{"call_id", id, "sip_code", code, "hangup_cause", cause}, attrs...)...)
	if m.cfg.OnEnd == nil || id == "" {
		return
	}
	rc := routingCall(req, who, m.cfg.Now)
	c := &Call{
		ID: rc.ID, Start: rc.Time, From: rc.From, To: rc.To, Company: rc.Company,
		CallerType: rc.CallerType, Extension: rc.Extension, Trunk: rc.Trunk, Snapshot: snap,
		m: m, state: StateEnded,
		end: endInfo{code: code, cause: cause, by: BySystem, disposition: DispFailed},
	}
	c.log = m.log
	m.cfg.OnEnd(End{Call: c, End: rc.Time, Code: code, Cause: cause, By: BySystem, Disposition: DispFailed})
}
