package luaapi

import (
	"errors"
	"fmt"
	"sort"
	"syscall"
	"testing"
	"time"

	"luapbx/engine"
	"luapbx/engine/routing"
)

const benchRoute = `
function on_route(call, decision)
  if call.caller_type == "external" and call.from:sub(1, 2) == "39" and decision.record then
    return {target = "group:600", record = true}
  end
  return nil
end
`

// BenchmarkRouteHook: one on_route on a pooled state, call and decision
// tables in, a change table out. Reports p50 and p99 per call.
func BenchmarkRouteHook(b *testing.B) {
	p := load(b, map[string]string{"r.lua": benchRoute}, Options{})
	call, d := testCall(), testDecision()
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		ch, err := p.Route(call, d)
		lat = append(lat, time.Since(t0))
		if err != nil && !errors.Is(err, ErrTimeout) || err == nil && ch.Target != "group:600" {
			b.Fatalf("%+v %v", ch, err)
		}
	}
	b.StopTimer()
	reportPercentiles(b, lat)
	// On a loaded machine a descheduled hook can miss its wall-clock budget.
	b.ReportMetric(float64(p.Stats().Timeouts), "timeouts")
}

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportPercentiles(b *testing.B, lat []time.Duration) {
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
}

// BenchmarkMapHook: on_map returning a string.
func BenchmarkMapHook(b *testing.B) {
	p := load(b, map[string]string{"m.lua": `function on_map(call, number, rule) return "0039" .. number end`}, Options{})
	call := testCall()
	b.ReportAllocs()
	for range b.N {
		if n, err := p.Map(call, "3471234567", "short"); err == nil && n != "00393471234567" || err != nil && !errors.Is(err, ErrTimeout) {
			b.Fatal(n, err)
		}
	}
}

// BenchmarkDecideParallel: full router decisions with an on_route hook,
// from every core at once. Reports decisions per second.
func BenchmarkDecideParallel(b *testing.B) {
	r := testRouter(b)
	p := load(b, map[string]string{"r.lua": benchRoute}, Options{})
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	b.RunParallel(func(pb *testing.PB) {
		call := &routing.Call{ID: "x", Company: "acme", CallerType: routing.External, From: "393351234567",
			To: "0733811881", DID: "0733811881", Trunk: "p1", Time: testTime}
		for pb.Next() {
			r.Decide(call, p, nil)
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "decisions/s")
	// The process's CPU time per decision (GC included) tells what 2 idle
	// cores would do, whatever else shares the machine.
	cpuPerOp := float64(cpuTime()-cpu0) / float64(b.N)
	b.ReportMetric(cpuPerOp, "cpu-ns/op")
	b.ReportMetric(2*float64(time.Second)/cpuPerOp, "2core-decisions/s")
	s := p.Stats()
	if s.Errors != s.Timeouts+s.Busy || s.Hooks < uint64(b.N) {
		b.Fatalf("stats %+v", s)
	}
	b.ReportMetric(float64(s.Timeouts+s.Busy), "timeouts")
}

// BenchmarkDecideNoHook is the same decision without Lua, for comparison.
func BenchmarkDecideNoHook(b *testing.B) {
	r := testRouter(b)
	call := &routing.Call{ID: "x", Company: "acme", CallerType: routing.External, From: "393351234567",
		To: "0733811881", DID: "0733811881", Trunk: "p1", Time: testTime}
	b.ReportAllocs()
	for range b.N {
		r.Decide(call, nil, nil)
	}
}

// BenchmarkLoad20: Load (compile, build the first state) of 20 scripts of
// ~40 lines each, then Close.
func BenchmarkLoad20(b *testing.B) {
	files := make(map[string]string, 20)
	for i := range 20 {
		src := fmt.Sprintf("-- script %d\nCONST_%d = %d\n", i, i, i)
		for j := range 8 {
			src += fmt.Sprintf(`
function helper_%d_%d(call, n)
  local t = {}
  for k = 1, n do t[#t + 1] = call.from .. k end
  return table.concat(t, ",")
end
`, i, j)
		}
		if i == 0 {
			src += benchRoute
		}
		files[fmt.Sprintf("%02d.lua", i)] = src
	}
	dir := writeScripts(b, files)
	b.ReportAllocs()
	for range b.N {
		p, err := Load(dir, Options{})
		if err != nil {
			b.Fatal(err)
		}
		p.Close()
	}
}

// BenchmarkEmit: queuing an event (the call path's cost of on_event).
func BenchmarkEmit(b *testing.B) {
	p := load(b, map[string]string{"e.lua": `function on_event(ev) end`}, Options{QueueSize: 1 << 16})
	ev := engine.Event{Type: "call.routed", CallID: "c1", Data: map[string]any{"target": "user:201"}}
	b.ReportAllocs()
	for range b.N {
		p.Emit(ev)
	}
}

// BenchmarkJSONDecode: a typical CRM answer.
func BenchmarkJSONDecode(b *testing.B) {
	p := load(b, map[string]string{"j.lua": `function dec(s) return json.decode(s) end`}, Options{})
	s, _ := p.get(false, 0)
	defer p.put(s)
	fn := s.L.GetGlobal("dec")
	body := luaStr(`{"account_manager": "201", "name": "Some Customer", "numbers": ["0733811720", "3471234567"], "score": 12}`)
	b.ReportAllocs()
	for range b.N {
		s.L.Push(fn)
		s.L.Push(body)
		if err := s.L.PCall(1, 1, nil); err != nil {
			b.Fatal(err)
		}
		s.L.Pop(1)
	}
}
