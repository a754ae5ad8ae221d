package luaapi

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a settable clock.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func TestKVStore(t *testing.T) {
	kv := NewKV(2)
	now := testTime
	if err := kv.Set("a", "1", time.Second, now); err != nil {
		t.Fatal(err)
	}
	if err := kv.Set("b", 2.0, 0, now); err != nil {
		t.Fatal(err)
	}
	if err := kv.Set("c", true, 0, now); !errors.Is(err, ErrKVFull) {
		t.Fatalf("third key: err = %v, want ErrKVFull", err)
	}
	if v, ok := kv.Get("a", now.Add(999*time.Millisecond)); !ok || v != "1" {
		t.Fatalf("a before expiry = %v %v", v, ok)
	}
	if _, ok := kv.Get("a", now.Add(time.Second)); ok {
		t.Fatal("a after expiry: still there")
	}
	if err := kv.Set("c", true, 0, now.Add(2*time.Second)); err != nil {
		t.Fatalf("after expiry there is room: %v", err)
	}
	if err := kv.Set("b", nil, 0, now); err != nil || kv.Len() != 1 {
		t.Fatalf("delete: %v, len %d", err, kv.Len())
	}
}

func TestKVFromLua(t *testing.T) {
	clock := &fakeClock{}
	clock.ns.Store(testTime.UnixNano())
	kv := NewKV(0)
	src := `
function on_route(call, d)
  local n = pbx.kv_get("n") or 0
  pbx.kv_set("n", n + 1)
  if call.from == "set" then
    assert(pbx.kv_set("oncall", "3471234567", 60))
    assert(pbx.kv_set("profile", {name = "Ann", tags = {"vip", "it"}}))
  end
  local p = pbx.kv_get("profile")
  if p then p.name = "changed in one state only" end
  local oncall = pbx.kv_get("oncall")
  if oncall then return {target = "number:" .. oncall} end
end`
	p := load(t, map[string]string{"kv.lua": src}, Options{KV: kv, Now: clock.Now, Concurrency: 4})
	set := testCall()
	set.From = "set"
	if ch, err := p.Route(set, testDecision()); err != nil || ch.Target != "number:3471234567" {
		t.Fatalf("set: %+v %v", ch, err)
	}
	// Shared by every state: many goroutines, each on some state.
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				if ch, err := p.Route(testCall(), testDecision()); err != nil || ch.Target != "number:3471234567" {
					t.Errorf("get: %+v %v", ch, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	// kv_get then kv_set is not atomic across states, so concurrent
	// increments may be lost, but every state saw the shared count.
	if v, _ := kv.Get("n", clock.Now()); v.(float64) < 21 || v.(float64) > 161 {
		t.Errorf("n = %v, want 21..161", v)
	}
	prof, _ := kv.Get("profile", clock.Now())
	if fmt.Sprint(prof) != "map[name:Ann tags:[vip it]]" {
		t.Fatalf("profile = %v: a state changed the stored copy", prof)
	}
	clock.Advance(61 * time.Second)
	if ch, err := p.Route(testCall(), testDecision()); err != nil || !ch.Empty() {
		t.Fatalf("after ttl: %+v %v", ch, err)
	}
	// The next Program keeps the store.
	p2 := load(t, map[string]string{"kv.lua": `assert(pbx.kv_get("profile").name == "Ann")`}, Options{KV: p.KV()})
	if KVOf(p2) != kv || KVOf(nil) != nil {
		t.Fatal("KVOf")
	}
}

func TestKVSetErrors(t *testing.T) {
	tests := []struct{ name, src, want string }{
		{"function value", `pbx.kv_set("f", print)`, "bad argument #2"},
		{"negative ttl", `pbx.kv_set("k", 1, -1)`, "ttl_seconds"},
		{"no key", `pbx.kv_set(nil, 1)`, "bad argument #1"},
		{"cycle", `local t = {} t.self = t pbx.kv_set("t", t)`, "nested deeper"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadSource("k.lua", tc.src, Options{})
			if err == nil || !contains(err.Error(), tc.want) || !contains(err.Error(), "k.lua:1:") {
				t.Fatalf("err = %v, want k.lua:1: ... %s", err, tc.want)
			}
		})
	}
	full := NewKV(1)
	_, err := LoadSource("k.lua", `assert(pbx.kv_set("a", 1)) local ok, err = pbx.kv_set("b", 2) assert(ok == nil and err == "kv store full", err)`, Options{KV: full})
	if err != nil {
		t.Fatal(err)
	}
}
