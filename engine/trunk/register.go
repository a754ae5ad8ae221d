package trunk

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// clientDoer is what requests need of a sipgo client.
type clientDoer interface {
	Do(ctx context.Context, req *sip.Request, opts ...sipgo.ClientRequestOption) (*sip.Response, error)
	DoDigestAuth(ctx context.Context, req *sip.Request, res *sip.Response, auth sipgo.DigestAuth) (*sip.Response, error)
}

// regDialog is what every REGISTER of one trunk shares (RFC 3261 10.2: the
// same Call-ID and From tag towards a registrar, CSeq increasing).
type regDialog struct {
	callID, fromTag string
	cseq            uint32
}

func newRegDialog() *regDialog {
	return &regDialog{callID: sip.GenerateTagN(24), fromTag: sip.GenerateTagN(16)}
}

// register keeps a trunk registered: refresh at 80% of the granted expiry,
// retry failures with exponential backoff, unregister at the end.
func (m *Manager) register(ctx context.Context, s Spec) {
	wait := m.backoff
	d := newRegDialog()
	for {
		granted, err := m.registerOnce(ctx, s, d, m.expires)
		if ctx.Err() != nil {
			break
		}
		// The state changes before the log line, so that whoever reads
		// the log and then the state (GET /api/registrations) sees both
		// agree; no log line is written under the lock.
		var next time.Duration
		if err != nil {
			m.update(s.ID, func(st *State) { st.Registered, st.LastError = false, err.Error(); st.Failures++ })
			m.log.Warn("trunk registration failed", "trunk", s.ID, "error", err, "retry_in", wait)
			next = wait
			wait = min(wait*2, m.maxBackoff)
		} else {
			wait = m.backoff
			next = granted * 4 / 5
			var was bool
			m.update(s.ID, func(st *State) {
				was = st.Registered
				st.Registered, st.LastError, st.Failures = true, "", 0
				st.Expires = time.Now().Add(granted)
			})
			if !was {
				m.log.Info("trunk registered", "trunk", s.ID, "expires", granted)
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(next):
			continue
		}
		break
	}
	m.unregister(s, d)
}

func (m *Manager) unregister(s Spec, d *regDialog) {
	var was bool
	m.update(s.ID, func(st *State) { was = st.Registered; st.Registered = false })
	if !was {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), m.timeout)
	defer cancel()
	if _, err := m.registerOnce(ctx, s, d, 0); err != nil {
		m.log.Info("trunk unregistration failed", "trunk", s.ID, "error", err)
	}
}

// registerOnce sends one REGISTER in d (answering a digest challenge) and
// returns the expiry granted.
func (m *Manager) registerOnce(ctx context.Context, s Spec, d *regDialog, expires time.Duration) (time.Duration, error) {
	req, cl, err := m.request(s, sip.REGISTER)
	if err != nil {
		return 0, err
	}
	req.From().Params.Add("tag", d.fromTag)
	cid := sip.CallIDHeader(d.callID)
	req.AppendHeader(&cid)
	d.cseq++
	cseq := &sip.CSeqHeader{SeqNo: d.cseq, MethodName: sip.REGISTER}
	req.AppendHeader(cseq)
	req.AppendHeader(sip.NewHeader("Expires", strconv.Itoa(int(expires/time.Second))))
	ctx, cancel := context.WithTimeout(ctx, m.timeout)
	defer cancel()
	res, err := cl.Do(ctx, req)
	if err == nil && (res.StatusCode == 401 || res.StatusCode == 407) {
		res, err = cl.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: s.Username, Password: s.Password})
		d.cseq = cseq.SeqNo // the answer to the challenge went out with the next CSeq
	}
	if err != nil {
		return 0, fmt.Errorf("register to %s: %w", s.Host, err)
	}
	m.update(s.ID, func(st *State) { st.LastCode = res.StatusCode })
	if !res.IsSuccess() {
		return 0, fmt.Errorf("register to %s: %d %s", s.Host, res.StatusCode, res.Reason)
	}
	return grantedExpiry(res, expires), nil
}

// grantedExpiry reads the expiry the registrar granted: our contact's
// expires parameter, else the Expires header, else what we asked.
func grantedExpiry(res *sip.Response, asked time.Duration) time.Duration {
	if c := res.Contact(); c != nil {
		if v, ok := c.Params.Get("expires"); ok {
			if n, err := strconv.Atoi(v); err == nil && n > 0 {
				return time.Duration(n) * time.Second
			}
		}
	}
	if h := res.GetHeader("Expires"); h != nil {
		if n, err := strconv.Atoi(h.Value()); err == nil && n > 0 {
			return time.Duration(n) * time.Second
		}
	}
	return asked
}
