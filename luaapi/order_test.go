package luaapi

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"

	"luapbx/engine"
)

// recorder collects what on_event saw, per call id, from several workers.
type recorder struct {
	mu  sync.Mutex
	got map[string][]int
}

func (r *recorder) record(L *lua.LState) int {
	id, seq := L.CheckString(1), L.CheckInt(2)
	r.mu.Lock()
	r.got[id] = append(r.got[id], seq)
	r.mu.Unlock()
	return 0
}

func (r *recorder) of(id string) []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got[id])
}

// TestEventsOfOneCallInOrder: the first event of each call is slow; with
// two workers taking from one queue the second event overtook it (the
// trial's call.routed before call.start). Events of one call, and events
// of no call, must reach on_event in the order they were emitted.
func TestEventsOfOneCallInOrder(t *testing.T) {
	rec := &recorder{got: map[string][]int{}}
	p := load(t, map[string]string{"e.lua": `
function on_event(ev)
  if ev.data.seq == 1 then sleep_ms(15) end
  record(ev.call_id or "", ev.data.seq)
end`}, Options{Workers: 2, extra: map[string]lua.LGFunction{
		"record": rec.record,
		"sleep_ms": func(L *lua.LState) int {
			time.Sleep(time.Duration(L.CheckInt(1)) * time.Millisecond)
			return 0
		},
	}})
	types := []string{"call.start", "call.routed", "call.answered", "call.end"}
	ids := []string{"", "call-1", "call-2", "call-3", "call-4", "call-5", "call-6"}
	for _, id := range ids {
		for i, typ := range types {
			p.Emit(engine.Event{Type: typ, CallID: id, Data: map[string]any{"seq": i + 1}})
		}
	}
	p.Close() // drains every queue
	if s := p.Stats(); s.Events != uint64(len(ids)*len(types)) || s.EventErrors != 0 || s.EventsDropped != 0 {
		t.Fatalf("stats = %+v", s)
	}
	want := []int{1, 2, 3, 4}
	for _, id := range ids {
		t.Run("call "+id, func(t *testing.T) {
			if got := rec.of(id); !slices.Equal(got, want) {
				t.Fatalf("on_event saw %v, want %v (emission order)", got, want)
			}
		})
	}
}

// TestEventsOfDifferentCallsRunInParallel: two calls whose events go to
// different workers run at the same time: each on_event waits for the
// other to start.
func TestEventsOfDifferentCallsRunInParallel(t *testing.T) {
	a, b := "call-a", ""
	for i := range 100 {
		if id := fmt.Sprintf("call-b%d", i); workerOf(id, 2) != workerOf(a, 2) {
			b = id
			break
		}
	}
	if b == "" {
		t.Fatal("no call id for the other worker")
	}
	var mu sync.Mutex
	arrived := 0
	both := make(chan struct{})
	met := map[string]bool{}
	meet := func(L *lua.LState) int {
		id := L.CheckString(1)
		mu.Lock()
		if arrived++; arrived == 2 {
			close(both)
		}
		mu.Unlock()
		select {
		case <-both:
			mu.Lock()
			met[id] = true
			mu.Unlock()
		case <-time.After(3 * time.Second):
		}
		return 0
	}
	p := load(t, map[string]string{"e.lua": `function on_event(ev) meet(ev.call_id) end`},
		Options{Workers: 2, EventTimeout: 10 * time.Second, extra: map[string]lua.LGFunction{"meet": meet}})
	p.Emit(engine.Event{Type: "call.start", CallID: a})
	p.Emit(engine.Event{Type: "call.start", CallID: b})
	p.Close()
	mu.Lock()
	defer mu.Unlock()
	if !met[a] || !met[b] {
		t.Fatalf("events of %s and %s did not run at the same time: met %v", a, b, met)
	}
}

func TestWorkerOf(t *testing.T) {
	tests := []struct {
		id string
		n  int
	}{{"", 1}, {"", 2}, {"abc@host", 2}, {"abc@host", 7}, {"x", 3}}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%q/%d", tc.id, tc.n), func(t *testing.T) {
			w := workerOf(tc.id, tc.n)
			if w < 0 || w >= tc.n || w != workerOf(tc.id, tc.n) {
				t.Fatalf("workerOf = %d, want a stable value in [0,%d)", w, tc.n)
			}
		})
	}
	// Call ids spread over the workers.
	var seen [4]int
	for i := range 400 {
		seen[workerOf(fmt.Sprintf("%08x@10.0.0.1", i*7919), 4)]++
	}
	for w, n := range seen {
		if n < 50 {
			t.Fatalf("worker %d got %d of 400 calls: %v", w, n, seen)
		}
	}
}

// TestEventTimeMs: ev.time stays whole seconds; ev.time_ms carries the
// milliseconds.
func TestEventTimeMs(t *testing.T) {
	at := testTime.Add(1234 * time.Millisecond)
	p := load(t, map[string]string{"e.lua": `
function on_event(ev) pbx.kv_set("t", {time = ev.time, time_ms = ev.time_ms, time_iso = ev.time_iso}) end`}, Options{})
	p.Emit(engine.Event{Type: "call.end", Time: at, CallID: "c1"})
	p.Close()
	v, _ := p.KV().Get("t", time.Now())
	got, _ := v.(map[string]any)
	want := map[string]any{"time": float64(at.Unix()), "time_ms": float64(at.UnixMilli()),
		"time_iso": at.Format("2006-01-02T15:04:05-07:00")}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("ev.%s = %v, want %v (all: %v)", k, got[k], w, got)
		}
	}
}
