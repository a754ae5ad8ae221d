package phone

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// AnswerOptions tune how incoming calls are handled.
type AnswerOptions struct {
	// Count is the number of calls to handle before Answer returns
	// (default 1). Calls beyond it while busy get 486.
	Count int
	// Delay rings (180) this long before answering or rejecting.
	Delay time.Duration
	// Reject answers with this final status (e.g. 486) instead of 200.
	Reject int
	// HangupAfter sends BYE this long after the answer; 0 waits for BYE.
	HangupAfter time.Duration
	// NoRinging skips the 180.
	NoRinging bool
	// EarlyMedia sends 183 with our SDP and starts the media (Play) before
	// the Delay, as a provider's announcement does; the final answer
	// (200, or Reject) follows the Delay.
	EarlyMedia bool
	// Expect is the final status each call should end with (default 2xx).
	Expect int
	// OnEnd, if set, gets each call's summary as soon as the call ends
	// (Wait still returns them all). It must not block.
	OnEnd func(Summary)
}

// answerer is the active Answer call: incoming INVITEs are handled by it.
type answerer struct {
	ctx     context.Context
	opts    AnswerOptions
	started int // guarded by Phone.mu
	wg      sync.WaitGroup

	mu      sync.Mutex
	results []Summary
	done    chan struct{} // closed when Count results are in
}

func (a *answerer) add(s Summary) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.opts.OnEnd != nil {
		a.opts.OnEnd(s) // under the lock: summaries come out one at a time, in order
	}
	a.results = append(a.results, s)
	if len(a.results) == a.opts.Count {
		close(a.done)
	}
}

var errAnswering = errors.New("phone: Answer already running")

// Answering is an Answer in progress (see StartAnswer).
type Answering struct {
	p *Phone
	a *answerer
}

// Answer handles incoming calls as opts say until Count calls have ended
// or ctx ends, and returns their summaries (fewer on ctx end, with
// ctx's error). Calls still up when ctx ends are hung up first.
func (p *Phone) Answer(ctx context.Context, opts AnswerOptions) ([]Summary, error) {
	an, err := p.StartAnswer(ctx, opts)
	if err != nil {
		return nil, err
	}
	return an.Wait()
}

// StartAnswer installs the answering behaviour and returns at once: calls
// arriving from now on are handled. Wait collects the summaries.
func (p *Phone) StartAnswer(ctx context.Context, opts AnswerOptions) (*Answering, error) {
	if opts.Count <= 0 {
		opts.Count = 1
	}
	a := &answerer{ctx: ctx, opts: opts, done: make(chan struct{})}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.answerer != nil {
		return nil, errAnswering
	}
	p.answerer = a
	return &Answering{p: p, a: a}, nil
}

// Wait blocks until Count calls have ended or the context given to
// StartAnswer ends, then stops answering (later calls get 480).
func (an *Answering) Wait() ([]Summary, error) {
	a, p := an.a, an.p
	var err error
	select {
	case <-a.done:
	case <-a.ctx.Done():
		err = a.ctx.Err()
	}
	p.mu.Lock()
	if p.answerer == a {
		p.answerer = nil
	}
	p.mu.Unlock()
	a.wg.Wait()
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]Summary(nil), a.results...), err
}

func (p *Phone) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	if to := req.To(); to != nil && to.Params.Has("tag") {
		p.reinvite(req, tx)
		return
	}
	p.mu.Lock()
	a := p.answerer
	code := sip.StatusTemporarilyUnavailable
	if a != nil {
		if a.started < a.opts.Count {
			a.started++
			a.wg.Add(1)
		} else {
			a, code = nil, sip.StatusBusyHere
		}
	}
	p.mu.Unlock()
	if a == nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, code, reason(code), nil))
		return
	}
	defer a.wg.Done()
	a.add(p.incoming(a, req, tx))
}

// incoming runs one answered or rejected call on the INVITE's goroutine.
func (p *Phone) incoming(a *answerer, req *sip.Request, tx sip.ServerTransaction) Summary {
	rec := newRecorder("answer")
	rec.update(func(s *Summary) {
		s.Expect = a.opts.Expect
		s.CallID = req.CallID().Value()
		if f := req.From(); f != nil {
			s.From = f.Address.String()
		}
		s.To = req.Recipient.String()
	})
	sess, err := p.dua.ReadInvite(req, tx)
	if err != nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusBadRequest, "Bad Request", nil))
		rec.code("INVITE", cseqOf(req), sip.StatusBadRequest, "Bad Request", "out")
		return rec.finish(StateFailed, err)
	}
	defer func() { _ = sess.Close() }()
	c := newCall(rec.s.CallID, rec)
	c.setServer(sess, nil)
	p.addCall(c)
	defer p.removeCall(c)

	respond := func(code int, body []byte) error {
		rec.code("INVITE", cseqOf(req), code, reason(code), "out")
		if body != nil {
			return sess.RespondSDP(body)
		}
		return sess.Respond(code, reason(code), nil)
	}
	_ = respond(sip.StatusTrying, nil)
	if !a.opts.NoRinging {
		_ = respond(sip.StatusRinging, nil)
	}
	var (
		offer   Session
		media   Media
		body    []byte
		started bool
	)
	open := func() (string, error) {
		var err error
		if offer, err = parseSDPFor(req.Body(), p.cfg.Codecs); err != nil {
			_ = respond(sip.StatusNotAcceptableHere, nil)
			return StateRejected, err
		}
		if media, err = p.cfg.Media(p.local.Addr()); err != nil {
			_ = respond(sip.StatusInternalServerError, nil)
			return StateFailed, fmt.Errorf("phone: open media: %w", err)
		}
		body = answerSDP(p.local.Addr(), media.Port(), offer)
		return "", nil
	}
	defer func() {
		if media != nil {
			_ = media.Close()
		}
	}()
	if a.opts.EarlyMedia {
		if state, err := open(); err != nil {
			return rec.finish(state, err)
		}
		rec.code("INVITE", cseqOf(req), 183, reason(183), "out")
		_ = sess.Respond(183, reason(183), body, sip.NewHeader("Content-Type", "application/sdp"))
		_ = media.Start(a.ctx, offer)
		started = true
	}
	if state, ok := p.ring(a, sess, rec); !ok {
		return rec.finish(state, nil)
	}
	if a.opts.Reject != 0 {
		_ = respond(a.opts.Reject, nil)
		return rec.finish(StateRejected, nil)
	}
	if media == nil {
		if state, err := open(); err != nil {
			return rec.finish(state, err)
		}
	}
	c.setServer(sess, body)
	rec.answer(offer.Codec)
	if err := respond(sip.StatusOK, body); err != nil && !c.byRemote() {
		if errors.Is(err, sip.ErrTransactionCanceled) {
			// CANCEL won the race: sipgo answered 487, our 200 never left.
			rec.unrecord("INVITE", sip.StatusOK, "out")
			rec.code("INVITE", cseqOf(req), sip.StatusRequestTerminated, reason(sip.StatusRequestTerminated), "out")
			rec.unanswer()
			return rec.finish(StateCancelled, nil)
		}
		// No ACK (or the caller gave up): the dialog is over.
		return rec.finish(StateFailed, fmt.Errorf("phone: answer: %w", err))
	}
	if !started {
		_ = media.Start(a.ctx, offer)
	}
	var hangup <-chan time.Time
	if a.opts.HangupAfter > 0 {
		t := time.NewTimer(a.opts.HangupAfter)
		defer t.Stop()
		hangup = t.C
	}
	select {
	case <-c.remoteBye:
	case <-hangup:
	case <-a.ctx.Done():
	}
	return p.hangup(c, func(ctx context.Context) error { return sess.Bye(ctx) }, media, nil)
}

// ring waits the answer delay; it reports false with a state when the call
// ended meanwhile (CANCEL: sipgo already answered 487) or Answer stopped.
func (p *Phone) ring(a *answerer, sess *sipgo.DialogServerSession, rec *recorder) (string, bool) {
	t := time.NewTimer(a.opts.Delay)
	defer t.Stop()
	select {
	case <-t.C:
		return "", true
	case <-sess.Context().Done():
		rec.code("INVITE", 0, sip.StatusRequestTerminated, reason(sip.StatusRequestTerminated), "out")
		return StateCancelled, false
	case <-a.ctx.Done():
		rec.code("INVITE", 0, sip.StatusTemporarilyUnavailable, reason(sip.StatusTemporarilyUnavailable), "out")
		_ = sess.Respond(sip.StatusTemporarilyUnavailable, reason(sip.StatusTemporarilyUnavailable), nil)
		return StateFailed, false
	}
}

// reason is the standard reason phrase of a SIP status.
func reason(code int) string {
	switch code {
	case 100:
		return "Trying"
	case 180:
		return "Ringing"
	case 183:
		return "Session Progress"
	case 200:
		return "OK"
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 408:
		return "Request Timeout"
	case 480:
		return "Temporarily Unavailable"
	case 486:
		return "Busy Here"
	case 487:
		return "Request Terminated"
	case 488:
		return "Not Acceptable Here"
	case 500:
		return "Server Internal Error"
	case 503:
		return "Service Unavailable"
	case 603:
		return "Decline"
	}
	return "Status " + fmt.Sprint(code)
}
