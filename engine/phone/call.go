package phone

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// CallOptions tune an outgoing call.
type CallOptions struct {
	// HangupAfter sends BYE this long after the answer; 0 waits for the far
	// end's BYE (bounded by the context).
	HangupAfter time.Duration
	// CancelAfter sends CANCEL when the call is not answered by then; 0 never.
	CancelAfter time.Duration
	// Expect is the final INVITE status the caller expects (0: any 2xx).
	Expect int
	// Headers are added to the INVITE.
	Headers []sip.Header
}

// byeTimeout bounds a BYE transaction we send.
const byeTimeout = 5 * time.Second

// Call calls target: a number (sent to the server) or a full SIP URI
// ("sip:202@127.0.0.1:5070", called directly). It answers 401/407 with
// digest credentials, ACKs, hangs up as told and reports every response.
// The error is non-nil only for local failures (bad target, no socket).
func (p *Phone) Call(ctx context.Context, target string, opts CallOptions) (Summary, error) {
	rec := newRecorder("call")
	rec.update(func(s *Summary) { s.Expect = opts.Expect })
	ruri, transport, err := p.targetURI(target)
	if err != nil {
		return rec.finish(StateFailed, err), err
	}
	media, err := p.cfg.Media(p.local.Addr())
	if err != nil {
		err = fmt.Errorf("phone: open media: %w", err)
		return rec.finish(StateFailed, err), err
	}
	defer func() { _ = media.Close() }()

	c := newCall(newID(), rec)
	p.addCall(c) // before sending: a BYE may race our own ACK
	defer p.removeCall(c)
	offer := offerSDP(p.local.Addr(), media.Port(), p.cfg.Codecs)
	inv := p.inviteRequest(c.id, ruri, transport, offer, opts.Headers)
	rec.update(func(s *Summary) { s.CallID, s.From, s.To = c.id, inv.From().Address.String(), ruri.String() })

	ringCtx, cancelRing := ctx, context.CancelFunc(func() {})
	if opts.CancelAfter > 0 {
		ringCtx, cancelRing = context.WithTimeout(ctx, opts.CancelAfter)
	}
	defer cancelRing()
	sess, err := p.invite(ringCtx, c, inv, offer)
	if err != nil {
		return p.inviteFailure(ctx, ringCtx, c, sess, err), nil
	}
	hangupAfter := opts.HangupAfter
	if ringCtx.Err() != nil && ctx.Err() == nil {
		// The answer crossed our cancel timer: the caller wanted out.
		hangupAfter = time.Nanosecond
	}
	c.setAnswered()
	return p.talk(ctx, c, sess, media, hangupAfter), nil
}

// invite sends inv and waits for the answer, re-sending it with
// credentials when challenged.
func (p *Phone) invite(ctx context.Context, c *call, inv *sip.Request, offer []byte) (*sipgo.DialogClientSession, error) {
	var heard atomic.Bool // a response came: ctx's end CANCELs
	onResponse := func(r *sip.Response) error {
		heard.Store(true)
		c.rec.response(r, "in")
		return nil
	}
	waitCtx, stop := cancelOrAbandon(ctx, &heard)
	defer stop()
	var prev *sip.Response // the challenge answered last
	for round := 0; ; round++ {
		sess, err := p.dua.WriteInvite(ctx, inv)
		if err != nil {
			return nil, err
		}
		c.setClient(sess, offer)
		err = sess.WaitAnswer(waitCtx, sipgo.AnswerOptions{OnResponse: onResponse})
		var de *sipgo.ErrDialogResponse
		if errors.As(err, &de) && p.challenged(de.Res) && round < maxAuthRounds && (prev == nil || answerAgain(prev, de.Res)) {
			prev = de.Res
			next := inv.Clone()
			next.RemoveHeader("Via")
			next.CSeq().SeqNo++
			if err := p.authorize(next, de.Res); err != nil {
				return sess, err
			}
			_ = sess.Close()
			inv = next
			continue
		}
		return sess, err
	}
}

// cancelOrAbandon is ctx for WaitAnswer: when ctx ends after a response
// came, sipgo CANCELs the INVITE as usual; when nothing came at all (no
// server there), a CANCEL may not be sent (RFC 3261 9.1) and sipgo would
// wait out Timer B (32 s): the INVITE is abandoned at once instead, so
// --timeout and a signal bound the call.
func cancelOrAbandon(ctx context.Context, heard *atomic.Bool) (context.Context, func()) {
	wctx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() {
		if heard.Load() {
			cancel(ctx.Err())
			return
		}
		cancel(sipgo.WaitAnswerForceCancelErr)
	})
	return wctx, func() {
		stop()
		cancel(nil)
	}
}

// inviteFailure classifies a call that was not answered. A 200 that
// crossed our CANCEL (or that sipgo lost in the race) is ACKed and hung up
// at once: the far end must not be left waiting for an ACK.
func (p *Phone) inviteFailure(ctx, ringCtx context.Context, c *call, sess *sipgo.DialogClientSession, err error) Summary {
	var de *sipgo.ErrDialogResponse
	if errors.As(err, &de) {
		return c.rec.finish(StateRejected, nil)
	}
	if sess != nil {
		// WaitAnswer read the answer to our CANCEL itself, without OnResponse.
		if res := sess.InviteResponse; res != nil && res.StatusCode >= 200 {
			c.rec.response(res, "in")
		}
		ok := sess.InviteResponse
		if ok == nil || !ok.IsSuccess() {
			ok = c.last2xx()
		}
		if ok != nil {
			sess.InviteResponse = ok
			bctx, cancel := context.WithTimeout(context.Background(), byeTimeout)
			defer cancel()
			if sess.Ack(bctx) == nil && sess.Bye(bctx) == nil {
				c.rec.code("BYE", 0, sip.StatusOK, "OK", "in")
			}
			c.rec.update(func(s *Summary) { s.HangupBy = "local" })
		}
	}
	switch {
	case ringCtx.Err() == nil && errors.Is(err, sip.ErrTransactionTimeout):
		return c.rec.finish(StateTimeout, err)
	case ringCtx.Err() == nil:
		return c.rec.finish(StateFailed, err)
	case ctx.Err() != nil:
		return c.rec.finish(StateTimeout, ctx.Err())
	}
	return c.rec.finish(StateCancelled, nil)
}

// talk runs an answered call: ACK, media, then BYE from either side.
func (p *Phone) talk(ctx context.Context, c *call, sess *sipgo.DialogClientSession, media Media, hangupAfter time.Duration) Summary {
	remote, sdpErr := parseSDPFor(sess.InviteResponse.Body(), p.cfg.Codecs)
	c.rec.answer(remote.Codec)
	if err := sess.Ack(ctx); err != nil {
		p.log.Debug("ack failed", "call_id", c.id, "error", err)
	}
	if sdpErr == nil {
		_ = media.Start(ctx, remote)
	}
	var hangup <-chan time.Time
	if hangupAfter > 0 {
		t := time.NewTimer(hangupAfter)
		defer t.Stop()
		hangup = t.C
	}
	select {
	case <-c.remoteBye:
	case <-hangup:
	case <-ctx.Done():
	}
	return p.hangup(c, func(ctx context.Context) error { return sess.Bye(ctx) }, media, sdpErr)
}

// hangup sends BYE unless the far end did, and closes the summary.
func (p *Phone) hangup(c *call, bye func(context.Context) error, media Media, sdpErr error) Summary {
	by := "remote"
	if !c.byRemote() {
		by = "local"
		ctx, cancel := context.WithTimeout(context.Background(), byeTimeout)
		err := bye(ctx)
		cancel()
		var de sipgo.ErrDialogResponse
		switch {
		case c.byRemote():
			// BYEs crossed; a real answer to ours, if any, was observed.
			by = "remote"
		case err == nil:
			c.rec.code("BYE", 0, sip.StatusOK, "OK", "in")
		case errors.As(err, &de):
			c.rec.response(de.Res, "in")
		default:
			c.rec.update(func(s *Summary) { s.Error = "bye: " + err.Error() })
		}
	}
	if c.byRemote() {
		c.waitByeAnswered()
	}
	stats := media.Stats()
	c.rec.update(func(s *Summary) { s.HangupBy, s.Media = by, stats })
	return c.rec.finish("", sdpErr)
}

// targetURI turns a number or a SIP URI into the Request-URI and transport.
func (p *Phone) targetURI(target string) (sip.Uri, string, error) {
	if strings.HasPrefix(target, "sip:") || strings.HasPrefix(target, "sips:") {
		var u sip.Uri
		if err := sip.ParseUri(target, &u); err != nil {
			return u, "", fmt.Errorf("phone: target %q: %w", target, err)
		}
		transport := "UDP"
		if v, ok := u.UriParams.Get("transport"); ok && v != "" {
			transport = strings.ToUpper(v)
		}
		return u, transport, nil
	}
	if p.server.network == "" {
		return sip.Uri{}, "", errNoServer
	}
	if target == "" {
		return sip.Uri{}, "", errors.New("phone: empty target")
	}
	return p.serverURI(target), strings.ToUpper(p.server.network), nil
}

func (p *Phone) inviteRequest(callID string, ruri sip.Uri, transport string, offer []byte, extra []sip.Header) *sip.Request {
	inv := sip.NewRequest(sip.INVITE, ruri)
	inv.AppendHeader(p.fromHeader())
	to := &sip.ToHeader{Address: sip.Uri{Scheme: ruri.Scheme, User: ruri.User, Host: ruri.Host, Port: ruri.Port}}
	inv.AppendHeader(to)
	cid := sip.CallIDHeader(callID)
	inv.AppendHeader(&cid)
	inv.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: sip.INVITE})
	ch := p.contactHeader()
	inv.AppendHeader(&ch)
	inv.AppendHeader(sip.NewHeader("User-Agent", p.cfg.UserAgent))
	inv.AppendHeader(sip.NewHeader("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS"))
	for _, h := range extra {
		inv.AppendHeader(h)
	}
	inv.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	inv.SetBody(offer)
	inv.SetTransport(transport)
	return inv
}
