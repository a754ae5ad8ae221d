package luaapi

import (
	"errors"
	"sync"
	"testing"
	"time"

	"luapbx/engine"
	"luapbx/engine/routing"
)

func TestObserveAndOnDrop(t *testing.T) {
	var mu sync.Mutex
	type seen struct {
		hook string
		err  error
	}
	var got []seen
	drops := 0
	p, err := LoadSource("observe.lua", `
function on_route(call, decision)
  if call.to == "1" then error("boom") end
  if call.to == "2" then while true do end end
end
function on_event(ev) end
`, Options{
		Timeout:   20 * time.Millisecond,
		QueueSize: 1, Workers: 1,
		Observe: func(hook string, took time.Duration, err error) {
			mu.Lock()
			got = append(got, seen{hook, err})
			mu.Unlock()
		},
		OnDrop: func() { mu.Lock(); drops++; mu.Unlock() },
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, to := range []string{"0", "1", "2"} {
		_, _ = p.Route(&routing.Call{To: to, Time: time.Now()}, &routing.Decision{})
	}
	p.Close()
	p.Emit(engine.Event{Type: "call.end"}) // closed: dropped
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 3 {
		t.Fatalf("observed %d hook runs, want 3: %+v", len(got), got)
	}
	if got[0].hook != "on_route" || got[0].err != nil {
		t.Errorf("first run %+v, want on_route without error", got[0])
	}
	if got[1].err == nil || errors.Is(got[1].err, ErrTimeout) {
		t.Errorf("second run error %v, want a plain Lua error", got[1].err)
	}
	if !errors.Is(got[2].err, ErrTimeout) {
		t.Errorf("third run error %v, want ErrTimeout", got[2].err)
	}
	if drops != 1 {
		t.Errorf("%d drops reported, want 1", drops)
	}
}
