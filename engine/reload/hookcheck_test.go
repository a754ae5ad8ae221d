package reload

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"luapbx/engine"
	"luapbx/engine/config"
	"luapbx/engine/routing"
)

// errPolicy is a Policy whose hooks fail for the calls fail picks.
type errPolicy struct {
	route, mapErr error
	fail          func(call *routing.Call) bool // nil: every call
}

func (p *errPolicy) fails(c *routing.Call) bool { return p.fail == nil || p.fail(c) }

func (p *errPolicy) Offhours(*routing.Call, *routing.Decision) (routing.Change, error) {
	return routing.Change{}, nil
}
func (p *errPolicy) Map(c *routing.Call, n, _ string) (string, error) {
	if p.mapErr != nil && p.fails(c) {
		return "", p.mapErr
	}
	return n, nil
}
func (p *errPolicy) Route(c *routing.Call, _ *routing.Decision) (routing.Change, error) {
	if p.route != nil && p.fails(c) {
		return routing.Change{}, p.route
	}
	return routing.Change{}, nil
}
func (p *errPolicy) Emit(engine.Event) {}
func (p *errPolicy) Close()            {}

// testedPlan is plan() with three tests of 555 and one of the 4444 map.
func testedPlan() string {
	return plan("user:201") + `      - {name: short, called: "^$4444", action: map, map: {to: "555"}}
tests:
  - {name: a, company: acme, from: "201", to: "555", at: "2026-11-23T10:00", expect: {target: "user:201"}}
  - {name: b, company: acme, from: "202", to: "555", at: "2026-11-23T10:00", expect: {target: "user:201"}}
  - {name: c, company: acme, from: "202", to: "4444", at: "2026-11-23T10:00", expect: {target: "user:201"}}
`
}

func loadTested(t *testing.T) (*config.Config, *routing.Router) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pbx.yaml")
	if err := os.WriteFile(path, []byte(testedPlan()), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	r, err := cfg.Router(1)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, r
}

func TestRunTestsHookWarnings(t *testing.T) {
	nilIndex := errors.New("20-route.lua:4: attempt to index a nil value")
	timeout := errors.New("20-route.lua:2: on_route ran past its 200ms budget (stopped here)")
	from201 := func(c *routing.Call) bool { return c.From == "201" }
	tests := []struct {
		name  string
		hooks routing.Hooks
		want  []string
	}{
		{"no scripts", nil, nil},
		{"hooks that work", &errPolicy{}, nil},
		{"on_route fails in every call", &errPolicy{route: nilIndex},
			[]string{"on_route failed in 3 of 3 test calls: 20-route.lua:4: attempt to index a nil value; live calls keep the built-in decision"}},
		{"on_route times out in every call", &errPolicy{route: timeout},
			[]string{"on_route failed in 3 of 3 test calls: 20-route.lua:2: on_route ran past its 200ms budget (stopped here); live calls wait out the budget"}},
		{"on_route fails for one caller", &errPolicy{route: nilIndex, fail: from201},
			[]string{"on_route failed in 1 of 3 test calls: 20-route.lua:4:"}},
		{"on_map fails in the one call that maps", &errPolicy{mapErr: errors.New("10-map.lua:7: boom")},
			[]string{"on_map failed in 1 of 1 test calls: 10-map.lua:7: boom"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, r := loadTested(t)
			results, warnings := RunTests(cfg, r, tc.hooks)
			if n := config.Failures(results); n != 0 || len(results) != 3 {
				t.Fatalf("%d of %d tests failed, want 0 of 3", n, len(results))
			}
			if len(warnings) != len(tc.want) {
				t.Fatalf("warnings %q, want %d like %q", warnings, len(tc.want), tc.want)
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(warnings[i], w) {
					t.Errorf("warning %q, want it to start with %q", warnings[i], w)
				}
			}
		})
	}
}

// A hook that fails in every test call does not refuse the reload, but
// the reload says so: status, log line at WARN, snapshot.
func TestReloadReportsHookFailures(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pbx.yaml")
	if err := os.WriteFile(path, []byte(testedPlan()), 0o644); err != nil {
		t.Fatal(err)
	}
	var broken sync.Mutex // guards fail
	fail := false
	loader := func(*config.Config, *routing.Router, engine.Policy) (engine.Policy, error) {
		broken.Lock()
		defer broken.Unlock()
		if fail {
			return &errPolicy{route: errors.New("20-route.lua:4: attempt to index a nil value")}, nil
		}
		return &errPolicy{}, nil
	}
	log, logs := captureLog()
	mgr, err := NewManager(log, path, loader)
	if err != nil {
		t.Fatal(err)
	}
	defer mgr.Close()
	if st := mgr.Status(); st.Warnings == nil || len(st.Warnings) != 0 {
		t.Fatalf("warnings %#v at start with working hooks, want []", st.Warnings)
	}

	broken.Lock()
	fail = true
	broken.Unlock()
	if err := mgr.Reload("test"); err != nil {
		t.Fatalf("a hook failing in the tests refused the reload: %v", err)
	}
	st := mgr.Status()
	if st.Generation != 2 || st.LastError != "" {
		t.Fatalf("status %+v, want generation 2 without error", st)
	}
	want := "on_route failed in 3 of 3 test calls: 20-route.lua:4: attempt to index a nil value"
	if len(st.Warnings) != 1 || !strings.HasPrefix(st.Warnings[0], want) {
		t.Errorf("status warnings %q, want one starting %q", st.Warnings, want)
	}
	if w := mgr.Current().Warnings; len(w) != 1 {
		t.Errorf("snapshot warnings %q, want 1", w)
	}
	if out := logs(); !strings.Contains(out, `level=WARN msg=reloaded`) || !strings.Contains(out, want) {
		t.Errorf("no WARN reloaded line with the warning in:\n%s", out)
	}

	broken.Lock()
	fail = false
	broken.Unlock()
	if err := mgr.Reload("fixed"); err != nil {
		t.Fatal(err)
	}
	if w := mgr.Status().Warnings; len(w) != 0 {
		t.Errorf("warnings %q after the hook was fixed, want none", w)
	}
}

// captureLog returns a logger and a function reading what it wrote.
func captureLog() (*slog.Logger, func() string) {
	var mu sync.Mutex
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return buf.Write(p)
	}), nil))
	return log, func() string {
		mu.Lock()
		defer mu.Unlock()
		return buf.String()
	}
}
