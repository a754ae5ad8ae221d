package reload

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"luapbx/engine/config"
)

// trunkPlan is a plan with settings read once at start-up, each editable.
func trunkPlan(edit func(string) string) string {
	p := `listen: {sip: ["udp:127.0.0.1:0"], http: "127.0.0.1:0", rtp_ports: "31000-31099"}
storage: {cdr: "sqlite:var/cdr.db", recordings: var/rec}
security: {max_calls: 100}
admin: {token: ""}
companies:
  - id: acme
    timezone: Europe/Rome
    extensions:
      - {number: "201", password: "a-long-passphrase-201"}
    trunks:
      - {id: p1, host: "127.0.0.1:5070", username: acme, password: "trunk-secret-1", register: true, inbound_ips: ["127.0.0.1"]}
    rules:
      - {name: out, called: "^0", action: route, target: "gateway:p1"}
`
	if edit != nil {
		p = edit(p)
	}
	return p
}

func loadPlan(t *testing.T, dir, text string) *config.Config {
	t.Helper()
	path := filepath.Join(dir, "pbx.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestRestartChanges(t *testing.T) {
	swap := func(old, new string) func(string) string {
		return func(p string) string {
			if !strings.Contains(p, old) {
				panic("plan has no " + old)
			}
			return strings.Replace(p, old, new, 1)
		}
	}
	tests := []struct {
		name   string
		edit   func(string) string
		keys   []string
		hidden string // must not appear in the warning (a secret)
	}{
		{"nothing", nil, nil, ""},
		{"listen.sip", swap(`udp:127.0.0.1:0"]`, `udp:127.0.0.1:0", "tcp:127.0.0.1:0"]`), []string{"listen.sip"}, ""},
		{"listen.http", swap(`http: "127.0.0.1:0"`, `http: "127.0.0.1:8089"`), []string{"listen.http"}, ""},
		{"listen.rtp_ports", swap("31000-31099", "32000-32099"), []string{"listen.rtp_ports"}, ""},
		{"listen.public_ip", swap(`rtp_ports:`, `public_ip: "192.0.2.1", rtp_ports:`), []string{"listen.public_ip"}, ""},
		{"storage", swap(`cdr: "sqlite:var/cdr.db", recordings: var/rec`, `cdr: "sqlite:var/cdr2.db", recordings: var/rec2, voicemail: var/vm2, registrations: var/regs2.json`),
			[]string{"storage.cdr", "storage.recordings", "storage.voicemail", "storage.registrations"}, ""},
		{"security.max_calls", swap("max_calls: 100", "max_calls: 5"), []string{"security.max_calls"}, ""},
		{"security bans are live", swap("max_calls: 100", "max_calls: 100, ban_seconds: 60, ban_exempt: [10.0.0.0/8], digest_algorithms: [SHA-256]"),
			nil, ""},
		{"admin.token is live", swap(`token: ""`, `token: "a-token-of-enough-length"`), nil, ""},
		{"trunk registration", swap(`host: "127.0.0.1:5070", username: acme, password: "trunk-secret-1"`, `host: "127.0.0.1:5071", username: acme2, password: "trunk-secret-2"`),
			[]string{"companies[acme].trunks[p1].host", "companies[acme].trunks[p1].username", "companies[acme].trunks[p1].password"}, "trunk-secret"},
		{"trunk added", swap(`    rules:`, "      - {id: p2, host: \"127.0.0.1:5072\"}\n    rules:"), []string{"companies[acme].trunks[p2]"}, ""},
		{"rules are live", swap(`called: "^0"`, `called: "^00"`), nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			running := loadPlan(t, t.TempDir(), trunkPlan(nil))
			next := loadPlan(t, t.TempDir(), trunkPlan(tc.edit))
			// Different folders: relative storage paths resolve against the
			// working directory, so they must still compare equal.
			got := RestartChanges(running, next)
			var keys []string
			for _, r := range got {
				keys = append(keys, r.Key)
				if tc.hidden != "" && strings.Contains(r.String(), tc.hidden) {
					t.Errorf("warning %q shows a secret", r.String())
				}
				if !strings.Contains(r.String(), "takes effect only on restart") {
					t.Errorf("warning %q does not say it needs a restart", r.String())
				}
			}
			if strings.Join(keys, " ") != strings.Join(tc.keys, " ") {
				t.Errorf("changed keys %q, want %q", keys, tc.keys)
			}
		})
	}
}

// The warnings compare with the settings the PBX started with: they stay
// until a restart, through later reloads, and go when the file is put back.
func TestRestartWarningsStayUntilRestart(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "pbx.yaml")
	write := func(text string) {
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(trunkPlan(nil))
	log, logs := captureLog()
	mgr, err := NewManager(log, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer mgr.Close()
	moved := func(p string) string { return strings.Replace(p, "31000-31099", "32000-32099", 1) }
	write(trunkPlan(moved))
	if err := mgr.Reload("edit"); err != nil {
		t.Fatal(err)
	}
	if out := logs(); !strings.Contains(out, "level=WARN") || !strings.Contains(out, "need a restart") || !strings.Contains(out, "keys=listen.rtp_ports") {
		t.Errorf("no WARN naming listen.rtp_ports in:\n%s", out)
	}
	for _, step := range []struct {
		name string
		plan string
		want int
	}{
		{"again, same file", trunkPlan(moved), 1},
		{"an unrelated edit", strings.Replace(trunkPlan(moved), `called: "^0"`, `called: "^00"`, 1), 1},
		{"put back", trunkPlan(nil), 0},
	} {
		write(step.plan)
		if err := mgr.Reload(step.name); err != nil {
			t.Fatal(err)
		}
		w := mgr.Status().Warnings
		if len(w) != step.want || (step.want == 1 && !strings.HasPrefix(w[0], "listen.rtp_ports changed but takes effect only on restart")) {
			t.Errorf("%s: warnings %q, want %d about listen.rtp_ports", step.name, w, step.want)
		}
	}
}

// WithCheck sees the start-up config and the new one, and refuses.
func TestWithCheckRefusesReload(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "pbx.yaml")
	if err := os.WriteFile(path, []byte(trunkPlan(nil)), 0o644); err != nil {
		t.Fatal(err)
	}
	check := func(running, next *config.Config) error {
		if running.Admin.Token == "" && next.Listen.RTPPorts != running.Listen.RTPPorts {
			return errors.New("refused by check")
		}
		return nil
	}
	mgr, err := NewManager(slog.New(slog.NewTextHandler(io.Discard, nil)), path, nil, WithCheck(check))
	if err != nil {
		t.Fatal(err)
	}
	defer mgr.Close()
	if err := os.WriteFile(path, []byte(strings.Replace(trunkPlan(nil), "31000-31099", "32000-32099", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := mgr.Reload("edit"); err == nil || !strings.Contains(err.Error(), "refused by check") {
		t.Fatalf("reload error %v, want the check's", err)
	}
	if g := mgr.Current().Gen; g != 1 {
		t.Errorf("generation %d after a refused reload, want 1", g)
	}
}
