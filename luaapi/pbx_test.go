package luaapi

import (
	"luapbx/engine/routing"
	"strings"
	"testing"
	"time"
)

func TestPbxLog(t *testing.T) {
	tests := []struct{ name, src, want string }{
		{"default info", `pbx.log("hello", 42, true, nil)`, `level=INFO msg="hello 42 true nil" script=l.lua line=1`},
		{"level", "\npbx.log('warn', 'crm', 'slow')", `level=WARN msg="crm slow" script=l.lua line=2`},
		{"level word alone", `pbx.log("error")`, `level=INFO msg=error`},
		{"debug", `pbx.log("DEBUG", "x")`, `level=DEBUG msg=x`},
		{"print", `print("a", "b")`, `level=INFO msg="a b" script=l.lua line=1`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			log, buf := bufLogger()
			if _, err := LoadSource("l.lua", tc.src, Options{Logger: log}); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(buf.String(), tc.want) {
				t.Fatalf("log = %q, want %q", buf.String(), tc.want)
			}
		})
	}
}

func TestPbxNow(t *testing.T) {
	at := time.Date(2026, 11, 23, 10, 0, 0, 250e6, time.UTC)
	src := `assert(pbx.now() == 1795428000.25, string.format("%.3f", pbx.now()))`
	if _, err := LoadSource("n.lua", src, Options{Now: func() time.Time { return at }}); err != nil {
		t.Fatal(err)
	}
}

func TestOptionsEvents(t *testing.T) {
	for _, mode := range []string{"", EventsIntegration, EventsAll} {
		if _, err := LoadSource("e.lua", "", Options{Events: mode}); err != nil {
			t.Errorf("%q: %v", mode, err)
		}
	}
	if _, err := LoadSource("e.lua", "", Options{Events: "some"}); err == nil {
		t.Error("events: some: want an error")
	}
}

// Inside a hook for a call, script log lines carry its call_id; at load
// time, outside any call, they do not.
func TestPbxLogCallID(t *testing.T) {
	log, buf := bufLogger()
	p := load(t, map[string]string{"r.lua": "pbx.log('loaded')\nfunction on_route(call, d)\n  pbx.log('routing', call.to)\nend\n"},
		Options{Logger: log})
	c := testCall()
	if _, err := p.Route(c, testDecision()); err != nil {
		t.Fatal(err)
	}
	// Top-level code logs once per state built, and the pool builds spare
	// states in the background: count the lines by message.
	var loaded, routing []string
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		switch {
		case strings.Contains(line, "msg=loaded"):
			loaded = append(loaded, line)
		case strings.Contains(line, "routing"):
			routing = append(routing, line)
		}
	}
	if len(loaded) == 0 || len(routing) != 1 {
		t.Fatalf("log lines: loaded %q, routing %q", loaded, routing)
	}
	for _, line := range loaded {
		if strings.Contains(line, "call_id=") {
			t.Errorf("load-time line has a call id: %s", line)
		}
	}
	if want := "call_id=" + c.ID; !strings.Contains(routing[0], want) || !strings.Contains(routing[0], "line=3") {
		t.Errorf("hook line %q, want %s and line=3", routing[0], want)
	}
}

// A plan test's call (Test) sees call.test, a kv store of its own, and
// logs at debug level; a live call sees none of what the test wrote.
func TestTestCallsAreIsolated(t *testing.T) {
	log, buf := bufLogger()
	p := load(t, map[string]string{"r.lua": `
function on_route(call, d)
  pbx.log("warn", "seen", call.test and "test" or "live", pbx.kv_get("mark") or "none")
  pbx.kv_set("mark", call.test and "from-test" or "from-live")
end
`}, Options{Logger: log})
	test := testCall()
	test.ID, test.Test = "test-1", true
	live := testCall()
	for _, c := range []*routing.Call{test, live, test, live} {
		if _, err := p.Route(c, testDecision()); err != nil {
			t.Fatal(err)
		}
	}
	out := buf.String()
	for _, want := range []string{
		`level=DEBUG msg="seen test none"`, `level=WARN msg="seen live none"`,
		`level=DEBUG msg="seen test from-test"`, `level=WARN msg="seen live from-live"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}
