package luaapi

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// echoServer answers /echo with the request's method, body and X-Token,
// /slow after a second, /big with 2 MB, /redirect to elsewhere.
func echoServer(t testing.TB, elsewhere string) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Reply", "yes")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, r.Method+" "+string(body)+" "+r.Header.Get("X-Token"))
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(time.Second):
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		w.Write(make([]byte, 2<<20))
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere, http.StatusFound)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestHTTP(t *testing.T) {
	srv := echoServer(t, "http://example.invalid/")
	tests := []struct{ name, src string }{
		{"get", `local r = http.get(URL .. "/echo", {["X-Token"] = "t1"})
			assert(r.status == 201 and r.body == "GET  t1" and r.headers["x-reply"] == "yes", r.body)`},
		{"post", `local r = http.post(URL .. "/echo", '{"a":1}', {["Content-Type"] = "application/json"})
			assert(r.status == 201 and r.body == 'POST {"a":1} ', r.body)`},
		{"request", `local r = http.request{method = "put", url = URL .. "/echo", body = "b", headers = {["X-Token"] = "t2"}, timeout_ms = 500}
			assert(r.status == 201 and r.body == "PUT b t2", r.body)`},
		{"request timeout", `local t0 = os.clock()
			local r, err = http.request{url = URL .. "/slow", timeout_ms = 30}
			assert(r == nil and err:find("deadline"), err)`},
		{"refused", `local r, err = http.get("http://127.0.0.1:1/") assert(r == nil and err:find("refused"), err)`},
		{"body limit", `local r, err = http.get(URL .. "/big") assert(r == nil and err:find("larger than"), err)`},
		{"bad scheme", `local r, err = http.get("file:///etc/passwd") assert(r == nil and err:find("want http"), err)`},
		{"redirect not allowed", `local r, err = http.get(URL .. "/redirect") assert(r == nil and err:find("http_allow"), err)`},
		{"not allowed", `local r, err = http.get("http://10.1.2.3/") assert(r == nil and err:find("http_allow"), err)`},
		{"unknown field", `local ok, err = pcall(http.request, {uri = "x"}) assert(not ok and err:find("unknown field"), err)`},
	}
	host := strings.TrimPrefix(srv.URL, "http://")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := "URL = " + quote(srv.URL) + "\n" + tc.src
			// A small body cap: reading the default 1 MB under -race on a
			// loaded machine could outlast the 1 s top-level budget.
			opts := Options{HTTPAllow: []string{host, "127.0.0.1:1"}, MaxBody: 64 << 10}
			if _, err := LoadSource("h.lua", src, opts); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func quote(s string) string { return `"` + s + `"` }

// TestHTTPHonoursHookBudget: a hook stuck in a slow request ends at its
// budget, not at the server's pace.
func TestHTTPHonoursHookBudget(t *testing.T) {
	srv := echoServer(t, "")
	p := load(t, map[string]string{"s.lua": "URL = " + quote(srv.URL) + `
function on_route(call, d)
  local r, err = http.get(URL .. "/slow")
  return {target = "user:202"}
end`}, Options{Timeout: 50 * time.Millisecond})
	start := time.Now()
	ch, err := p.Route(testCall(), testDecision())
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Fatalf("took %v", took)
	}
	if err == nil || !ch.Empty() {
		t.Fatalf("Route = %+v, %v; want the timeout", ch, err)
	}
}

func TestAllowList(t *testing.T) {
	a, err := parseAllow([]string{"crm.example.com", "127.0.0.1:8089", "*.corp.example", "*.api.test:8443"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		url  string
		want bool
	}{
		{"http://crm.example.com/x", true},
		{"https://CRM.example.com:9443/x", true},
		{"http://127.0.0.1:8089/", true},
		{"http://127.0.0.1:8090/", false},
		{"http://a.b.corp.example/", true},
		{"http://corp.example/", false},
		{"http://evilcorp.example/", false},
		{"https://x.api.test:8443/", true},
		{"https://x.api.test/", false},
		{"http://example.com/", false},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			u, _ := url.Parse(tc.url)
			if got := a.allows(u); got != tc.want {
				t.Fatalf("allows = %v", got)
			}
		})
	}
	if empty, _ := parseAllow(nil); !empty.allows(&url.URL{Host: "anything"}) {
		t.Fatal("empty list must allow all")
	}
}

// TestHTTPGivesSlotBack: hooks waiting on the network do not hold the
// concurrency slots, so with one slot three hooks each waiting 100 ms on a
// slow server all finish within a 150 ms budget (holding the slot, the
// third would wait 200 ms to start and be skipped as busy).
func TestHTTPGivesSlotBack(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(100 * time.Millisecond)
		io.WriteString(w, "202")
	}))
	defer srv.Close()
	p := load(t, map[string]string{"s.lua": "URL = " + quote(srv.URL) + `
function on_route(call, d)
  local r, err = http.get(URL)
  assert(r, err)
  return {target = "user:" .. r.body}
end`}, Options{Concurrency: 1, Timeout: 150 * time.Millisecond})
	var wg sync.WaitGroup
	errs := make([]error, 3)
	start := time.Now()
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ch, err := p.Route(testCall(), testDecision())
			if err == nil && ch.Target != "user:202" {
				err = fmt.Errorf("target %q", ch.Target)
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("hook %d: %v", i, err)
		}
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("took %v", took)
	}
	if len(p.sem) != 0 {
		t.Fatalf("%d slots still taken", len(p.sem))
	}
}
