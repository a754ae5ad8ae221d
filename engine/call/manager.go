package call

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"luapbx/engine"
	"luapbx/engine/ban"
	"luapbx/engine/sipauth"
)

// DefaultRingSeconds is how long a target rings when its config says nothing.
const DefaultRingSeconds = 30

// DefaultTrunkTimeout is how long a silent trunk is waited for.
const DefaultTrunkTimeout = 4 * time.Second

// Config is what the call layer needs; Snapshots, Locations, Auth and
// Transport are required.
type Config struct {
	Snapshots Snapshots
	Locations Locator
	Auth      *sipauth.Auth
	Transport Transport
	Bans      *ban.Tracker // nil: no bans
	// MaxCalls caps concurrent calls system-wide (503 beyond); 0 = unlimited.
	MaxCalls    int
	RingSeconds int // default ring time; 0 = DefaultRingSeconds
	// TrunkTimeout is how long a callee (trunk or phone) may stay silent,
	// not even 100 Trying, before it is abandoned (a gateway then fails
	// over); 0 = DefaultTrunkTimeout.
	TrunkTimeout time.Duration
	Events       func(engine.Event) // call.start, call.routed, call.answered, call.end; nil = none
	// WantEvents, when set, says whether Events would pass on the events
	// of a call whose rule has this integration flag; false skips building
	// them (a map per event, on every call).
	WantEvents func(integration bool) bool
	Media      Media
	Trunks     TrunkState
	RewriteSDP SDPRewriter
	// CheckSDP, when set, vets the caller's offer before routing: 0 to go
	// on, else the SIP code to refuse it with (488: no codec in common).
	CheckSDP func(sdp []byte) int
	Now      func() time.Time
	// OnEnd gets every ended call once (for the CDR store); it runs on the
	// call's goroutine and must not block.
	OnEnd func(End)
}

// End is how a call ended, with the call itself (its Decision, Explanation
// and Snapshot) for the CDR.
type End struct {
	Call        *Call
	End         time.Time
	Answered    time.Time // zero when never answered
	Code        int       // final SIP code of the caller's INVITE (200 when answered)
	Cause       string    // normal, busy, no_answer, cancel, rejected, failed, no_ack, shutdown, ...
	By          string    // caller, callee or system
	Disposition string    // answered, no_answer, busy, failed, rejected
	Gateway     string    // trunk that carried an outgoing call, if any
	// AnsweredBy names the callee that answered (its B leg's name: the
	// extension number for a user or group member, the trunk id for a
	// gateway). Empty unless the call was answered by a callee: a media
	// target (voicemail, an IVR with no bridge) the PBX answered has none.
	AnsweredBy string
}

// Manager runs the calls. It implements sipserver.Calls.
type Manager struct {
	log *slog.Logger
	cfg Config

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	closed bool
	byID   map[string]*Call // A-leg Call-ID
	legs   map[string]*leg  // B-leg Call-ID
	counts map[string]int   // "ext:201", "trunk:p1"
	total  int

	epMu      sync.Mutex
	endpoints map[string]sipEndpoint // by lower-case transport
}

// New returns a Manager.
func New(log *slog.Logger, cfg Config) (*Manager, error) {
	if log == nil {
		log = slog.Default()
	}
	if cfg.Snapshots == nil || cfg.Locations == nil || cfg.Auth == nil || cfg.Transport == nil {
		return nil, errors.New("call manager: Snapshots, Locations, Auth and Transport are required")
	}
	if cfg.RingSeconds <= 0 {
		cfg.RingSeconds = DefaultRingSeconds
	}
	if cfg.TrunkTimeout <= 0 {
		cfg.TrunkTimeout = DefaultTrunkTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Manager{
		log: log, cfg: cfg, ctx: ctx, cancel: cancel,
		byID: map[string]*Call{}, legs: map[string]*leg{}, counts: map[string]int{},
		endpoints: map[string]sipEndpoint{},
	}, nil
}

// Close hangs up every call and waits for them to end; safe to call twice.
func (m *Manager) Close() error {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	m.cancel()
	m.wg.Wait()
	return nil
}

// emit sends an event if anyone listens.
func (m *Manager) emit(ev engine.Event) {
	if m.cfg.Events != nil {
		m.cfg.Events(ev)
	}
}

// acquire takes the limit slots of a new call: system, and each key
// ("ext:201", "trunk:p1") with its max (0 = unlimited). It returns false
// when one is full.
func (m *Manager) acquire(keys []string, maxes []int) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed || (m.cfg.MaxCalls > 0 && m.total >= m.cfg.MaxCalls) {
		return false
	}
	for i, k := range keys {
		if maxes[i] > 0 && m.counts[k] >= maxes[i] {
			return false
		}
	}
	m.total++
	for _, k := range keys {
		m.counts[k]++
	}
	return true
}

// release gives slots back.
func (m *Manager) release(keys []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.total--
	for _, k := range keys {
		if m.counts[k]--; m.counts[k] <= 0 {
			delete(m.counts, k)
		}
	}
}

// inUse is the number of slots taken under key.
func (m *Manager) inUse(key string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.counts[key]
}

// Active is the number of calls in progress.
func (m *Manager) Active() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.byID)
}

func (m *Manager) addCall(c *Call) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, dup := m.byID[c.ID]; dup {
		return false
	}
	m.byID[c.ID] = c
	return true
}

func (m *Manager) removeCall(c *Call) {
	m.mu.Lock()
	delete(m.byID, c.ID)
	m.mu.Unlock()
}

func (m *Manager) addLeg(l *leg) {
	m.mu.Lock()
	m.legs[l.callID] = l
	m.mu.Unlock()
}

func (m *Manager) removeLeg(l *leg) {
	m.mu.Lock()
	if m.legs[l.callID] == l {
		delete(m.legs, l.callID)
	}
	m.mu.Unlock()
}

// match finds the call a request belongs to, and the B leg when it came
// from a callee.
func (m *Manager) match(req *sip.Request) (*Call, *leg) {
	h := req.CallID()
	if h == nil {
		return nil, nil
	}
	id := h.Value()
	m.mu.Lock()
	defer m.mu.Unlock()
	if c := m.byID[id]; c != nil {
		return c, nil
	}
	if l := m.legs[id]; l != nil {
		return l.call, l
	}
	return nil, nil
}

// OnAck handles an ACK for a 2xx we sent to a caller.
func (m *Manager) OnAck(req *sip.Request, tx sip.ServerTransaction) {
	c, l := m.match(req)
	if c == nil || l != nil {
		return
	}
	if d := c.dialog(); d != nil {
		_ = d.ReadAck(req, tx) // wrong CSeq: a stray ACK, ignored
	}
}

// OnBye handles a BYE from either side: 200 at once, then the call's owner
// tears the other side down.
func (m *Manager) OnBye(req *sip.Request, tx sip.ServerTransaction) {
	c, l := m.match(req)
	if c == nil {
		respond(tx, req, 481, "Call/Transaction Does Not Exist")
		return
	}
	if l == nil {
		c.callerBye.Store(true) // before the dialog ends: a media target's end reads it
		// ReadBye also ends the dialog, which releases a 200 still waiting
		// for its ACK (BYE overtaking ACK).
		if err := c.a.ReadBye(req, tx); err != nil {
			respond(tx, req, 200, "OK")
		}
	} else {
		respond(tx, req, 200, "OK")
	}
	c.send(event{kind: evBye, leg: l})
}

// OnCancel gets CANCELs that match no INVITE transaction (sipgo answers the
// others itself and ends the caller's dialog context).
func (m *Manager) OnCancel(req *sip.Request, tx sip.ServerTransaction) {
	respond(tx, req, 481, "Call/Transaction Does Not Exist")
}

// OnInvite handles a new INVITE (the call runs on this goroutine until it
// ends) or a re-INVITE inside a call.
func (m *Manager) OnInvite(req *sip.Request, tx sip.ServerTransaction) {
	if to := req.To(); to != nil && to.Params.Has("tag") {
		m.reinvite(req, tx)
		return
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		respond(tx, req, 503, "Service Unavailable")
		return
	}
	m.wg.Add(1)
	m.mu.Unlock()
	defer m.wg.Done()
	m.serve(req, tx)
}

func respond(tx sip.ServerTransaction, req *sip.Request, code int, reason string) {
	_ = tx.Respond(sip.NewResponseFromRequest(req, code, reason, nil))
}

// tryTake takes a slot under key unless max (>0) are in use.
func (m *Manager) tryTake(key string, max int) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if max > 0 && m.counts[key] >= max {
		return false
	}
	m.counts[key]++
	return true
}

// take takes a slot under key regardless of limits.
func (m *Manager) take(key string) { m.tryTake(key, 0) }

// drop gives back a slot taken by take or tryTake.
func (m *Manager) drop(key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.counts[key]--; m.counts[key] <= 0 {
		delete(m.counts, key)
	}
}

// reinvite hands a re-INVITE to its call's owner and waits until it is
// answered (the transaction ends when this handler returns).
func (m *Manager) reinvite(req *sip.Request, tx sip.ServerTransaction) {
	c, l := m.match(req)
	if c == nil {
		respond(tx, req, 481, "Call/Transaction Does Not Exist")
		return
	}
	done := make(chan struct{})
	if !c.send(event{kind: evReinvite, leg: l, re: &reinviteReq{req: req, tx: tx, done: done}}) {
		respond(tx, req, 481, "Call/Transaction Does Not Exist")
		return
	}
	select {
	case <-done:
	case <-c.done:
	}
}
