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
	case p.queue <- ev:
	default:
		p.dropped()
		// Log the 1st, 2nd, 4th, 8th... drop: a full queue stays visible
		// without flooding the log.
		if n := p.st.eventsDropped.Add(1); n&(n-1) == 0 {
			p.log.Warn("lua event queue full, events dropped", "type", ev.Type, "call_id", ev.CallID, "dropped", n)
		}
	}
}

func (p *Program) dropped() {
	if p.opts.OnDrop != nil {
		p.opts.OnDrop()
	}
}

// worker runs queued events until Close, then drains the queue.
func (p *Program) worker() {
	defer p.wg.Done()
	for {
		select {
		case ev := <-p.queue:
			p.event(ev)
		case <-p.stop:
			for {
				select {
				case ev := <-p.queue:
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

// eventTable builds on_event's argument: type, time, call_id and data.
func eventTable(L *lua.LState, ev engine.Event) *lua.LTable {
	t := L.CreateTable(0, 5)
	t.RawSetString("type", lua.LString(ev.Type))
	at := ev.Time
	if at.IsZero() {
		at = time.Now()
	}
	t.RawSetString("time", lua.LNumber(at.Unix()))
	t.RawSetString("time_iso", lua.LString(at.Format("2006-01-02T15:04:05-07:00")))
	t.RawSetString("call_id", optString(ev.CallID))
	data := L.CreateTable(0, len(ev.Data))
	for _, k := range sortedKeys(ev.Data) {
		data.RawSetString(k, toLua(L, ev.Data[k]))
	}
	t.RawSetString("data", data)
	return t
}

// Close stops the event workers after they ran what is queued, giving them
// at most DrainTimeout (then running events are cancelled and the rest
// dropped), and closes the idle states. Hooks still running finish on their
// own state. Safe to call twice.
func (p *Program) Close() {
	p.closeOnce.Do(func() {
		p.closed.Store(true)
		close(p.stop)
		t := time.AfterFunc(p.opts.DrainTimeout, p.cancel)
		p.wg.Wait()
		t.Stop()
		p.cancel()
		p.client.CloseIdleConnections()
		for {
			select {
			case s := <-p.free:
				s.close()
			default:
				return
			}
		}
	})
}
