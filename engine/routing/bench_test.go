package routing

import (
	"runtime"
	"slices"
	"testing"
	"time"
)

// benchRouters caches the routers of benchDecide across its b.N rounds, so
// that building them (and collecting their garbage) stays out of the timing.
var benchRouters = map[int]struct {
	r       *Router
	numbers []string
}{}

func benchRouter(b *testing.B, n int) (*Router, []string) {
	if c, ok := benchRouters[n]; ok {
		return c.r, c.numbers
	}
	plan, numbers := lcrPlan(n, 1)
	r, err := New(plan)
	if err != nil {
		b.Fatal(err)
	}
	benchRouters[n] = struct {
		r       *Router
		numbers []string
	}{r, numbers}
	return r, numbers
}

func benchDecide(b *testing.B, n int) {
	r, numbers := benchRouter(b, n)
	rome := r.Location("lcr")
	call := &Call{Company: "lcr", CallerType: Internal, From: "201", Extension: "201",
		Time: time.Date(2026, 11, 23, 10, 0, 0, 0, rome)}
	lat := make([]time.Duration, 0, min(b.N, 1<<20))
	routed := 0
	runtime.GC()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		call.To = numbers[i&(len(numbers)-1)]
		t0 := time.Now()
		d := r.Decide(call, nil, nil)
		el := time.Since(t0)
		if len(lat) < cap(lat) {
			lat = append(lat, el)
		}
		if d.Target.Kind == TargetGateway {
			routed++
		}
	}
	b.StopTimer()
	if routed == 0 {
		b.Fatal("no call was routed to a gateway")
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
}

func BenchmarkDecide10k(b *testing.B)  { benchDecide(b, 10_000) }
func BenchmarkDecide100k(b *testing.B) { benchDecide(b, 100_000) }

func BenchmarkBuild100k(b *testing.B) {
	plan, _ := lcrPlan(100_000, 1)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := New(plan); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkIndex100k(b *testing.B) {
	plan, _ := lcrPlan(100_000, 1)
	r, err := New(plan)
	if err != nil {
		b.Fatal(err)
	}
	rules := r.companies["lcr"].rules
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		x := buildIndex(rules)
		if len(x.nodes) < len(rules)/10 {
			b.Fatal("index too small")
		}
	}
}

// BenchmarkDecideExplained is the cost of a decision with its explanation
// (what `luapbx route` and the CDR pay).
func BenchmarkDecideExplained10k(b *testing.B) {
	r, numbers := benchRouter(b, 10_000)
	call := &Call{Company: "lcr", CallerType: Internal, From: "201", Extension: "201",
		Time: time.Date(2026, 11, 23, 10, 0, 0, 0, r.Location("lcr"))}
	var ex Explanation
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		call.To = numbers[i&(len(numbers)-1)]
		r.Decide(call, nil, &ex)
	}
	if ex.Generation != 1 {
		b.Fatal("no explanation")
	}
}

func BenchmarkTies100k(b *testing.B) {
	r, _ := benchRouter(b, 100_000)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if len(r.Ties()) > MaxTies {
			b.Fatal("more ties than the cap")
		}
	}
}

// BenchmarkLookup100k is the trie walk alone, without scoring.
func BenchmarkLookup100k(b *testing.B) {
	r, numbers := benchRouter(b, 100_000)
	x := &r.companies["lcr"].idx
	var buf [maxHits]hit
	n := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n += len(x.lookup(numbers[i&(len(numbers)-1)], buf[:0]))
	}
	if n == 0 {
		b.Fatal("no number reached a rule")
	}
}
