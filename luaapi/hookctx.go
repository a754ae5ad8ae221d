package luaapi

import (
	"context"
	"sync/atomic"
	"time"
)

// hookCtx is a state's reusable deadline context for routing hooks: a
// context.WithTimeout per hook costs a timer and several allocations; this
// one re-arms one timer. Once it fires, its Done channel stays closed, which
// is fine: a state whose hook timed out is discarded.
type hookCtx struct {
	done     chan struct{}
	deadline atomic.Int64 // Unix ns
	fired    atomic.Bool
	timer    *time.Timer
}

var _ context.Context = (*hookCtx)(nil)

func newHookCtx() *hookCtx {
	c := &hookCtx{done: make(chan struct{})}
	c.timer = time.AfterFunc(time.Hour, func() {
		c.fired.Store(true)
		close(c.done)
	})
	c.timer.Stop()
	return c
}

// arm starts the budget.
func (c *hookCtx) arm(d time.Duration) {
	c.deadline.Store(time.Now().Add(d).UnixNano())
	c.timer.Reset(d)
}

// disarm stops the budget; false means it ran out (or is running out now)
// and the state must not be reused.
func (c *hookCtx) disarm() bool {
	return c.timer.Stop() && !c.fired.Load()
}

func (c *hookCtx) Deadline() (time.Time, bool) { return time.Unix(0, c.deadline.Load()), true }
func (c *hookCtx) Done() <-chan struct{}       { return c.done }
func (c *hookCtx) Value(any) any               { return nil }

func (c *hookCtx) Err() error {
	if c.fired.Load() {
		return context.DeadlineExceeded
	}
	return nil
}
