package reload

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"luapbx/engine"
	"luapbx/engine/config"
	"luapbx/engine/routing"
)

// fakePolicy is a Policy whose on_route can be made to block.
type fakePolicy struct {
	block  chan struct{} // nil: never blocks
	inHook chan struct{}
	closed atomic.Bool
}

func (p *fakePolicy) Offhours(*routing.Call, *routing.Decision) (routing.Change, error) {
	return routing.Change{}, nil
}
func (p *fakePolicy) Map(_ *routing.Call, n, _ string) (string, error) { return n, nil }
func (p *fakePolicy) Route(*routing.Call, *routing.Decision) (routing.Change, error) {
	if p.block != nil {
		close(p.inHook)
		<-p.block
	}
	return routing.Change{}, nil
}
func (p *fakePolicy) Emit(engine.Event) {}
func (p *fakePolicy) Close()            { p.closed.Store(true) }

var _ engine.Policy = (*fakePolicy)(nil)

func plan(target string) string {
	return `listen: {sip: ["udp:127.0.0.1:0"], http: "127.0.0.1:0"}
companies:
  - id: acme
    timezone: Europe/Rome
    extensions:
      - {number: "201", password: "a-long-passphrase-201"}
      - {number: "202", password: "a-long-passphrase-202"}
    rules:
      - {name: five, called: "^$555", action: route, target: "` + target + `"}
`
}

func writePlan(t *testing.T, path, target string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(plan(target)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// A decision in progress keeps its snapshot while a reload happens, and the
// old snapshot's scripts are closed only when its last call releases it.
func TestDecisionKeepsSnapshotAcrossReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pbx.yaml")
	writePlan(t, path, "user:201")
	first := &fakePolicy{block: make(chan struct{}), inHook: make(chan struct{})}
	loads := 0
	loader := func(*config.Config, *routing.Router, engine.Policy) (engine.Policy, error) {
		loads++
		if loads == 1 {
			return first, nil
		}
		return &fakePolicy{}, nil
	}
	mgr, err := NewManager(slog.New(slog.NewTextHandler(io.Discard, nil)), path, loader)
	if err != nil {
		t.Fatal(err)
	}
	defer mgr.Close()

	s1 := mgr.Acquire()
	result := make(chan routing.Decision, 1)
	go func() {
		call := routing.Call{From: "201", To: "555", Time: time.Now()}
		if err := s1.Router.Classify(&call, ""); err != nil {
			t.Error(err)
		}
		result <- s1.Router.Decide(&call, s1.Hooks(), nil)
	}()
	<-first.inHook

	writePlan(t, path, "user:202")
	if err := mgr.Reload("test"); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if g := mgr.Current().Gen; g != 2 {
		t.Fatalf("generation %d after reload, want 2", g)
	}
	close(first.block)
	d := <-result
	if d.Target.String() != "user:201" {
		t.Errorf("decision in progress got %s, want user:201 from the snapshot it started with", d.Target)
	}
	if first.closed.Load() {
		t.Errorf("old scripts closed while a call still holds their snapshot")
	}
	s1.Release()
	if !first.closed.Load() {
		t.Errorf("old scripts not closed after the last call released them")
	}
	s2 := mgr.Acquire()
	defer s2.Release()
	call := routing.Call{From: "201", To: "555", Time: time.Now()}
	_ = s2.Router.Classify(&call, "")
	if d := s2.Router.Decide(&call, s2.Hooks(), nil); d.Target.String() != "user:202" {
		t.Errorf("new call got %s, want user:202", d.Target)
	}
}

func TestFailedReloadKeepsGeneration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pbx.yaml")
	writePlan(t, path, "user:201")
	mgr, err := NewManager(slog.New(slog.NewTextHandler(io.Discard, nil)), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer mgr.Close()
	writePlan(t, path, "user:999")
	err = mgr.Reload("test")
	if err == nil {
		t.Fatal("reload of a plan naming a missing extension succeeded")
	}
	if !strings.Contains(err.Error(), "pbx.yaml:") {
		t.Errorf("error %q does not name file:line", err)
	}
	st := mgr.Status()
	if st.Generation != 1 || st.LastError == "" || st.Failures != 1 {
		t.Errorf("status %+v, want generation 1 kept with the error reported", st)
	}
}

// What check warns about is logged at start and at every reload.
func TestWarningsAreLogged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pbx.yaml")
	writePlan(t, path, "user:201")
	var buf bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return buf.Write(p)
	}), nil))
	mgr, err := NewManager(log, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer mgr.Close()
	weak := strings.Replace(plan("user:201"), `password: "a-long-passphrase-202"`, `password: "202"`, 1)
	if err := os.WriteFile(path, []byte(weak), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := mgr.Reload("test"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	if n := strings.Count(out, `msg="plan warning"`); n != 1 || !strings.Contains(out, "gen=2") || !strings.Contains(out, "weak password for extension 202") {
		t.Errorf("want one warning for generation 2 about 202's password, got:\n%s", out)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
