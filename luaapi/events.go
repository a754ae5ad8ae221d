package luaapi

import (
	"time"

	lua "github.com/yuin/gopher-lua"

	"luapbx/engine"
)

// Emit queues ev for on_event. It never blocks: with no on_event hook it
// does nothing; with a full queue, or after Close, it drops and counts.
// Emit delivers every event it gets; choosing which events fire is the
// engine's job (see WantEvent).
//
// Events of one call go to one worker (chosen by the call id), so they
// reach on_event in the order they were emitted; events of no call all go
// to one worker too. Different calls run on different workers at once.
// Each worker's queue holds QueueSize/Workers events (rounded up): a full
// queue drops only the events of the calls that share its worker.
func (p *Program) Emit(ev engine.Event) {
	if p.sites[hookEvent].file == "" {
		return
	}
	if p.closed.Load() {
		p.st.eventsDropped.Add(1)
		p.dropped()
		return
	}
	select {
	case p.queues[workerOf(ev.CallID, len(p.queues))] <- ev:
		return
	default: // this worker's queue is full
	}
	p.dropped()
	// Log the 1st, 2nd, 4th, 8th... drop: a full queue stays visible
	// without flooding the log.
	if n := p.st.eventsDropped.Add(1); n&(n-1) == 0 {
		p.log.Warn("lua event queue full, events dropped", "type", ev.Type, "call_id", ev.CallID, "dropped", n)
	}
}

// queueShare is how many events one worker's queue holds: size/workers
// rounded up, at least 1.
func queueShare(size, workers int) int {
	return max(1, (size+workers-1)/max(1, workers))
}

// workerOf picks the worker of a call's events: FNV-1a of the call id, so
// every event of a call lands on the same worker.
func workerOf(callID string, n int) int {
	if n <= 1 {
		return 0
	}
	h := uint32(2166136261)
	for i := 0; i < len(callID); i++ {
		h ^= uint32(callID[i])
		h *= 16777619
	}
	return int(h % uint32(n))
}

func (p *Program) dropped() {
	if p.opts.OnDrop != nil {
		p.opts.OnDrop()
	}
}

// worker runs its queue's events, in order, until Close, then drains it.
func (p *Program) worker(q chan engine.Event) {
	defer p.wg.Done()
	for {
		select {
		case ev := <-q:
			p.event(ev)
		case <-p.stop:
			for {
				select {
				case ev := <-q:
					p.event(ev)
				default:
					return
				}
			}
		}
	}
}

// event runs on_event(ev) on a pooled state within EventTimeout.
func (p *Program) event(ev engine.Event) {
	if p.base.Err() != nil { // Close's drain time is over
		p.st.eventsDropped.Add(1)
		return
	}
	p.st.events.Add(1)
	inv := invocation{
		h: hookEvent, nret: 0, timeout: p.opts.EventTimeout,
		push: func(s *state) int {
			s.L.Push(eventTable(s.L, ev))
			return 1
		},
		read: func(*lua.LState) *HookError { return nil },
	}
	_ = p.run(&inv) // counted and logged by run
}

// eventTable builds on_event's argument: type, time, time_ms, time_iso,
// call_id and data.
func eventTable(L *lua.LState, ev engine.Event) *lua.LTable {
	t := L.CreateTable(0, 6)
	t.RawSetString("type", lua.LString(ev.Type))
	at := ev.Time
	if at.IsZero() {
		at = time.Now()
	}
	t.RawSetString("time", lua.LNumber(at.Unix()))
	t.RawSetString("time_ms", lua.LNumber(at.UnixMilli()))
	t.RawSetString("time_iso", lua.LString(at.Format("2006-01-02T15:04:05-07:00")))
	t.RawSetString("call_id", optString(ev.CallID))
	data := L.CreateTable(0, len(ev.Data))
	for _, k := range sortedKeys(ev.Data) {
		data.RawSetString(k, toLua(L, ev.Data[k]))
	}
	t.RawSetString("data", data)
	return t
}

// Close stops the background builder, then the event workers after they
// ran what is queued, giving them at most DrainTimeout (then running events
// are cancelled and the rest dropped), and closes the idle states. Hooks
// still running finish on their own state. Safe to call twice.
func (p *Program) Close() {
	p.closeOnce.Do(func() {
		p.closed.Store(true)
		p.buildCancel()
		p.bwg.Wait()
		close(p.stop)
		t := time.AfterFunc(p.opts.DrainTimeout, p.cancel)
		p.wg.Wait()
		t.Stop()
		p.cancel()
		p.retired.Store(true)
		p.client.CloseIdleConnections()
		for _, s := range p.free.drain() {
			s.close()
		}
	})
}
