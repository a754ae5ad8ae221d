package luaapi

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"luapbx/engine"
)

// exampleHost is the host the reference's examples call; the test points
// it at a local server.
const exampleHost = "http://127.0.0.1:8089"

// referenceServer answers the examples' requests: /echo describes the
// request, /slow waits, /crm/lookup knows every caller.
func referenceServer(t *testing.T) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{
			"method": r.Method, "path": r.URL.Path, "query": r.URL.RawQuery, "body": string(body),
		})
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(time.Second):
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/crm/lookup", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"account_manager": "201"}`)
	})
	mux.HandleFunc("/hooks/", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

var luaBlock = regexp.MustCompile("(?s)```lua\n(.*?)```")

func referenceBlocks(t *testing.T) []string {
	doc, err := os.ReadFile("REFERENCE.md")
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	for _, m := range luaBlock.FindAllStringSubmatch(string(doc), -1) {
		blocks = append(blocks, m[1])
	}
	if len(blocks) < 20 {
		t.Fatalf("found %d lua blocks in REFERENCE.md", len(blocks))
	}
	return blocks
}

var expectError = regexp.MustCompile(`-- expect error: (.*)`)

// TestReference runs every ```lua block of REFERENCE.md: its top-level code
// at load, then each hook it defines with a fake call and decision. A block
// with "-- expect error: text" must fail with text; every other must not
// fail at all.
func TestReference(t *testing.T) {
	srv := referenceServer(t)
	for i, block := range referenceBlocks(t) {
		first, _, _ := strings.Cut(strings.TrimSpace(block), "\n")
		t.Run(first, func(t *testing.T) {
			src := strings.ReplaceAll(block, exampleHost, srv.URL)
			log, buf := bufLogger()
			p, err := LoadSource("REFERENCE.md#"+strconv.Itoa(i+1), src, Options{Timeout: time.Second, Logger: log})
			if err != nil {
				t.Fatalf("block %d: %v\n%s", i+1, err, block)
			}
			var errs []string
			if _, err := p.Route(testCall(), testDecision()); err != nil {
				errs = append(errs, err.Error())
			}
			if _, err := p.Offhours(testCall(), testDecision()); err != nil {
				errs = append(errs, err.Error())
			}
			if _, err := p.Map(testCall(), "3471234567", "short-4444"); err != nil {
				errs = append(errs, err.Error())
			}
			for _, ev := range referenceEvents {
				p.Emit(ev)
			}
			p.Close()
			if s := p.Stats(); s.EventErrors != 0 {
				errs = append(errs, "on_event: "+buf.String())
			}
			joined := strings.Join(errs, "\n")
			if m := expectError.FindStringSubmatch(block); m != nil {
				if !strings.Contains(joined, m[1]) {
					t.Fatalf("block %d: errors %q, want %q", i+1, joined, m[1])
				}
				return
			}
			if joined != "" {
				t.Fatalf("block %d failed:\n%s\n%s", i+1, joined, block)
			}
		})
	}
}

// referenceEvents are events shaped as the engine emits them (see "Event
// data by type" in REFERENCE.md), for the on_event examples.
var referenceEvents = []engine.Event{
	{Type: "call.end", Time: testTime.Add(1500 * time.Millisecond), CallID: "c1", Data: map[string]any{
		"from": "0612345678", "to": "0733811720", "company": "acme", "caller_type": "external",
		"extension": "", "trunk": "p1", "generation": int64(3), "integration": true, "record": true,
		"duration_ms": int64(42000), "answered_ms": int64(40000), "disposition": "answered",
		"hangup_by": "caller", "hangup_cause": "normal", "sip_code": 200, "target": "user:201",
		"number": "201", "rule": "did-root",
	}},
	{Type: "registration", Time: testTime, Data: map[string]any{
		"change": "register", "extension": "201", "contact": "sip:201@192.0.2.10:5060",
		"source": "192.0.2.10:5060", "user_agent": "",
	}},
	{Type: "recording.done", Time: testTime, CallID: "c1", Data: map[string]any{
		"path": "/var/lib/luapbx/recordings/c1.wav", "sidecar": "/var/lib/luapbx/recordings/c1.json",
		"duration_seconds": 40.02,
	}},
}

// TestReferenceCoverage: every hook, field and module function appears in
// at least one example.
func TestReferenceCoverage(t *testing.T) {
	all := strings.Join(referenceBlocks(t), "\n")
	var want []string
	for _, h := range hookNames {
		want = append(want, "function "+h+"(")
	}
	for mod, fns := range moduleFuncs {
		for _, fn := range fns {
			want = append(want, mod+"."+fn)
		}
	}
	for _, f := range []string{"id", "from", "to", "did", "trunk", "company", "caller_type", "extension", "time", "time_iso", "header"} {
		want = append(want, "call."+f)
	}
	for _, f := range []string{"target", "number", "rule", "record", "integration", "offhours", "source", "score"} {
		want = append(want, "decision."+f)
	}
	for _, f := range []string{"type", "time", "time_ms", "time_iso", "call_id", "data"} {
		want = append(want, "ev."+f)
	}
	want = append(want, "call:header(", "http.request{")
	for _, w := range want {
		if !strings.Contains(all, w) {
			t.Errorf("no example uses %q", w)
		}
	}
}
