package luaapi

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"

	"luapbx/engine/routing"
)

func TestRouteChanges(t *testing.T) {
	yes, no := true, false
	tests := []struct {
		name string
		ret  string
		want routing.Change
	}{
		{"nil keeps", "nil", routing.Change{}},
		{"target", `{target = "group:600"}`, routing.Change{Target: "group:600"}},
		{"number", `{number = "0733811721"}`, routing.Change{Number: "0733811721"}},
		{"record", `{record = false}`, routing.Change{Record: &no}},
		{"integration", `{integration = true}`, routing.Change{Integration: &yes}},
		{"all", `{target = "number:3471234567", number = "3471234567", record = true, integration = false}`,
			routing.Change{Target: "number:3471234567", Number: "3471234567", Record: &yes, Integration: &no}},
		{"empty table", `{}`, routing.Change{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, h := range []string{"on_route", "on_offhours"} {
				p := load(t, map[string]string{"r.lua": "function " + h + "(call, d) return " + tc.ret + " end"}, Options{})
				var ch routing.Change
				var err error
				if h == "on_route" {
					ch, err = p.Route(testCall(), testDecision())
				} else {
					ch, err = p.Offhours(testCall(), testDecision())
				}
				if err != nil {
					t.Fatalf("%s: %v", h, err)
				}
				if fmt.Sprint(changeString(ch)) != changeString(tc.want) {
					t.Fatalf("%s = %s, want %s", h, changeString(ch), changeString(tc.want))
				}
			}
		})
	}
}

func changeString(c routing.Change) string {
	b := func(p *bool) string {
		if p == nil {
			return "-"
		}
		return fmt.Sprint(*p)
	}
	return fmt.Sprintf("target=%q number=%q record=%s integration=%s", c.Target, c.Number, b(c.Record), b(c.Integration))
}

func TestRouteBadResults(t *testing.T) {
	tests := []struct{ name, ret, want string }{
		{"string", `"group:600"`, "returned a string"},
		{"number target", `{target = 42}`, "target = 42"},
		{"bad target syntax", `{target = "group600"}`, "bad target"},
		{"unknown kind", `{target = "queue:1"}`, "unknown kind"},
		{"record yes", `{record = "yes"}`, `record = "yes"`},
		{"integration 1", `{integration = 1}`, "integration = 1"},
		{"number as number", `{number = 3471234567}`, "numbers are strings"},
		{"unknown key", `{target = "user:201", priority = 1}`, "unknown key"},
		{"array", `{"user:201"}`, "unknown key 1"},
		{"empty target", `{target = ""}`, "target"},
		{"dangling target", `{target = "user:999"}`, "no such extension"},
	}
	check := func(company, target string) error {
		if target == "user:999" {
			return errors.New("no such extension in " + company)
		}
		return nil
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			log, buf := bufLogger()
			p := load(t, map[string]string{"r.lua": "\n\nfunction on_route(call, d)\n  return " + tc.ret + "\nend\n"},
				Options{CheckTarget: check, Logger: log})
			ch, err := p.Route(testCall(), testDecision())
			if err == nil || !ch.Empty() {
				t.Fatalf("Route = %+v, %v; want an error", ch, err)
			}
			if !strings.Contains(err.Error(), "r.lua:3: on_route returned") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %q, want r.lua:3: ... %s", err, tc.want)
			}
			if !strings.Contains(buf.String(), "script=") || !strings.Contains(buf.String(), "line=3") {
				t.Fatalf("log = %q, want script and line", buf.String())
			}
			// A wrong result keeps the state: nothing discarded.
			if s := p.Stats(); s.Errors != 1 || s.StatesDiscarded != 0 {
				t.Fatalf("stats = %+v", s)
			}
		})
	}
}

func TestMapHook(t *testing.T) {
	tests := []struct {
		name, body, want, err string
	}{
		{"keep", "return nil", "3471234567", ""},
		{"same", "return number", "3471234567", ""},
		{"change", `if rule == "short" then return "0039" .. number end`, "00393471234567", ""},
		{"number type", "return 12", "3471234567", "numbers are strings"},
		{"empty", `return ""`, "3471234567", "empty number"},
		{"error", `error("crm down")`, "3471234567", "m.lua:1: crm down"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := load(t, map[string]string{"m.lua": "function on_map(call, number, rule) " + tc.body + " end"}, Options{})
			got, err := p.Map(testCall(), "3471234567", "short")
			if got != tc.want {
				t.Fatalf("Map = %q, want %q", got, tc.want)
			}
			if (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("err = %v, want %q", err, tc.err)
			}
		})
	}
}

func TestCallAndDecisionFields(t *testing.T) {
	src := `
function on_route(call, d)
  assert(call.id == "c1" and call.from == "393351234567" and call.to == "0733811720")
  assert(call.did == "0733811720" and call.trunk == "p1" and call.company == "acme")
  assert(call.caller_type == "external" and call.extension == nil)
  assert(call.time == os.time{year=2026, month=11, day=23, hour=10, min=0, sec=0} or call.time == 1795428000)
  assert(call.time_iso == "2026-11-23T10:00:00+00:00", call.time_iso)
  assert(call.header("X-Customer") == "gold" and call:header("X-Customer") == "gold")
  assert(call.header("X-Missing") == nil)
  assert(d.target == "user:201" and d.number == "201" and d.rule == "did-root")
  assert(d.record == true and d.integration == true and d.offhours == nil and d.source == "builtin")
  assert(d.score == 303235072, d.score) -- ((9*256 + 9) * 2^17) + 1 * 2^16
  assert(type(call.to) == "string" and type(d.number) == "string")
  return {target = "user:" .. call.header("X-Customer"):len()}
end
`
	p := load(t, map[string]string{"f.lua": src}, Options{})
	ch, err := p.Route(testCall(), testDecision())
	if err != nil || ch.Target != "user:4" {
		t.Fatalf("Route = %+v, %v", ch, err)
	}
}

func TestHeaderOutsideCall(t *testing.T) {
	p := load(t, map[string]string{"h.lua": `
saved = nil
function on_route(call, d)
  if call.header("X-Customer") == nil then saved = call return nil end
  if saved then return {target = "user:" .. tostring(saved.header("X-Customer"))} end
end`}, Options{Concurrency: 1})
	// Let the pool settle (the first hook wakes the builder), so that the
	// next two calls run on the same, most recently used, state.
	if _, err := p.Route(testCall(), testDecision()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "spare states", func() bool { return p.free.len() >= spareStates })
	call := testCall()
	call.Header = nil // e.g. luapbx route: no SIP message
	if ch, err := p.Route(call, testDecision()); err != nil || !ch.Empty() {
		t.Fatalf("first = %+v, %v", ch, err)
	}
	// The saved call's header answers for the call being decided now.
	ch, err := p.Route(testCall(), testDecision())
	if err != nil || ch.Target != "user:gold" {
		t.Fatalf("second = %+v, %v", ch, err)
	}
}

func TestErrorDiscardsStateAndRecovers(t *testing.T) {
	var ids atomic.Int64
	newID := func(L *lua.LState) int { L.Push(lua.LNumber(ids.Add(1))); return 1 }
	p := load(t, map[string]string{"e.lua": `
STATE = new_id() -- top-level code runs once per state
function on_route(call, d)
  if call.from == "boom" then error("boom in state " .. STATE) end
  return {target = "user:" .. STATE}
end`}, Options{Concurrency: 1, extra: map[string]lua.LGFunction{"new_id": newID}})
	if ch, err := p.Route(testCall(), testDecision()); err != nil || ch.Target == "" {
		t.Fatalf("first = %+v, %v", ch, err)
	}
	bad := testCall()
	bad.From = "boom"
	_, err := p.Route(bad, testDecision())
	var he *HookError
	if !errors.As(err, &he) || he.Line != 4 || !strings.HasPrefix(he.Msg, "boom in state ") || errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %#v", err)
	}
	failed := "user:" + strings.TrimPrefix(he.Msg, "boom in state ")
	// The failed state is never used again; other states (and fresh ones)
	// serve the next calls.
	for i := range 10 {
		ch, err := p.Route(testCall(), testDecision())
		if err != nil || ch.Target == "" || ch.Target == failed {
			t.Fatalf("call %d after the error = %+v, %v (the failed state was %s)", i, ch, err, failed)
		}
	}
	if s := p.Stats(); s.Hooks != 12 || s.Errors != 1 || s.StatesDiscarded != 1 {
		t.Fatalf("stats = %+v", s)
	}
}

// TestAdmissionBeforeBudget: with one slot, a hook that has to wait for
// it starts its budget only once admitted.
func TestAdmissionBeforeBudget(t *testing.T) {
	const budget = 300 * time.Millisecond
	entered, release := make(chan struct{}), make(chan struct{})
	p := load(t, map[string]string{"c.lua": `
function on_route(call, d)
  if call.from == "first" then block() return nil end
  return {target = "user:" .. math.floor(budget_left_ms())}
end`}, Options{Concurrency: 1, Timeout: budget, extra: map[string]lua.LGFunction{
		"block": func(L *lua.LState) int {
			close(entered)
			<-release
			return 0
		},
		"budget_left_ms": func(L *lua.LState) int {
			dl, _ := L.Context().Deadline()
			L.Push(lua.LNumber(time.Until(dl).Milliseconds()))
			return 1
		},
	}})
	first := testCall()
	first.From = "first"
	done := make(chan error, 1)
	go func() {
		_, err := p.Route(first, testDecision())
		done <- err
	}()
	<-entered
	type result struct {
		ch  routing.Change
		err error
	}
	second := make(chan result, 1)
	go func() {
		ch, err := p.Route(testCall(), testDecision())
		second <- result{ch, err}
	}()
	time.Sleep(170 * time.Millisecond) // the second hook waits for the slot
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("first hook: %v", err)
	}
	r := <-second
	if r.err != nil {
		t.Fatalf("second hook: %v", r.err)
	}
	// Had its budget started while it waited, at most 130 ms would be left.
	left, _ := strconv.Atoi(strings.TrimPrefix(r.ch.Target, "user:"))
	if left <= 200 {
		t.Fatalf("second hook started with %d ms of its %v budget left", left, budget)
	}
}

func TestAdmissionBusy(t *testing.T) {
	p := load(t, map[string]string{"b.lua": `
function on_route(call, d)
  while true do end
end`}, Options{Concurrency: 1, Timeout: 40 * time.Millisecond})
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = p.Route(testCall(), testDecision())
		}()
	}
	wg.Wait()
	var timeouts, busy int
	for _, err := range errs {
		switch {
		case errors.Is(err, ErrTimeout):
			timeouts++
		case errors.Is(err, ErrBusy):
			busy++
		default:
			t.Fatalf("err = %v", err)
		}
	}
	if timeouts < 1 || timeouts+busy != 3 {
		t.Fatalf("timeouts %d busy %d", timeouts, busy)
	}
	if s := p.Stats(); s.Busy != uint64(busy) || s.Timeouts != uint64(timeouts) || s.Errors != 3 {
		t.Fatalf("stats = %+v", s)
	}
}
