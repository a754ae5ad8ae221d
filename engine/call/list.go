package call

import (
	"sort"
	"time"
)

// Info describes a call in progress, for GET /api/calls.
type Info struct {
	CallID     string    `json:"call_id"`
	State      State     `json:"state"`
	From       string    `json:"from"`
	To         string    `json:"to"`
	Company    string    `json:"company"`
	CallerType string    `json:"caller_type"`
	Trunk      string    `json:"trunk,omitempty"`
	Target     string    `json:"target"`
	Rule       string    `json:"rule,omitempty"`
	Generation uint64    `json:"generation"`
	Start      time.Time `json:"start"`
	Answered   time.Time `json:"answered,omitzero"`
	Legs       []LegInfo `json:"legs"`
}

// LegInfo is one B leg of a call.
type LegInfo struct {
	CallID string `json:"call_id"`
	Name   string `json:"name"` // extension number or trunk id
	URI    string `json:"uri"`
	State  string `json:"state"`
}

// Calls lists the calls in progress, oldest first.
func (m *Manager) Calls() []Info {
	calls := m.live()
	out := make([]Info, 0, len(calls))
	for _, c := range calls {
		out = append(out, c.info())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	return out
}

// live returns the calls in progress.
func (m *Manager) live() []*Call {
	m.mu.Lock()
	defer m.mu.Unlock()
	calls := make([]*Call, 0, len(m.byID))
	for _, c := range m.byID {
		calls = append(calls, c)
	}
	return calls
}

func (c *Call) info() Info {
	c.mu.Lock()
	defer c.mu.Unlock()
	in := Info{
		CallID: c.ID, State: c.state, From: c.From, To: c.To, Company: c.Company,
		CallerType: c.CallerType.String(), Trunk: c.Trunk, Target: c.target, Rule: c.rule,
		Generation: c.Snapshot.Generation(), Start: c.Start, Answered: c.answered,
	}
	for _, l := range c.legs {
		in.Legs = append(in.Legs, LegInfo{CallID: l.callID, Name: l.spec.name, URI: l.spec.uri.String(), State: l.getState()})
	}
	return in
}

// CauseInterrupted is the hangup cause InProgress gives: the call was up
// when the PBX stopped without ending it (killed, crashed, power lost).
const CauseInterrupted = "interrupted"

// InProgress returns, for each call in progress, the End it would get if
// the PBX stopped now without hanging it up: ended now by the system,
// cause "interrupted", answered (200) if it was, else failed. Each End's
// Call is a copy that the call's later changes do not touch. A journal of
// these lets the next start record calls a killed process left.
func (m *Manager) InProgress(now time.Time) []End {
	calls := m.live()
	out := make([]End, 0, len(calls))
	for _, c := range calls {
		out = append(out, c.interrupted(now))
	}
	return out
}

func (c *Call) interrupted(now time.Time) End {
	c.mu.Lock()
	defer c.mu.Unlock()
	cp := &Call{ID: c.ID, Start: c.Start, From: c.From, To: c.To, Company: c.Company, CallerType: c.CallerType,
		Extension: c.Extension, Trunk: c.Trunk, Snapshot: c.Snapshot, Decision: c.Decision, Explanation: c.Explanation}
	e := End{Call: cp, End: now, Answered: c.answered, Cause: CauseInterrupted, By: BySystem,
		Disposition: DispFailed, Gateway: c.outTrunk}
	if !c.answered.IsZero() {
		e.Code, e.Disposition = 200, DispAnswered
		e.AnsweredBy = answeredLeg(c.legs)
	}
	return e
}

// answeredLeg names the leg that answered, if any (a caller an IVR
// answered may still be ringing its choice); c.mu is held. Only the
// winner is ever "answered", and "ended" once the PBX hung it up (the
// call then ends while the caller's BYE goes out): it still answered.
func answeredLeg(legs []*leg) string {
	for _, l := range legs {
		if s := l.getState(); s == "answered" || s == "ended" {
			return l.spec.name
		}
	}
	return ""
}
