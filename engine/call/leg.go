package call

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"luapbx/engine/registrar"
)

// legSpec says where to ring one B leg.
type legSpec struct {
	name      string // "201" for an extension contact, the trunk id for a gateway
	uri       sip.Uri
	binding   *registrar.Binding
	trunk     *Trunk
	transport string
}

// leg is one B leg. Its goroutine sends the INVITE and reports to the
// owner; the owner alone reads and writes the fields below callID.
type leg struct {
	call   *Call
	spec   legSpec
	callID string
	ctx    context.Context
	stop   context.CancelCauseFunc
	heard  atomic.Bool                // any response (even 100) came back
	sess   *sipgo.DialogClientSession // set by the goroutine; the owner uses it after evAnswered

	active  bool // part of the attempt being rung
	gotResp bool // any response seen (no-response timeout for trunks)
	failed  bool
	byeIn   bool // the callee sent BYE
	code    int

	mu    sync.Mutex // guards state for List
	state string     // "trying", "ringing", "answered", "failed", "ended"
}

func (l *leg) setState(s string) {
	l.mu.Lock()
	l.state = s
	l.mu.Unlock()
}

func (l *leg) getState() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.state
}

// startLeg builds the B-leg INVITE and starts ringing it.
func (c *Call) startLeg(s legSpec) *leg {
	l := &leg{call: c, spec: s, callID: newCallID(), active: true, state: "trying"}
	l.ctx, l.stop = context.WithCancelCause(c.ctx)
	c.m.addLeg(l)
	c.mu.Lock()
	c.legs = append(c.legs, l)
	c.mu.Unlock()
	ua := c.m.dialogUA(s.transport)
	if ua == nil {
		l.failed, l.code = true, 503
		return l
	}
	req := c.legInvite(l, ua.ContactHDR)
	c.goTracked(func() { l.run(ua, req) })
	return l
}

func (c *Call) legInvite(l *leg, contact sip.ContactHeader) *sip.Request {
	s := l.spec
	req := sip.NewRequest(sip.INVITE, s.uri)
	req.SetTransport(upperTransport(s.transport))
	if s.binding != nil {
		s.binding.Route(req)
	}
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: c.From, Host: contact.Address.Host}, Params: sip.NewParams()}
	if f := c.a.InviteRequest.From(); f != nil {
		from.DisplayName = f.DisplayName
	}
	from.Params.Add("tag", sip.GenerateTagN(16))
	to := &sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: s.uri.User, Host: s.uri.Host, Port: s.uri.Port}}
	cid := sip.CallIDHeader(l.callID)
	req.AppendHeader(from)
	req.AppendHeader(to)
	req.AppendHeader(&cid)
	req.AppendHeader(&contact)
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(c.rewrite("b", c.a.InviteRequest.Body()))
	return req
}

// rewrite passes SDP through the media hook, if any.
func (c *Call) rewrite(leg string, sdp []byte) []byte {
	if c.m.cfg.RewriteSDP == nil || len(sdp) == 0 {
		return sdp
	}
	return c.m.cfg.RewriteSDP(c, leg, sdp)
}

// run sends the INVITE and waits for the answer, reporting provisional
// responses and the outcome to the owner.
func (l *leg) run(ua *sipgo.DialogUA, req *sip.Request) {
	c := l.call
	sess, err := ua.WriteInvite(l.ctx, req)
	if err != nil {
		c.log.Info("b leg invite not sent", "leg", l.spec.name, "error", err)
		c.send(event{kind: evFailed, leg: l, code: 503, err: err})
		return
	}
	l.sess = sess
	opts := sipgo.AnswerOptions{OnResponse: func(r *sip.Response) error {
		l.heard.Store(true)
		if r.IsProvisional() {
			c.send(event{kind: evProvisional, leg: l, res: r})
		}
		return nil
	}}
	if t := l.spec.trunk; t != nil {
		opts.Username, opts.Password = t.Username, t.Password
	}
	err = sess.WaitAnswer(l.ctx, opts)
	if err == nil {
		l.ack(sess)
		if !c.send(event{kind: evAnswered, leg: l, res: sess.InviteResponse}) {
			l.bye(sess) // the call ended meanwhile
		}
		return
	}
	if r := sess.InviteResponse; r != nil && r.IsSuccess() {
		// A 200 crossed our CANCEL: confirm and hang up that dialog.
		l.ack(sess)
		l.bye(sess)
		c.send(event{kind: evFailed, leg: l, code: 487, err: err})
		return
	}
	c.send(event{kind: evFailed, leg: l, code: int32(failureCode(l.ctx, err)), err: err})
}

// cancel stops ringing the leg: CANCEL, sent once the callee has answered
// anything (RFC 3261 §9.1). Safe to call any number of times.
func (l *leg) cancel() { l.stop(nil) }

// abandon gives up on a leg that never answered anything, without waiting
// for a provisional response to CANCEL (a silent trunk or phone).
func (l *leg) abandon() {
	if l.heard.Load() {
		l.stop(nil)
		return
	}
	l.stop(sipgo.WaitAnswerForceCancelErr)
}

func (l *leg) ack(sess *sipgo.DialogClientSession) {
	// The ACK of a 2xx goes straight to the transport (no transaction, no
	// wait): sipgo does not use the context.
	if err := sess.Ack(context.Background()); err != nil {
		l.call.log.Info("ack to callee failed", "leg", l.spec.name, "error", err)
	}
}

func (l *leg) bye(sess *sipgo.DialogClientSession) {
	ctx, cancel := context.WithTimeout(context.Background(), byeTimeout)
	defer cancel()
	if err := sess.Bye(ctx); err != nil {
		l.call.log.Debug("bye to callee failed", "leg", l.spec.name, "error", err)
	}
}

// failureCode turns a failed INVITE into a SIP code.
func failureCode(ctx context.Context, err error) int {
	var dr *sipgo.ErrDialogResponse
	if errors.As(err, &dr) {
		return dr.Res.StatusCode
	}
	var dv sipgo.ErrDialogResponse
	if errors.As(err, &dv) {
		return dv.Res.StatusCode
	}
	if ctx.Err() != nil {
		return 487
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, sip.ErrTransactionTimeout) {
		return 408
	}
	return 503
}

func newCallID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:]) + "@luapbx"
}

// upperTransport is the transport as sipgo names it on a request ("UDP").
func upperTransport(t string) string {
	switch t {
	case "udp":
		return "UDP"
	case "tcp":
		return "TCP"
	}
	return strings.ToUpper(t)
}
