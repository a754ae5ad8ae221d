package luaapi

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"luapbx/engine"
	"luapbx/engine/routing"
)

// shippedDir is the default dial plan's scripts folder.
const shippedDir = "../scripts"

// fakeCRM plays the CRM, the on-call service and the webhook receiver.
type fakeCRM struct {
	srv      *httptest.Server
	lookups  atomic.Int64
	status   atomic.Int64 // forced status for lookups; 0: normal
	delay    atomic.Int64 // ns before answering a lookup
	mu       sync.Mutex
	managers map[string]string
	hooks    []map[string]any
}

func newFakeCRM(t testing.TB) *fakeCRM {
	f := &fakeCRM{managers: map[string]string{"+390612345678": "202", "0612345678": "203", "0699": "204"}}
	mux := http.NewServeMux()
	mux.HandleFunc("/crm/lookup", func(w http.ResponseWriter, r *http.Request) {
		f.lookups.Add(1)
		if d := time.Duration(f.delay.Load()); d > 0 {
			select {
			case <-time.After(d):
			case <-r.Context().Done():
				return
			}
		}
		if s := f.status.Load(); s != 0 {
			w.WriteHeader(int(s))
			return
		}
		f.mu.Lock()
		m, ok := f.managers[r.URL.Query().Get("number")]
		f.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		if m == "204" { // a CRM that sends the extension as a JSON number
			io.WriteString(w, `{"account_manager": 204}`)
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"account_manager": m, "name": "Some Customer"})
	})
	mux.HandleFunc("/oncall", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"number": "3470000001"}`)
	})
	mux.HandleFunc("/hooks/call-end", func(w http.ResponseWriter, r *http.Request) {
		var v map[string]any
		if err := json.NewDecoder(r.Body).Decode(&v); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		f.hooks = append(f.hooks, v)
		f.mu.Unlock()
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

// loadShipped loads the shipped scripts with the kv pointing them at f.
func loadShipped(t testing.TB, f *fakeCRM, opts Options) *Program {
	t.Helper()
	kv := NewKV(0)
	if f != nil {
		for key, path := range map[string]string{"crm_url": "/crm/lookup", "oncall_url": "/oncall", "webhook_url": "/hooks/call-end"} {
			kv.Set(key, f.srv.URL+path, 0, time.Now())
		}
	}
	// Generous HTTP and hook budgets: these tests are about behaviour, and
	// the machine may be loaded (the budget tests set their own).
	kv.Set("crm_timeout_ms", 2000.0, 0, time.Now())
	kv.Set("oncall_timeout_ms", 2000.0, 0, time.Now())
	if opts.Timeout == 0 {
		opts.Timeout = testTimeout
	}
	opts.KV = kv
	p, err := Load(shippedDir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// closedURL is a loopback URL nobody listens on.
func closedURL(t testing.TB) string {
	srv := httptest.NewServer(http.NotFoundHandler())
	u := srv.URL
	srv.Close()
	return u
}

func toFloat(v any) float64 {
	switch v := v.(type) {
	case float64:
		return v
	case string:
		f, _ := strconv.ParseFloat(v, 64)
		return f
	}
	return 0
}

func externalCall(from string) *routing.Call {
	return &routing.Call{ID: "x", Company: "acme", CallerType: routing.External, From: from,
		To: "0733811720", DID: "0733811720", Trunk: "p1", Time: testTime}
}

func ivrDecision() *routing.Decision {
	return &routing.Decision{Target: routing.Target{Kind: routing.TargetIVR, Arg: "main"}, Number: "0733811720", Rule: "main-number"}
}

func TestShippedScriptsLoad(t *testing.T) {
	p := loadShipped(t, nil, Options{})
	hooks := p.Hooks()
	for _, h := range []string{"on_route", "on_offhours", "on_event"} {
		if hooks[h] == "" {
			t.Errorf("shipped scripts define no %s", h)
		}
	}
	for _, name := range []string{"crm.lua", "offhours.lua", "webhook.lua"} {
		src, err := os.ReadFile(filepath.Join(shippedDir, name))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(src), `"http://127.0.0.1:`) {
			t.Errorf("%s: the default URL must stay on 127.0.0.1", name)
		}
	}
}

// TestShippedOutOfTheBox: with no CRM running, every hook keeps the
// built-in decision at once and reports no error.
func TestShippedOutOfTheBox(t *testing.T) {
	kv := NewKV(0)
	down := closedURL(t)
	for _, key := range []string{"crm_url", "oncall_url", "webhook_url"} {
		kv.Set(key, down, 0, time.Now())
	}
	p, err := Load(shippedDir, Options{KV: kv, Timeout: testTimeout})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	start := time.Now()
	for i := range 20 {
		ch, err := p.Route(externalCall("0612345678"), ivrDecision())
		if err != nil || !ch.Empty() {
			t.Fatalf("call %d: %+v %v", i, ch, err)
		}
		ch, err = p.Offhours(externalCall("0612345678"), ivrDecision())
		if err != nil || !ch.Empty() {
			t.Fatalf("offhours %d: %+v %v", i, ch, err)
		}
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("40 hooks with the CRM down took %v", took)
	}
	p.Emit(engine.Event{Type: "call.end", CallID: "x"})
	p.Close()
	if s := p.Stats(); s.Errors != 0 || s.EventErrors != 0 || s.Events != 1 {
		t.Fatalf("stats = %+v", s)
	}
}

func TestShippedCRM(t *testing.T) {
	tests := []struct {
		name, from, target string
		ct                 routing.CallerType
		decision           *routing.Decision
		lookups            int64
	}{
		{"known caller to account manager", "+390612345678", "user:202", routing.External, ivrDecision(), 1},
		{"other known caller", "0612345678", "user:203", routing.External, ivrDecision(), 1},
		{"manager as a JSON number", "0699", "user:204", routing.External, ivrDecision(), 1},
		{"unknown caller keeps", "0599999999", "", routing.External, ivrDecision(), 1},
		{"internal caller skips the CRM", "201", "", routing.Internal, ivrDecision(), 0},
		{"voicemail decision skips the CRM", "+390612345678", "", routing.External,
			&routing.Decision{Target: routing.Target{Kind: routing.TargetVoicemail, Arg: "201"}}, 0},
		{"VIP rings the group without the CRM", "+39 02 0000 0001", "group:600", routing.External, ivrDecision(), 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeCRM(t)
			p := loadShipped(t, f, Options{})
			call := externalCall(tc.from)
			call.CallerType = tc.ct
			for i := range 3 { // the answer is cached: one lookup
				ch, err := p.Route(call, tc.decision)
				if err != nil || ch.Target != tc.target {
					t.Fatalf("call %d: %+v %v, want target %q", i, ch, err, tc.target)
				}
			}
			if n := f.lookups.Load(); n != tc.lookups {
				t.Fatalf("lookups = %d, want %d", n, tc.lookups)
			}
		})
	}
}

func TestShippedCRMFailures(t *testing.T) {
	t.Run("500 then left alone", func(t *testing.T) {
		f := newFakeCRM(t)
		f.status.Store(500)
		p := loadShipped(t, f, Options{})
		for range 3 {
			if ch, err := p.Route(externalCall("+390612345678"), ivrDecision()); err != nil || !ch.Empty() {
				t.Fatalf("%+v %v", ch, err)
			}
		}
		if n := f.lookups.Load(); n != 1 {
			t.Fatalf("lookups = %d, want 1 (then CRM_RETRY_SECONDS of rest)", n)
		}
	})
	t.Run("slow CRM within the default budget", func(t *testing.T) {
		f := newFakeCRM(t)
		f.delay.Store(int64(2 * time.Second))
		p := loadShipped(t, f, Options{Timeout: DefaultTimeout})
		start := time.Now()
		ch, _ := p.Route(externalCall("+390612345678"), ivrDecision())
		if !ch.Empty() {
			t.Fatalf("slow CRM changed the decision: %+v", ch)
		}
		if took := time.Since(start); took > time.Second {
			t.Fatalf("took %v", took)
		}
	})
	t.Run("slow CRM with a roomy budget is no error", func(t *testing.T) {
		f := newFakeCRM(t)
		f.delay.Store(int64(300 * time.Millisecond))
		p := loadShipped(t, f, Options{Timeout: time.Second})
		p.KV().Set("crm_timeout_ms", nil, 0, time.Now()) // the shipped 120 ms
		ch, err := p.Route(externalCall("+390612345678"), ivrDecision())
		if err != nil || !ch.Empty() {
			t.Fatalf("%+v %v: the shipped HTTP timeout must end the lookup", ch, err)
		}
	})
}

func TestShippedOffhours(t *testing.T) {
	f := newFakeCRM(t)
	p := loadShipped(t, f, Options{})
	d := &routing.Decision{Target: routing.Target{Kind: routing.TargetVoicemail, Arg: "201"}, Number: "0733811720", Offhours: "night"}
	ch, err := p.Offhours(externalCall("0612345678"), d)
	if err != nil || ch.Target != "gateway:p1" || ch.Number != "3470000001" {
		t.Fatalf("%+v %v", ch, err)
	}
	// Kept with kv_set: a changed number wins without asking the service,
	// even one stored as a Lua number.
	for _, v := range []any{"3470000002", 3470000003.0} {
		p.KV().Set("oncall", v, 0, time.Now())
		if ch, err := p.Offhours(externalCall("0612345678"), d); err != nil || ch.Number != fmt.Sprintf("%.0f", toFloat(v)) {
			t.Fatalf("%+v %v: want the kv number %v", ch, err, v)
		}
	}
}

func TestShippedWebhook(t *testing.T) {
	f := newFakeCRM(t)
	p := loadShipped(t, f, Options{})
	p.Emit(engine.Event{Type: "call.start", CallID: "c1"})
	p.Emit(engine.Event{Type: "call.end", CallID: "c1", Time: testTime,
		Data: map[string]any{"from": "0612345678", "to": "0733811720", "duration": 42}})
	p.Close()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.hooks) != 1 {
		t.Fatalf("webhooks = %v, want one (call.end only)", f.hooks)
	}
	h := f.hooks[0]
	data, _ := h["data"].(map[string]any)
	if h["event"] != "call.end" || h["call_id"] != "c1" || h["time"] != "2026-11-23T10:00:00+00:00" ||
		data["from"] != "0612345678" || data["duration"] != 42.0 {
		t.Fatalf("webhook = %v", h)
	}
}
