package tests

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"luapbx/tests/harness"
)

// warnPlan is a plan with two tests of 555 (one through the 4444 map);
// extra is spliced in before `companies:` and listen/storage are editable.
func warnPlan(listen, storage, extra string) string {
	return fmt.Sprintf(`listen: {%s, rtp_ports: "33100-33199"}
storage: {%s}
scripts: {timeout_ms: 50}
%s
companies:
  - id: acme
    timezone: Europe/Rome
    extensions:
      - {number: "201", password: "a-long-passphrase-201"}
      - {number: "202", password: "a-long-passphrase-202"}
    rules:
      - {name: short, called: "^$4444", action: map, map: {to: "555"}}
      - {name: five, called: "^$555", action: route, target: "user:201"}
tests:
  - {name: direct, company: acme, from: "201", to: "555", at: "2026-11-23T10:00", expect: {target: "user:201"}}
  - {name: mapped, company: acme, from: "202", to: "4444", at: "2026-11-23T10:00", expect: {target: "user:201"}}
`, listen, storage, extra)
}

const (
	warnListen  = `sip: ["udp:127.0.0.1:0"], http: "127.0.0.1:0"`
	warnStorage = `cdr: "sqlite:var/cdr.db"`
)

// fullStatus is GET /api/reload with its warnings.
type fullStatus struct {
	Generation uint64   `json:"generation"`
	LastError  string   `json:"last_error"`
	Warnings   []string `json:"warnings"`
}

func fullReloadStatus(t *testing.T, base, token string) fullStatus {
	t.Helper()
	code, body := fetch(t, base+"/api/reload", token)
	if code != 200 {
		t.Fatalf("GET /api/reload: %d %s", code, body)
	}
	var st fullStatus
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// startWatched starts the PBX and waits until its file watcher runs.
func startWatched(t *testing.T, dir string) *harness.Server {
	t.Helper()
	srv := harness.Start(t, dir, "pbx.yaml")
	srv.WaitLog(t, "watching for changes", 5*time.Second)
	return srv
}

// reloadTo writes the files and waits for the generation after gen.
func reloadTo(t *testing.T, srv *harness.Server, dir, token string, gen uint64, files map[string]string) fullStatus {
	t.Helper()
	for name, content := range files {
		harness.WriteFile(t, dir, name, content)
	}
	base := "http://" + srv.HTTP
	var st fullStatus
	waitFor(t, 5*time.Second, "reload", func() bool {
		st = fullReloadStatus(t, base, token)
		return st.Generation > gen && st.LastError == ""
	})
	return st
}

// Item 1: a hook that fails in every test call passes the reload, but the
// reload says so everywhere: /api/reload, the WARN log line, the dashboard;
// and `luapbx check` sums it up.
func TestReloadWarnsAboutFailingHooks(t *testing.T) {
	dir := t.TempDir()
	harness.WriteFile(t, dir, "pbx.yaml", warnPlan(warnListen, warnStorage, ""))
	harness.WriteFile(t, dir, "20-route.lua", "function on_route(call, decision) return nil end\n")
	harness.WriteFile(t, dir, "30-event.lua", `function on_event(ev)
  if ev.type == "reload" and ev.data.warnings then
    pbx.log("reload event warnings:", #ev.data.warnings, ev.data.warnings[1])
  end
end
`)
	srv := startWatched(t, dir)
	base := "http://" + srv.HTTP
	st := fullReloadStatus(t, base, "")
	if st.Warnings == nil || len(st.Warnings) != 0 {
		t.Fatalf("warnings %#v with a working hook, want []", st.Warnings)
	}

	broken := "function on_route(call, decision)\n  local crm = nil\n  return crm.account\nend\n"
	st = reloadTo(t, srv, dir, "", st.Generation, map[string]string{"20-route.lua": broken})
	want := "on_route failed in 2 of 2 test calls: "
	if len(st.Warnings) != 1 || !strings.HasPrefix(st.Warnings[0], want) || !strings.Contains(st.Warnings[0], "20-route.lua:3:") {
		t.Fatalf("warnings %q, want one starting %q at 20-route.lua:3", st.Warnings, want)
	}
	srv.WaitLog(t, `level=WARN msg=reloaded`, 3*time.Second)
	if !strings.Contains(srv.Logs(), want) {
		t.Errorf("the WARN reloaded line does not carry the warning")
	}
	srv.WaitLog(t, "reload event warnings: 1 "+want, 3*time.Second)
	_, page := fetch(t, base+"/", "")
	if !strings.Contains(page, `class="alert warn"`) || !strings.Contains(page, want) {
		t.Errorf("dashboard shows no warning banner with %q", want)
	}

	t.Run("check sums it up", func(t *testing.T) {
		for _, tc := range []struct{ name, script, detail string }{
			{"nil index", broken, "20-route.lua:3:"},
			{"endless loop", "function on_route(call, decision)\n  while true do end\nend\n", "ran past its 50ms budget"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				harness.WriteFile(t, dir, "20-route.lua", tc.script)
				code, stdout, stderr := harness.Run(t, dir, "check", "--config", "pbx.yaml")
				if code != 0 {
					t.Fatalf("check exit %d (a hook failing in the tests warns, it does not fail):\n%s%s", code, stdout, stderr)
				}
				if !strings.Contains(stdout, "2 tests passed, but on_route failed in 2 of 2 test calls") {
					t.Errorf("check's last line does not count the hook failures:\n%s", stdout)
				}
				if !strings.Contains(stderr, "warning: "+want) || !strings.Contains(stderr, tc.detail) {
					t.Errorf("check's stderr lacks the summary warning with %q:\n%s", tc.detail, stderr)
				}
			})
		}
	})
}

// Item 2a: admin.token set by a reload is required at once, and rotating
// it refuses the old one.
func TestReloadAdminTokenLive(t *testing.T) {
	dir := t.TempDir()
	harness.WriteFile(t, dir, "pbx.yaml", warnPlan(warnListen, warnStorage, ""))
	srv := startWatched(t, dir)
	base := "http://" + srv.HTTP
	if code, body := fetch(t, base+"/api/calls", ""); code != 200 {
		t.Fatalf("no token set: /api/calls %d %s", code, body)
	}
	gen := fullReloadStatus(t, base, "").Generation

	const first, second = "first-admin-token-0001", "second-admin-token-0002"
	harness.WriteFile(t, dir, "pbx.yaml", warnPlan(warnListen, warnStorage, `admin: {token: "`+first+`"}`))
	waitFor(t, 5*time.Second, "token required", func() bool {
		code, _ := fetch(t, base+"/api/calls", "")
		return code == http.StatusUnauthorized
	})
	st := fullReloadStatus(t, base, first)
	if st.Generation != gen+1 {
		t.Errorf("generation %d, want %d", st.Generation, gen+1)
	}
	for _, w := range st.Warnings {
		if strings.Contains(w, "admin") {
			t.Errorf("admin.token is live but warned about: %q", w)
		}
	}
	steps := []struct {
		name, token string
		code        int
	}{
		{"right token", first, 200},
		{"wrong token", "nope", 401},
	}
	for _, s := range steps {
		if code, body := fetch(t, base+"/api/calls", s.token); code != s.code {
			t.Errorf("%s: /api/calls %d, want %d (%s)", s.name, code, s.code, body)
		}
	}
	if code, _ := fetch(t, base+"/healthz", ""); code != 200 {
		t.Errorf("/healthz needs no token, got %d", code)
	}

	harness.WriteFile(t, dir, "pbx.yaml", warnPlan(warnListen, warnStorage, `admin: {token: "`+second+`"}`))
	waitFor(t, 5*time.Second, "token rotated", func() bool {
		code, _ := fetch(t, base+"/api/calls", first)
		return code == http.StatusUnauthorized
	})
	if code, body := fetch(t, base+"/api/calls", second); code != 200 {
		t.Errorf("rotated token: /api/calls %d %s", code, body)
	}
}

// Item 2b: settings read once at start-up are named in a WARN line and in
// the reload's warnings, and the reload still goes through.
func TestReloadWarnsAboutRestartSettings(t *testing.T) {
	dir := t.TempDir()
	harness.WriteFile(t, dir, "pbx.yaml", warnPlan(warnListen, warnStorage, ""))
	srv := startWatched(t, dir)
	base := "http://" + srv.HTTP
	gen := fullReloadStatus(t, base, "").Generation

	moved := warnPlan(`sip: ["udp:127.0.0.1:0", "tcp:127.0.0.1:0"], http: "127.0.0.1:0"`,
		`cdr: "sqlite:var/other.db", recordings: var/rec2`, "")
	st := reloadTo(t, srv, dir, "", gen, map[string]string{"pbx.yaml": moved})
	keys := []string{"listen.sip", "storage.cdr", "storage.recordings"}
	if len(st.Warnings) != len(keys) {
		t.Errorf("warnings %q, want one per key %q", st.Warnings, keys)
	}
	for _, k := range keys {
		found := false
		for _, w := range st.Warnings {
			found = found || strings.HasPrefix(w, k+" changed but takes effect only on restart")
		}
		if !found {
			t.Errorf("no warning for %s in %q", k, st.Warnings)
		}
	}
	srv.WaitLog(t, `keys=listen.sip,storage.cdr,storage.recordings`, 3*time.Second)
	if !strings.Contains(srv.Logs(), "level=WARN msg=\"reloaded settings that need a restart") {
		t.Errorf("the restart keys are not logged at WARN")
	}
	if _, page := fetch(t, base+"/", ""); !strings.Contains(page, "listen.sip changed but takes effect only on restart") {
		t.Errorf("dashboard does not show the restart warning")
	}
}

// Item 3: a reload that moves scripts.dir moves the watch: an edit in the
// new folder reloads.
func TestReloadWatchFollowsScriptsDir(t *testing.T) {
	dir := t.TempDir()
	harness.WriteFile(t, dir, "pbx.yaml", reloadPlan("user:202"))
	harness.WriteFile(t, dir, "route.lua", routeScript("user:202"))
	harness.WriteFile(t, dir, "lua2/route.lua", routeScript("user:203"))
	srv := startWatched(t, dir)
	base := "http://" + srv.HTTP
	if a := askRoute(t, base); a.Target != "user:202" {
		t.Fatalf("before: %+v, want user:202", a)
	}
	moved := strings.Replace(reloadPlan("user:203"), "companies:", "scripts: {dir: lua2}\ncompanies:", 1)
	harness.WriteFile(t, dir, "pbx.yaml", moved)
	waitFor(t, 5*time.Second, "scripts.dir moved", func() bool { return askRoute(t, base).Target == "user:203" })

	// Only the new folder's file changes: the tests say 201 now.
	harness.WriteFile(t, dir, "pbx.yaml", strings.Replace(moved, `expect: {target: "user:203"}`, `expect: {target: "user:201"}`, 1))
	waitFor(t, 5*time.Second, "test expectation edit reloaded (and failed)", func() bool { return getStatus(t, base).Failures > 0 })
	harness.WriteFile(t, dir, "lua2/route.lua", routeScript("user:201"))
	waitFor(t, 5*time.Second, "edit in the new scripts folder reloaded", func() bool {
		return askRoute(t, base).Target == "user:201"
	})
}

// Item 4: `luapbx route` shows the scripts' own log lines on stderr (stdout
// stays the decision), and --json does not escape "->".
func TestRouteShowsScriptLogs(t *testing.T) {
	dir := t.TempDir()
	harness.WriteFile(t, dir, "pbx.yaml", warnPlan(warnListen, warnStorage, ""))
	harness.WriteFile(t, dir, "20-route.lua", `function on_route(call, decision)
  pbx.log("crm lookup failed for", call.from, "(connection refused)")
  pbx.log("debug", "crm request details")
  return {target = "user:202"}
end
`)
	tests := []struct {
		name       string
		args       []string
		wantErr    []string
		notWantErr []string
		wantOut    string
	}{
		{"text", nil, []string{"level=INFO", "crm lookup failed for 201 (connection refused)", "script=20-route.lua"},
			[]string{"crm request details"}, "target user:201 -> user:202"},
		{"json", []string{"--json"}, []string{"crm lookup failed for 201"}, []string{"crm request details"}, "target user:201 -> user:202"},
		{"debug", []string{"--debug"}, []string{"crm lookup failed for 201", "level=DEBUG", "crm request details"}, nil, "source: lua"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"route", "--config", "pbx.yaml", "--from", "201", "--to", "555", "--at", "2026-11-23T10:00"}, tc.args...)
			code, stdout, stderr := harness.Run(t, dir, args...)
			if code != 0 {
				t.Fatalf("exit %d:\n%s%s", code, stdout, stderr)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			for _, w := range tc.notWantErr {
				if strings.Contains(stderr, w) {
					t.Errorf("stderr has %q:\n%s", w, stderr)
				}
			}
			if strings.Contains(stdout, "crm lookup failed") {
				t.Errorf("a script log line on stdout:\n%s", stdout)
			}
			if !strings.Contains(stdout, tc.wantOut) || strings.Contains(stdout, `\u003e`) {
				t.Errorf("stdout lacks %q (or escapes '>'):\n%s", tc.wantOut, stdout)
			}
		})
	}
}

// The admin listener does not move on reload, so a reload that would leave
// a listener off loopback without a token is refused, even when the new
// file names a loopback address (which alone would need none).
func TestReloadAdminTokenOffLoopbackKept(t *testing.T) {
	const token = "off-loopback-admin-token"
	dir := t.TempDir()
	open := `sip: ["udp:127.0.0.1:0"], http: "0.0.0.0:0"`
	harness.WriteFile(t, dir, "pbx.yaml", warnPlan(open, warnStorage, `admin: {token: "`+token+`"}`))
	srv := startWatched(t, dir)
	base := "http://" + strings.Replace(srv.HTTP, "0.0.0.0", "127.0.0.1", 1)
	before := fullReloadStatus(t, base, token)

	harness.WriteFile(t, dir, "pbx.yaml", warnPlan(warnListen, warnStorage, ""))
	var body string
	waitFor(t, 5*time.Second, "reload refused", func() bool {
		_, body = fetch(t, base+"/api/reload", token)
		return strings.Contains(body, "not a loopback address")
	})
	if st := fullReloadStatus(t, base, token); st.Generation != before.Generation {
		t.Errorf("generation %d, want %d kept", st.Generation, before.Generation)
	}
	if code, _ := fetch(t, base+"/api/calls", ""); code != http.StatusUnauthorized {
		t.Errorf("/api/calls without the token: %d, want 401", code)
	}
}
