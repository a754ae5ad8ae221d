package call

import (
	"context"
	"time"

	"github.com/emiago/sipgo/sip"
)

// infoTimeout bounds an INFO relayed to the other leg: the owner waits for
// its answer (as for a re-INVITE, so that no two requests of one dialog
// pick the same CSeq), and a phone answers INFO at once.
const infoTimeout = 2 * time.Second

// OnInfo handles INFO inside a call (SIP INFO DTMF, RFC 6086): the call's
// owner relays it to the other leg and its answer back; INFO for no call
// gets 481, and INFO before the answer 491 (try again later), as a
// re-INVITE then does.
func (m *Manager) OnInfo(req *sip.Request, tx sip.ServerTransaction) {
	c, l := m.match(req)
	if c == nil {
		respond(tx, req, 481, "Call/Transaction Does Not Exist")
		return
	}
	done := make(chan struct{})
	if !c.send(event{kind: evInfo, leg: l, re: &reinviteReq{req: req, tx: tx, done: done}}) {
		respond(tx, req, 481, "Call/Transaction Does Not Exist")
		return
	}
	select {
	case <-done:
	case <-c.done:
	}
}

// relayInfo passes an INFO to the other leg of an answered call.
func (c *Call) relayInfo(ev event) {
	defer close(ev.re.done)
	if c.winner == nil || (ev.leg != nil && ev.leg != c.winner) {
		// A leg that lost: nobody to pass it to.
		respond(ev.re.tx, ev.re.req, 481, "Call/Transaction Does Not Exist")
		return
	}
	ctx, cancel := context.WithTimeout(c.ctx, infoTimeout)
	defer cancel()
	in := ev.re.req
	var out *sip.Request
	var res *sip.Response
	var err error
	if ev.leg == nil {
		out = sip.NewRequest(sip.INFO, c.winner.sess.InviteResponse.Contact().Address)
		copyInfoBody(out, in)
		res, err = c.winner.sess.Do(ctx, out)
	} else {
		out = sip.NewRequest(sip.INFO, c.a.InviteRequest.Contact().Address)
		copyInfoBody(out, in)
		res, err = c.a.Do(ctx, out)
	}
	if err != nil {
		c.log.Info("info relay failed", "error", err)
		respond(ev.re.tx, in, 408, "Request Timeout")
		return
	}
	back := sip.NewResponseFromRequest(in, res.StatusCode, res.Reason, nil)
	if len(res.Body()) > 0 {
		back.SetBody(res.Body())
		if ct := res.ContentType(); ct != nil {
			back.AppendHeader(sip.NewHeader("Content-Type", ct.Value()))
		}
	}
	_ = ev.re.tx.Respond(back)
}

// copyInfoBody copies what an INFO carries: its body and the headers that
// say what it is (Content-Type, the Info-Package of RFC 6086).
func copyInfoBody(out, in *sip.Request) {
	for _, name := range []string{"Content-Type", "Info-Package"} {
		if h := in.GetHeader(name); h != nil {
			out.AppendHeader(sip.NewHeader(name, h.Value()))
		}
	}
	out.SetBody(in.Body())
}
