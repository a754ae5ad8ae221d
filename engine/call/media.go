package call

import (
	"github.com/emiago/sipgo/sip"
)

// The methods below let the media layer (engine/mediacall) be the callee
// itself for ivr, voicemail, play and app targets, and end a call whose
// audio stopped. They run while the call's owner is inside Media.Serve.

// CallerOffer is the SDP of the caller's INVITE.
func (c *Call) CallerOffer() []byte { return c.a.InviteRequest.Body() }

// AnswerCaller answers the caller with sdp (the PBX is the callee) and
// blocks until its ACK.
func (c *Call) AnswerCaller(sdp []byte) error {
	res := sip.NewSDPResponseFromRequest(c.a.InviteRequest, sdp)
	if err := c.a.WriteResponse(res); err != nil {
		return err
	}
	c.setState(StateAnswered)
	c.event("call.answered", map[string]any{"callee": "pbx"})
	return nil
}

// HangupCaller sends BYE to the caller.
func (c *Call) HangupCaller() { c.byeCaller() }

// CallerDone is closed when the caller's dialog ends (its BYE or CANCEL).
func (c *Call) CallerDone() <-chan struct{} { return c.a.Context().Done() }

// Hangup ends an answered call from the PBX's side (both legs get BYE),
// with cause in its record: the media layer calls it when RTP stops.
func (c *Call) Hangup(cause string) {
	c.send(event{kind: evHangup, cause: cause})
}
