package tests

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"luapbx/tests/harness"
)

// reloadPlan is a small plan whose `tests:` expect 555 to reach expect555.
func reloadPlan(expect555 string) string {
	return fmt.Sprintf(`listen: {sip: ["udp:127.0.0.1:0"], http: "127.0.0.1:0", rtp_ports: "31000-31099"}
storage: {cdr: "sqlite:var/cdr.db"}
companies:
  - id: acme
    timezone: Europe/Rome
    extensions:
      - {number: "201", password: "a-long-passphrase-201"}
      - {number: "202", password: "a-long-passphrase-202"}
      - {number: "203", password: "a-long-passphrase-203"}
    rules:
      - {name: five, called: "^$555", action: route, target: "user:201"}
tests:
  - {name: five, company: acme, from: "201", to: "555", at: "2026-11-23T10:00", expect: {target: "%s"}}
`, expect555)
}

func routeScript(target string) string {
	return fmt.Sprintf(`function on_route(call, decision)
  if call.to == "555" then return {target = %q} end
end
`, target)
}

type routeAnswer struct {
	Target     string `json:"target"`
	Source     string `json:"source"`
	Generation uint64 `json:"generation"`
}

func askRoute(t *testing.T, base string) routeAnswer {
	t.Helper()
	resp, err := http.Get(base + "/api/route?" + url.Values{"from": {"201"}, "to": {"555"}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a routeAnswer
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		t.Fatal(err)
	}
	return a
}

type reloadStatus struct {
	Generation uint64 `json:"generation"`
	LastError  string `json:"last_error"`
	Failures   int    `json:"failures"`
}

func getStatus(t *testing.T, base string) reloadStatus {
	t.Helper()
	resp, err := http.Get(base + "/api/reload")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s reloadStatus
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

// waitFor polls until cond holds, and returns how long it took.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < timeout {
		if cond() {
			return time.Since(start)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s: not within %s", what, timeout)
	return 0
}

func TestHotReload(t *testing.T) {
	dir := t.TempDir()
	harness.WriteFile(t, dir, "pbx.yaml", reloadPlan("user:202"))
	harness.WriteFile(t, dir, "route.lua", routeScript("user:202"))
	srv := harness.Start(t, dir, "pbx.yaml")
	base := "http://" + srv.HTTP

	first := askRoute(t, base)
	if first.Target != "user:202" || first.Source != "lua" {
		t.Fatalf("before any edit: %+v, want user:202 from lua", first)
	}
	gen := first.Generation

	t.Run("valid edit is live within 1s", func(t *testing.T) {
		harness.WriteFile(t, dir, "pbx.yaml", reloadPlan("user:203"))
		harness.WriteFile(t, dir, "route.lua", routeScript("user:203"))
		took := waitFor(t, 3*time.Second, "edit live", func() bool { return askRoute(t, base).Target == "user:203" })
		t.Logf("edit live after %s", took)
		if took > time.Second {
			t.Errorf("edit took %s to go live, want ≤ 1s", took)
		}
		gen = askRoute(t, base).Generation
	})

	keeps := func(t *testing.T, file, content, wantErr string) {
		t.Helper()
		before := getStatus(t, base)
		harness.WriteFile(t, dir, file, content)
		waitFor(t, 3*time.Second, "failure reported", func() bool { return getStatus(t, base).Failures > before.Failures })
		st := getStatus(t, base)
		if st.Generation != gen {
			t.Errorf("generation %d after a bad edit, want %d kept", st.Generation, gen)
		}
		if !strings.Contains(st.LastError, wantErr) {
			t.Errorf("last_error %q does not contain %q", st.LastError, wantErr)
		}
		if a := askRoute(t, base); a.Target != "user:203" {
			t.Errorf("after a bad edit the route is %+v, want the old user:203", a)
		}
	}
	t.Run("lua syntax error keeps the old generation", func(t *testing.T) {
		keeps(t, "route.lua", "function on_route(call, decision)\n  return {\nend\n", "route.lua:")
		harness.WriteFile(t, dir, "route.lua", routeScript("user:203"))
		waitFor(t, 3*time.Second, "fixed", func() bool { return getStatus(t, base).LastError == "" })
		gen = getStatus(t, base).Generation
	})
	t.Run("failing tests keep the old generation", func(t *testing.T) {
		keeps(t, "pbx.yaml", reloadPlan("user:201"), "five")
		harness.WriteFile(t, dir, "pbx.yaml", reloadPlan("user:203"))
		waitFor(t, 3*time.Second, "fixed", func() bool { return getStatus(t, base).LastError == "" })
		gen = getStatus(t, base).Generation
	})
	t.Run("broken YAML keeps the old generation", func(t *testing.T) {
		keeps(t, "pbx.yaml", "companies: [\n  - id: acme\n", "pbx.yaml:")
		harness.WriteFile(t, dir, "pbx.yaml", reloadPlan("user:203"))
		waitFor(t, 3*time.Second, "fixed", func() bool { return getStatus(t, base).LastError == "" })
		gen = getStatus(t, base).Generation
	})
	t.Run("50 writes in a second end on the last", func(t *testing.T) {
		targets := []string{"user:201", "user:202", "user:203"}
		for i := 0; i < 50; i++ {
			target := targets[i%3]
			if i == 49 {
				target = "user:202"
			}
			harness.WriteFile(t, dir, "pbx.yaml", reloadPlan(target))
			harness.WriteFile(t, dir, "route.lua", routeScript(target))
			time.Sleep(15 * time.Millisecond)
		}
		waitFor(t, 3*time.Second, "last write live", func() bool {
			a := askRoute(t, base)
			return a.Target == "user:202" && getStatus(t, base).LastError == ""
		})
		// Stays there: no late reload of an older version.
		time.Sleep(400 * time.Millisecond)
		if a := askRoute(t, base); a.Target != "user:202" {
			t.Errorf("settled on %+v, want user:202", a)
		}
	})
	t.Run("SIGHUP reloads", func(t *testing.T) {
		before := getStatus(t, base).Generation
		srv.Signal(t, syscall.SIGHUP)
		waitFor(t, 3*time.Second, "SIGHUP reload", func() bool { return getStatus(t, base).Generation == before+1 })
	})
	t.Run("POST /api/reload", func(t *testing.T) {
		before := getStatus(t, base).Generation
		resp, err := http.Post(base+"/api/reload", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("POST /api/reload: %s", resp.Status)
		}
		if g := getStatus(t, base).Generation; g != before+1 {
			t.Errorf("generation %d, want %d", g, before+1)
		}
	})
}
