package phone

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// regState keeps the REGISTER dialog identifiers: refreshes reuse the
// Call-ID and increase the CSeq (RFC 3261 §10.2.4).
type regState struct {
	callID  string
	fromTag string
	cseq    uint32
}

// maxAuthRounds bounds challenge answers per request: one for the first
// challenge, one more for stale=true or an MD5-only challenge.
const maxAuthRounds = 2

// Register binds our contact for expires (0 unregisters) and reports every
// response seen, and the contacts the registrar then lists for our user.
// The error is non-nil only when no final response came.
func (p *Phone) Register(ctx context.Context, expires time.Duration) (Summary, error) {
	return p.register(ctx, expires, false)
}

// UnregisterAll removes every contact of our user (Contact: *), ours and
// those another phone or an earlier run on another port left.
func (p *Phone) UnregisterAll(ctx context.Context) (Summary, error) {
	return p.register(ctx, 0, true)
}

func (p *Phone) register(ctx context.Context, expires time.Duration, all bool) (Summary, error) {
	action := "register"
	if expires == 0 {
		action = "unregister"
	}
	rec := newRecorder(action)
	if p.server.network == "" {
		return rec.finish(StateFailed, errNoServer), errNoServer
	}
	req := p.registerRequest(expires)
	if all {
		req.RemoveHeader("Contact")
		req.AppendHeader(sip.NewHeader("Contact", "*"))
	}
	p.mu.Lock()
	p.regRec = rec
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		if p.regRec == rec {
			p.regRec = nil
		}
		p.mu.Unlock()
	}()
	rec.update(func(s *Summary) {
		s.CallID, s.From, s.To = req.CallID().Value(), req.From().Address.String(), req.To().Address.String()
	})
	var prev *sip.Response // the challenge answered last
	for round := 0; ; round++ {
		res, err := p.cli.Do(ctx, req)
		if err != nil {
			state := StateFailed
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, sip.ErrTransactionTimeout) {
				state = StateTimeout
			}
			return rec.finish(state, err), err
		}
		rec.response(res, "in")
		if p.challenged(res) && round < maxAuthRounds && (prev == nil || answerAgain(prev, res)) {
			prev = res
			if err := p.authorize(req, res); err != nil {
				return rec.finish(StateFailed, err), nil
			}
			req.RemoveHeader("Via")
			req.CSeq().SeqNo = p.nextRegCSeq()
			continue
		}
		var bound []string
		for _, c := range res.GetHeaders("Contact") {
			bound = append(bound, c.Value())
		}
		rec.update(func(s *Summary) { s.Contacts = bound })
		switch {
		case res.StatusCode != sip.StatusOK:
			return rec.finish(StateRejected, nil), nil
		case expires == 0:
			return rec.finish(StateUnregistered, nil), nil
		}
		return rec.finish(StateRegistered, nil), nil
	}
}

// KeepRegistered registers and refreshes the registration at half its
// lifetime until ctx ends, then unregisters. It returns the first
// registration's summary as soon as it is known on ready (may be nil).
func (p *Phone) KeepRegistered(ctx context.Context, expires time.Duration, ready func(Summary)) error {
	if expires < 2*time.Second {
		expires = 2 * time.Second
	}
	s, err := p.Register(ctx, expires)
	if ready != nil {
		ready(s)
	}
	if err != nil {
		return err
	}
	if s.State != StateRegistered {
		return fmt.Errorf("phone: register: %s (%d)", s.State, s.FinalCode)
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _ = p.Register(uctx, 0)
	}()
	t := time.NewTicker(expires / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if s, err := p.Register(ctx, expires); err != nil || s.State != StateRegistered {
				p.log.Warn("registration refresh failed", "state", s.State, "code", s.FinalCode, "error", err)
			}
		}
	}
}

func (p *Phone) registerRequest(expires time.Duration) *sip.Request {
	p.mu.Lock()
	if p.reg.callID == "" {
		p.reg.callID = newID()
		p.reg.fromTag = sip.GenerateTagN(16)
	}
	callID, tag := p.reg.callID, p.reg.fromTag
	p.mu.Unlock()

	req := sip.NewRequest(sip.REGISTER, p.serverURI(""))
	aor := sip.Uri{Scheme: "sip", User: p.cfg.User, Host: p.cfg.Domain}
	from := &sip.FromHeader{Address: aor, Params: sip.NewParams()}
	from.Params.Add("tag", tag)
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: aor})
	cid := sip.CallIDHeader(callID)
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: p.nextRegCSeq(), MethodName: sip.REGISTER})
	ch := p.contactHeader()
	req.AppendHeader(&ch)
	req.AppendHeader(sip.NewHeader("User-Agent", p.cfg.UserAgent))
	req.AppendHeader(sip.NewHeader("Expires", strconv.Itoa(int(expires/time.Second))))
	req.SetTransport(strings.ToUpper(p.server.network))
	return req
}

func (p *Phone) nextRegCSeq() uint32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reg.cseq++
	return p.reg.cseq
}
