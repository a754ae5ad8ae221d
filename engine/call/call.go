package call

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"luapbx/engine/routing"
)

// State of a call, as listed by Calls.
type State string

// Call states.
const (
	StateRouting  State = "routing"
	StateRinging  State = "ringing"
	StateAnswered State = "answered"
	StateEnded    State = "ended"
)

// Dispositions of an ended call (as engine/cdr names them).
const (
	DispAnswered = "answered"
	DispNoAnswer = "no_answer"
	DispBusy     = "busy"
	DispFailed   = "failed"
	DispRejected = "rejected"
)

// Who ended a call.
const (
	ByCaller = "caller"
	ByCallee = "callee"
	BySystem = "system"
)

// Call is one call: the caller's A leg and the B legs rung for it. Its
// exported fields are set before routing and never change afterwards,
// except Decision/Explanation (set once routed, the target updated as the
// call goes on) which only the owner writes, holding mu.
type Call struct {
	ID         string // the A leg's Call-ID
	Start      time.Time
	From       string // calling number (the extension, for internal calls)
	To         string // dialled number
	Company    string
	CallerType routing.CallerType
	Extension  string // caller extension, internal calls
	Trunk      string // inbound trunk, external calls
	// Snapshot is the config generation the call runs with, to its end.
	Snapshot    Snapshot
	Decision    routing.Decision
	Explanation any

	m      *Manager
	log    *slog.Logger
	rc     *routing.Call
	a      *sipgo.DialogServerSession
	events chan event
	done   chan struct{}
	ctx    context.Context // ends with the manager
	wg     sync.WaitGroup  // leg and helper goroutines

	callerBye atomic.Bool // the caller sent BYE (set by the BYE handler)

	// owner-only
	winner     *leg
	relayed    bool // a provisional with SDP went to A
	held       bool // the media layer answered A and holds its media (an IVR led on)
	earlyLeg   *leg // while held: the callee whose early media the caller hears
	endOnce    sync.Once
	calleeSlot string // limit slot of the answered callee, dropped at the end

	mu       sync.Mutex // guards the fields read by List and InProgress (the owner reads them freely)
	outTrunk string     // the trunk trying or carrying the call out
	state    State
	target   string
	rule     string
	answered time.Time
	endAt    time.Time // when the end was decided (markEnd); zero: at endWith
	legs     []*leg
	end      endInfo
}

type endInfo struct {
	code        int
	cause       string
	by          string
	disposition string
}

type evKind uint8

const (
	evProvisional evKind = iota
	evAnswered
	evFailed
	evBye
	evReinvite
	evAAnswered // the 200 to A was ACKed (err nil) or not
	evHangup    // the PBX ends the call (cause)
	evInfo      // an INFO inside the call (re holds it)
)

// event is small: every call allocates a buffered channel of them.
type event struct {
	kind  evKind
	code  int32
	leg   *leg // nil: the A leg
	res   *sip.Response
	err   error
	re    *reinviteReq // evReinvite, evInfo
	cause string       // evHangup
}

// reinviteReq is a re-INVITE waiting for the owner.
type reinviteReq struct {
	req  *sip.Request
	tx   sip.ServerTransaction
	done chan struct{} // closed by the owner once the re-INVITE is answered
}

// eventQueue is how many events wait for the owner before senders block.
const eventQueue = 8

// send hands ev to the owner; false once the call has ended.
func (c *Call) send(ev event) bool {
	select { // an ended call first: with room in events, select would pick at random
	case <-c.done:
		return false
	default:
	}
	select {
	case c.events <- ev:
		return true
	case <-c.done:
		return false
	}
}

func (c *Call) dialog() *sipgo.DialogServerSession { return c.a }

func (c *Call) setState(s State) {
	c.mu.Lock()
	c.state = s
	if s == StateAnswered && c.answered.IsZero() {
		// Once: a caller answered by an IVR rings its choice after.
		c.answered = c.m.cfg.Now()
	}
	c.mu.Unlock()
}

// setDecision records the routing decision (and its rule for List).
func (c *Call) setDecision(d routing.Decision, ex any) {
	c.mu.Lock()
	c.Decision, c.Explanation = d, ex
	c.rule = d.Rule
	c.mu.Unlock()
}

// setDecisionTarget records where the call went on to (an IVR choice, a
// fallback): the record names it.
func (c *Call) setDecisionTarget(t routing.Target) {
	c.mu.Lock()
	c.Decision.Target = t
	c.mu.Unlock()
}

func (c *Call) setTarget(t string) {
	c.mu.Lock()
	c.target = t
	c.mu.Unlock()
}

// go runs f on a goroutine the call waits for before it ends.
func (c *Call) goTracked(f func()) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		f()
	}()
}
