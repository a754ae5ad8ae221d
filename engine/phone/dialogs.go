package phone

import (
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// call is the phone's own state of one call. sipgo hands each message to
// its own goroutine, so BYE may come before our ACK went out or before
// WaitAnswer returned: everything here is guarded by mu or a once.
type call struct {
	id  string
	rec *recorder

	mu       sync.Mutex
	client   *sipgo.DialogClientSession
	server   *sipgo.DialogServerSession
	localSDP []byte
	answered bool          // WaitAnswer returned the 2xx (client side)
	ok       *sip.Response // last 2xx to our INVITE seen on the wire

	remoteBye chan struct{} // closed when the far end's BYE arrives
	byeOnce   sync.Once
	byeDone   chan struct{} // closed once we answered that BYE
}

func newCall(id string, rec *recorder) *call {
	return &call{id: id, rec: rec, remoteBye: make(chan struct{}), byeDone: make(chan struct{})}
}

func (c *call) setClient(s *sipgo.DialogClientSession, sdp []byte) {
	c.mu.Lock()
	c.client, c.localSDP = s, sdp
	c.mu.Unlock()
}

func (c *call) setServer(s *sipgo.DialogServerSession, sdp []byte) {
	c.mu.Lock()
	c.server, c.localSDP = s, sdp
	c.mu.Unlock()
}

func (c *call) setAnswered() {
	c.mu.Lock()
	c.answered = true
	c.mu.Unlock()
}

// seen2xx remembers a 2xx to our INVITE as it came off the wire: sipgo
// may lose it when it races a CANCEL, and it must still be ACKed.
func (c *call) seen2xx(res *sip.Response) {
	if res.IsSuccess() && res.CSeq() != nil && res.CSeq().MethodName == sip.INVITE {
		c.mu.Lock()
		c.ok = res
		c.mu.Unlock()
	}
}

func (c *call) last2xx() *sip.Response {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ok
}

func (c *call) sessions() (*sipgo.DialogClientSession, *sipgo.DialogServerSession, []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.client, c.server, c.localSDP
}

// waitByeAnswered waits (briefly) until the far end's BYE got our 200, so
// the summary holds it.
func (c *call) waitByeAnswered() {
	t := time.NewTimer(time.Second)
	defer t.Stop()
	select {
	case <-c.byeDone:
	case <-t.C:
	}
}

func (c *call) byRemote() bool {
	select {
	case <-c.remoteBye:
		return true
	default:
		return false
	}
}

func (p *Phone) onBye(req *sip.Request, tx sip.ServerTransaction) {
	c := p.findCall(req)
	if c == nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil))
		return
	}
	// Mark the BYE first: ReadBye wakes a RespondSDP still waiting for an
	// ACK that this BYE overtook, and that code checks byRemote.
	first := false
	c.byeOnce.Do(func() { first = true; close(c.remoteBye) })
	if !first {
		// A retransmission: sipgo normally absorbs those.
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil))
		return
	}
	defer close(c.byeDone)
	cs, ss, _ := c.sessions()
	c.mu.Lock()
	answered := c.answered
	c.mu.Unlock()
	var err error
	switch {
	case ss != nil:
		err = ss.ReadBye(req, tx)
	case cs != nil && answered:
		err = cs.ReadBye(req, tx)
	case cs != nil:
		// BYE overtook the 200 it follows: ReadBye would terminate the
		// INVITE transaction before WaitAnswer sees the 200. Answer it
		// here; the caller side ACKs, then sees the BYE and ends.
		err = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil))
	default:
		err = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil))
	}
	if err != nil {
		p.log.Debug("bye: read failed", "call_id", c.id, "error", err)
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil))
	}
	c.rec.code("BYE", cseqOf(req), sip.StatusOK, "OK", "out")
}

func (p *Phone) onAck(req *sip.Request, tx sip.ServerTransaction) {
	c := p.findCall(req)
	if c == nil {
		return
	}
	if _, ss, _ := c.sessions(); ss != nil {
		// An ACK for a re-INVITE carries another CSeq: ReadAck refuses it,
		// which is what we want.
		_ = ss.ReadAck(req, tx)
	}
}

func (p *Phone) onCancel(req *sip.Request, tx sip.ServerTransaction) {
	// CANCELs matching an INVITE are answered by sipgo's transaction layer.
	_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil))
}

// reinvite answers an in-dialog INVITE (hold, unhold, refresh) with our SDP.
func (p *Phone) reinvite(req *sip.Request, tx sip.ServerTransaction) {
	c := p.findCall(req)
	if c == nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil))
		return
	}
	_, _, sdp := c.sessions()
	res := sip.NewSDPResponseFromRequest(req, sdp)
	ch := p.contactHeader()
	res.AppendHeader(&ch)
	c.rec.code("reINVITE", cseqOf(req), sip.StatusOK, "OK", "out")
	_ = tx.Respond(res)
}
