package mediacall

import (
	"context"

	"luapbx/engine/call"
	"luapbx/media/sdpneg"
)

// callSide is what *call.Call must gain for media targets (see the
// report); until it does, CallerLegOf reports false and media targets get
// 501 (480 for voicemail).
type callSide interface {
	// CallerOffer is the SDP of the caller's INVITE.
	CallerOffer() []byte
	// AnswerCaller sends 200 OK with sdp and blocks until the ACK.
	AnswerCaller(sdp []byte) error
	// HangupCaller sends BYE to the caller.
	HangupCaller()
	// CallerDone is closed when the caller's dialog ended (its BYE).
	CallerDone() <-chan struct{}
}

// CallerLegOf is the default Options.Leg: it adapts a *call.Call that has
// the callSide methods.
func CallerLegOf(c *call.Call) (CallerLeg, bool) {
	cs, ok := any(c).(callSide)
	if !ok {
		return nil, false
	}
	return sideLeg{cs}, true
}

type sideLeg struct{ cs callSide }

func (l sideLeg) Offer() []byte                            { return l.cs.CallerOffer() }
func (l sideLeg) Answer(_ context.Context, b []byte) error { return l.cs.AnswerCaller(b) }
func (l sideLeg) Hangup()                                  { l.cs.HangupCaller() }
func (l sideLeg) Done() <-chan struct{}                    { return l.cs.CallerDone() }

// CheckOffer says whether a caller's INVITE SDP can be anchored: 0 when it
// can, else the SIP code to answer (488 no common codec or no audio, 400
// malformed). engine/call should call it before routing (see the report).
func (a *Anchor) CheckOffer(body []byte) int {
	if _, err := sdpneg.Parse(body); err != nil {
		return sdpneg.StatusCode(err)
	}
	return 0
}
