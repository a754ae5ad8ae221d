package luaapi

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	lua "github.com/yuin/gopher-lua"

	"luapbx/engine/routing"
)

// state is one pooled Lua state with its hooks resolved.
type state struct {
	L       *lua.LState
	fns     [numHooks]*lua.LFunction
	call    *routing.Call  // the call being decided, for call.header()
	header  *lua.LFunction // call.header, bound to this state
	ctx     *hookCtx       // routing hooks' deadline
	slot    bool           // the running hook holds a concurrency slot
	yielded bool           // ...which it gave back during I/O
}

// get takes an idle state. When none is idle, a hook off the call path
// (on_event, a call of the plan's tests:) builds one. A routing hook for a
// call builds one itself when builds are fast (the last took under half of
// wait: a burst of calls right after a load or reload); otherwise it wakes
// the builder and waits at most wait for a state to come back or be built,
// so a slow build (top-level code that takes long, after a hook error
// discarded a state) never holds a call up longer than that.
func (p *Program) get(callPath bool, wait time.Duration) (*state, error) {
	if s, left := p.free.take(); s != nil {
		if left == 0 {
			p.wantState() // the list ran dry: refill it in the background
		}
		return s, nil
	}
	if !callPath || p.closed.Load() { // no builder after Close
		return p.newState(p.base, false)
	}
	if wait > 0 && p.buildsFast(wait) {
		// The state goes to the pool after the hook: no builder needed,
		// and none competing for the CPU with the burst.
		return p.newState(p.base, false)
	}
	p.wantState()
	if wait <= 0 {
		return nil, errNoState
	}
	if s := p.free.wait(wait); s != nil {
		return s, nil
	}
	return nil, errNoState
}

// buildsFast tells whether a hook that may wait wait for a state can build
// one itself: the last build took less than half of wait.
func (p *Program) buildsFast(wait time.Duration) bool {
	last := time.Duration(p.buildTime.Load())
	return last > 0 && last < wait/2
}

// noteBuild records how long a build that began at start took, failed or
// not, unless it was cancelled (Close): a build that fails by running past
// LoadTimeout also tells that builds are slow.
func (p *Program) noteBuild(start time.Time, parent context.Context) {
	if parent.Err() == nil {
		p.buildTime.Store(int64(time.Since(start)))
	}
}

// errNoState: no Lua state was idle and none was built within the hook's
// wait.
var errNoState = errors.New("no Lua state ready (one is being built)")

// wantState wakes the builder; it never blocks.
func (p *Program) wantState() {
	select {
	case p.build <- struct{}{}:
	default:
	}
}

// spareStates is how many idle states the builder keeps once woken: one
// for the next hook and one spare, so that the call after a hook error
// (which discards its state) finds one ready.
const spareStates = 2

// builder builds states in the background whenever the free list runs dry
// (a hook took the last idle state) or an error discarded a state, until
// the list holds spareStates (or is full). A failed build waits buildRetry
// before the next.
func (p *Program) builder() {
	want := min(spareStates, p.free.max)
	defer p.bwg.Done()
	for {
		select {
		case <-p.build:
		case <-p.buildCtx.Done():
			return
		}
		for p.free.len() < want && p.buildCtx.Err() == nil {
			s, err := p.newState(p.buildCtx, false)
			if err != nil {
				if p.buildCtx.Err() != nil {
					return
				}
				msg := err.Error()
				p.buildErr.Store(&msg)
				p.log.Warn("lua state build failed", "err", msg)
				select {
				case <-time.After(buildRetry):
				case <-p.buildCtx.Done():
					return
				}
				continue
			}
			p.buildErr.Store(nil)
			p.put(s)
		}
	}
}

// buildRetry is the pause after a failed background build.
const buildRetry = time.Second

// put returns a healthy state to the pool, closing it when the pool is
// full or the Program is retired (Close is over).
func (p *Program) put(s *state) {
	s.call = nil
	if p.retired.Load() {
		s.close()
		return
	}
	if !p.free.put(s) {
		s.close()
	}
}

func (s *state) close() {
	s.ctx.timer.Stop()
	s.L.Close()
}

// discard drops a state after an error or timeout (its context stays
// attached and its stack may be left in any shape) and has the builder
// replace it in the background, off the call path.
func (p *Program) discard(s *state) {
	p.st.statesDiscarded.Add(1)
	s.close()
	p.wantState()
}

// counters are the Program's statistics.
type counters struct {
	hooks, errors, timeouts, busy                     atomic.Uint64
	events, eventErrors, eventTimeouts, eventsDropped atomic.Uint64
	statesCreated, statesDiscarded                    atomic.Uint64
}

// Stats is a snapshot of a Program's counters.
type Stats struct {
	Hooks           uint64 `json:"hooks"`            // routing hook calls
	Errors          uint64 `json:"errors"`           // routing hooks that failed (any reason)
	Timeouts        uint64 `json:"timeouts"`         // of which ran past their budget
	Busy            uint64 `json:"busy"`             // of which could not start in time
	Events          uint64 `json:"events"`           // on_event calls run
	EventErrors     uint64 `json:"event_errors"`     // on_event calls that failed
	EventTimeouts   uint64 `json:"event_timeouts"`   // of which ran past their budget
	EventsDropped   uint64 `json:"events_dropped"`   // not queued (queue full or closed)
	StatesCreated   uint64 `json:"states_created"`   // Lua states built
	StatesDiscarded uint64 `json:"states_discarded"` // Lua states dropped after an error
}

// Stats returns the counters.
func (p *Program) Stats() Stats {
	c := &p.st
	return Stats{
		Hooks: c.hooks.Load(), Errors: c.errors.Load(), Timeouts: c.timeouts.Load(), Busy: c.busy.Load(),
		Events: c.events.Load(), EventErrors: c.eventErrors.Load(), EventTimeouts: c.eventTimeouts.Load(),
		EventsDropped: c.eventsDropped.Load(), StatesCreated: c.statesCreated.Load(),
		StatesDiscarded: c.statesDiscarded.Load(),
	}
}

// yieldSlot gives the running hook's slot back while it waits for I/O, so
// that a slow CRM does not hold up hooks that need no network.
func (p *Program) yieldSlot(s *state) {
	if s.slot {
		s.slot, s.yielded = false, true
		<-p.sem
	}
}

// resumeSlot takes the slot again after I/O, unless the hook's budget ends
// first: the hook is then stopped at its next instruction, holding none.
func (p *Program) resumeSlot(s *state, ctx context.Context) {
	if !s.yielded {
		return
	}
	s.yielded = false
	select {
	case p.sem <- struct{}{}:
		s.slot = true
	case <-ctx.Done():
	}
}

// releaseSlot gives back the slot the hook holds, if any.
func (p *Program) releaseSlot(s *state) {
	if s.slot {
		s.slot = false
		<-p.sem
	}
}

// admit takes a routing-hook slot, waiting at most the hook budget. It
// returns what is left of that budget, for get to wait for a state: a hook
// waits at most one budget in all before its own budget starts.
func (p *Program) admit() (left time.Duration, ok bool) {
	select {
	case p.sem <- struct{}{}:
		return p.opts.Timeout, true
	default:
	}
	start := time.Now()
	t := time.NewTimer(p.opts.Timeout)
	defer t.Stop()
	select {
	case p.sem <- struct{}{}:
		return p.opts.Timeout - time.Since(start), true
	case <-t.C:
		return 0, false
	}
}

// invocation is one hook call: push its arguments, read its results.
type invocation struct {
	h       hook
	call    *routing.Call
	nret    int
	push    func(s *state) int // pushes the arguments, returns how many
	read    func(L *lua.LState) *HookError
	timeout time.Duration
	wait    time.Duration // how long a routing hook may wait for a state
	slot    bool          // the caller took a concurrency slot for this hook
}

// run calls a hook on a pooled state within inv.timeout. A Lua error or
// timeout discards the state; a result of the wrong type keeps it. Routing
// hooks use the state's reusable deadline; events a context that Close can
// cancel.
func (p *Program) run(inv *invocation) error {
	s, err := p.get(inv.onCallPath(), inv.wait)
	if err != nil {
		if inv.slot {
			<-p.sem
		}
		return p.fail(inv, p.stateError(inv, err))
	}
	s.slot, s.call = inv.slot, inv.call
	herr, healthy := p.call(s, inv)
	p.releaseSlot(s) // before the state can go to another goroutine
	if healthy {
		p.put(s)
	} else {
		p.discard(s)
	}
	if herr != nil {
		return p.fail(inv, herr)
	}
	return nil
}

// onCallPath tells whether a call waits for this hook: a routing hook for
// a live call or `luapbx route`, not on_event nor a call of tests:.
func (inv *invocation) onCallPath() bool {
	return inv.h != hookEvent && (inv.call == nil || !inv.call.Test)
}

// stateError is the HookError of a hook that got no state: busy when none
// was ready in time (with the builder's last failure, if any), else the
// build's own error.
func (p *Program) stateError(inv *invocation, err error) *HookError {
	site := p.sites[inv.h]
	he := &HookError{Hook: inv.h.String(), File: site.file, Line: site.line}
	if !errors.Is(err, errNoState) {
		he.Msg = "cannot build a Lua state: " + err.Error()
		return he
	}
	he.Msg, he.Err = inv.h.String()+" could not start within its budget: "+err.Error(), ErrBusy
	if last := p.buildErr.Load(); last != nil {
		he.Msg += "; the last build failed: " + *last
	}
	return he
}

// call runs the hook on s; healthy is false when s must not be reused.
func (p *Program) call(s *state, inv *invocation) (herr *HookError, healthy bool) {
	fn := s.fns[inv.h]
	if fn == nil { // cannot happen: the first state defined it
		return nil, true
	}
	L := s.L
	var ctx context.Context
	cancel := context.CancelFunc(func() {})
	if inv.h == hookEvent {
		ctx, cancel = context.WithTimeout(p.base, inv.timeout)
	} else {
		ctx = s.ctx
		s.ctx.arm(inv.timeout)
	}
	defer cancel()
	L.SetContext(ctx)
	L.Push(fn)
	nargs := inv.push(s)
	err := L.PCall(nargs, inv.nret, nil)
	healthy = true
	if inv.h != hookEvent {
		healthy = s.ctx.disarm()
	}
	if err != nil {
		return p.luaError(inv, err, errors.Is(ctx.Err(), context.DeadlineExceeded)), false
	}
	herr = inv.read(L)
	L.Pop(inv.nret)
	L.RemoveContext()
	return herr, healthy
}

// luaError turns a PCall error into a HookError at the failing line.
func (p *Program) luaError(inv *invocation, err error, timedOut bool) *HookError {
	he := &HookError{Hook: inv.h.String()}
	msg := luaMessage(err)
	file, line, text, ok := splitPos(msg)
	if !ok {
		file, line, text = p.sites[inv.h].file, p.sites[inv.h].line, msg
	}
	he.File, he.Line, he.Msg = file, line, text
	if timedOut {
		he.Msg = fmt.Sprintf("%s ran past its %v budget (stopped here)", inv.h, inv.timeout)
		he.Err = ErrTimeout
	}
	return he
}

// resultError is a hook result of the wrong type, placed at the hook's
// definition (the returning line is gone once the call returned).
func (p *Program) resultError(h hook, format string, args ...any) *HookError {
	s := p.sites[h]
	return &HookError{Hook: h.String(), File: s.file, Line: s.line, Msg: fmt.Sprintf(h.String()+" "+format, args...)}
}

// fail counts and logs a failed hook and returns err.
func (p *Program) fail(inv *invocation, he *HookError) error {
	timeout := errors.Is(he, ErrTimeout)
	if inv.h == hookEvent {
		p.st.eventErrors.Add(1)
		if timeout {
			p.st.eventTimeouts.Add(1)
		}
	} else {
		p.st.errors.Add(1)
		if timeout {
			p.st.timeouts.Add(1)
		}
		if errors.Is(he, ErrBusy) {
			p.st.busy.Add(1)
		}
	}
	attrs := []any{"hook", he.Hook, "script", he.File, "line", he.Line, "err", he.Msg}
	if inv.call != nil {
		attrs = append(attrs, "call_id", inv.call.ID)
	}
	if inv.h == hookEvent {
		p.log.Warn("lua on_event failed", attrs...)
	} else {
		p.log.Warn("lua hook failed, the built-in decision stands", attrs...)
	}
	return he
}
