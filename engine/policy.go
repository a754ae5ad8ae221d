// Package engine holds what the PBX core asks of the outside: the policy
// seam that scripts implement. The engine never imports luaapi; luaapi
// implements Policy.
package engine

import (
	"time"

	"luapbx/engine/routing"
)

// Event is something that happened, for scripts' on_event: call.start,
// call.routed, call.answered, call.end, recording.done, voicemail.new,
// registration, reload.
type Event struct {
	Type   string
	Time   time.Time
	CallID string
	Data   map[string]any // values: string, bool, int, int64, float64, []string, map[string]any
}

// Policy is what scripts add to the built-in router: hooks that may change a
// decision, and events delivered off the call path.
type Policy interface {
	routing.Hooks
	// Emit queues an event for on_event; it never blocks, and drops (and
	// counts) when the queue is full.
	Emit(ev Event)
	// Close stops the event workers after draining what is queued, waiting
	// at most for ctx-free bounded time; safe to call twice.
	Close()
}
