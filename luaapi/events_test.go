package luaapi

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"

	"luapbx/engine"
)

func TestOnEvent(t *testing.T) {
	got := make(chan string, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.URL.Query().Get("t") + " " + r.URL.Query().Get("from")
	}))
	defer srv.Close()
	p := load(t, map[string]string{"e.lua": "URL = " + quote(srv.URL) + `
function on_event(ev)
  assert(ev.call_id == "c9" and ev.time == 1795428000 and ev.data.secs == 42 and ev.data.tags[2] == "b")
  http.get(URL .. "/?t=" .. ev.type .. "&from=" .. ev.data.from)
end`}, Options{})
	p.Emit(engine.Event{Type: "call.end", Time: testTime, CallID: "c9",
		Data: map[string]any{"from": "0612345", "secs": 42, "tags": []string{"a", "b"}}})
	select {
	case s := <-got:
		if s != "call.end 0612345" {
			t.Fatalf("webhook got %q", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no webhook")
	}
	p.Close()
	if s := p.Stats(); s.Events != 1 || s.EventErrors != 0 {
		t.Fatalf("stats = %+v", s)
	}
}

// TestEmitNeverBlocks: with on_event stuck, Emit still returns at once and
// drops past each worker's share of QueueSize (QueueSize/Workers).
func TestEmitNeverBlocks(t *testing.T) {
	other := "call-b"
	for i := 0; workerOf(other, 2) == workerOf("call-a", 2); i++ {
		other = fmt.Sprintf("call-b%d", i)
	}
	tests := []struct {
		name         string
		ids          []string
		minDr, maxDr uint64
	}{
		// Events of no call share one worker: 1 running (maybe not yet
		// picked up) + its 2 queued.
		{"no call", []string{""}, 97, 98},
		// Two calls on two workers: 1 running + 2 queued on each.
		{"two calls", []string{"call-a", other}, 94, 96},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			release := make(chan struct{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				<-release
			}))
			defer srv.Close()
			defer close(release)
			p := load(t, map[string]string{"e.lua": "URL = " + quote(srv.URL) + `
function on_event(ev) http.get(URL) end`}, Options{QueueSize: 4, Workers: 2, EventTimeout: 5 * time.Second})
			start := time.Now()
			for i := range 100 {
				p.Emit(engine.Event{Type: "call.start", CallID: tc.ids[i%len(tc.ids)]})
			}
			if took := time.Since(start); took > 100*time.Millisecond {
				t.Fatalf("100 Emits took %v", took)
			}
			if s := p.Stats(); s.EventsDropped < tc.minDr || s.EventsDropped > tc.maxDr {
				t.Fatalf("dropped %d, want %d..%d", s.EventsDropped, tc.minDr, tc.maxDr)
			}
		})
	}
}

func TestCloseDrainsWithABound(t *testing.T) {
	var ran atomic.Int64
	p := load(t, map[string]string{"e.lua": `
function on_event(ev)
  if ev.type == "slow" then while true do end end
end`}, Options{Workers: 1, EventTimeout: 10 * time.Second, DrainTimeout: 100 * time.Millisecond})
	p.Emit(engine.Event{Type: "slow"})
	for range 5 {
		p.Emit(engine.Event{Type: "fast"})
	}
	start := time.Now()
	p.Close()
	p.Close() // safe twice
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("Close took %v", took)
	}
	s := p.Stats()
	if s.EventErrors != 1 || s.Events+s.EventsDropped != 6 {
		t.Fatalf("stats = %+v (ran %d)", s, ran.Load())
	}
	p.Emit(engine.Event{Type: "after"})
	if p.Stats().EventsDropped != s.EventsDropped+1 {
		t.Fatal("Emit after Close must drop and count")
	}
}

func TestCloseRunsQueuedEvents(t *testing.T) {
	p := load(t, map[string]string{"e.lua": `function on_event(ev) pbx.kv_set("last", ev.type) end`}, Options{Workers: 1})
	for _, typ := range []string{"a", "b", "c"} {
		p.Emit(engine.Event{Type: typ})
	}
	p.Close()
	if v, _ := p.KV().Get("last", time.Now()); v != "c" || p.Stats().Events != 3 {
		t.Fatalf("last = %v, stats %+v", v, p.Stats())
	}
}

func TestEventTimeout(t *testing.T) {
	p := load(t, map[string]string{"e.lua": "function on_event(ev)\n  while true do end\nend"},
		Options{EventTimeout: 30 * time.Millisecond})
	p.Emit(engine.Event{Type: "x"})
	p.Close()
	if s := p.Stats(); s.EventTimeouts != 1 || s.Errors != 0 {
		t.Fatalf("stats = %+v", s)
	}
}

func TestEmitWithoutHook(t *testing.T) {
	p := load(t, map[string]string{"r.lua": "function on_route() end"}, Options{QueueSize: 1})
	for range 10 {
		p.Emit(engine.Event{Type: "x"})
	}
	if s := p.Stats(); s.EventsDropped != 0 || s.Events != 0 {
		t.Fatalf("stats = %+v", s)
	}
}

func TestWantEvent(t *testing.T) {
	tests := []struct {
		mode, callID string
		integration  bool
		want         bool
	}{
		{EventsIntegration, "c1", true, true},
		{EventsIntegration, "c1", false, false},
		{EventsAll, "c1", false, true},
		{EventsIntegration, "", false, true}, // reload, registration
	}
	for _, tc := range tests {
		if got := WantEvent(tc.mode, tc.callID, tc.integration); got != tc.want {
			t.Errorf("WantEvent(%q, %q, %v) = %v", tc.mode, tc.callID, tc.integration, got)
		}
	}
	if !errors.Is(&HookError{Err: ErrTimeout}, ErrTimeout) {
		t.Fatal("HookError must unwrap")
	}
}

// TestSlowCallDoesNotStarveOtherWorker: one call whose on_event is stuck
// (a CRM timing out) fills its own worker's queue; it used to fill the one
// QueueSize shared by all workers, and the events of calls on the idle
// worker were dropped.
func TestSlowCallDoesNotStarveOtherWorker(t *testing.T) {
	slow, other := "call-slow", ""
	for i := range 100 {
		if id := fmt.Sprintf("call-o%d", i); workerOf(id, 2) != workerOf(slow, 2) {
			other = id
			break
		}
	}
	started := make(chan struct{}, 1)
	release := make(chan struct{})
	var ran atomic.Int32
	p := load(t, map[string]string{"e.lua": `
function on_event(ev)
  if ev.call_id == "call-slow" then hold() else ran() end
end`}, Options{Workers: 2, QueueSize: 8, EventTimeout: 10 * time.Second, extra: map[string]lua.LGFunction{
		"hold": func(*lua.LState) int {
			select {
			case started <- struct{}{}:
			default:
			}
			<-release
			return 0
		},
		"ran": func(*lua.LState) int { ran.Add(1); return 0 },
	}})
	defer close(release) // before load's cleanup closes p
	p.Emit(engine.Event{Type: "call.start", CallID: slow})
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the slow call's on_event did not start")
	}
	for range 12 { // its worker's 4 places, then 8 dropped
		p.Emit(engine.Event{Type: "call.dtmf", CallID: slow})
	}
	if s := p.Stats(); s.EventsDropped != 8 {
		t.Fatalf("dropped %d of the slow call's events, want 8 (its worker holds QueueSize/Workers = 4); stats %+v", s.EventsDropped, s)
	}
	p.Emit(engine.Event{Type: "call.start", CallID: other}) // its worker is idle
	for deadline := time.Now().Add(10 * time.Second); ran.Load() == 0; time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the other call's event did not run (its worker was idle); stats %+v", p.Stats())
		}
	}
	if s := p.Stats(); s.EventsDropped != 8 {
		t.Fatalf("stats %+v: the other call's event was dropped", s)
	}
}

func TestQueueShare(t *testing.T) {
	tests := []struct{ size, workers, want int }{
		{8, 2, 4}, {5, 2, 3}, {256, 3, 86}, {1, 2, 1}, {4, 1, 4}, {0, 2, 1},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%d/%d", tc.size, tc.workers), func(t *testing.T) {
			if got := queueShare(tc.size, tc.workers); got != tc.want {
				t.Fatalf("queueShare(%d, %d) = %d, want %d", tc.size, tc.workers, got, tc.want)
			}
		})
	}
}
