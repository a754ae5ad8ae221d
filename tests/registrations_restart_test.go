package tests

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"luapbx/tests/harness"
)

// registration is one row of GET /api/registrations' extensions.
type registration struct {
	AOR        string    `json:"aor"`
	Contact    string    `json:"contact"`
	Source     string    `json:"source"`
	Transport  string    `json:"transport"`
	Expires    time.Time `json:"expires"`
	Registered time.Time `json:"registered"`
	CallID     string    `json:"call_id"`
	CSeq       uint32    `json:"cseq"`
	UserAgent  string    `json:"user_agent"`
}

func registrationsOf(t *testing.T, srv *harness.Server, aor string) []registration {
	t.Helper()
	var out struct {
		Extensions []registration `json:"extensions"`
	}
	getJSON(t, srv, "/api/registrations", &out)
	var mine []registration
	for _, r := range out.Extensions {
		if r.AOR == aor {
			mine = append(mine, r)
		}
	}
	return mine
}

// freePort returns a port free on 127.0.0.1 for network ("udp", "tcp"):
// a restarted PBX listens where the phones registered.
func freePort(t *testing.T, network string) int {
	t.Helper()
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// A phone registered before a restart (a clean stop or a kill) is still
// registered after it, with the same binding, and its calls ring it
// without the phone registering again.
func TestRegistrationsSurviveRestart(t *testing.T) {
	for i, tc := range []struct {
		name string
		sig  syscall.Signal
	}{{"clean stop", syscall.SIGTERM}, {"killed", syscall.SIGKILL}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			rtp := 37200 + 100*i
			harness.WriteFile(t, dir, "pbx.yaml", fmt.Sprintf(`listen: {sip: ["udp:127.0.0.1:%d"], http: "127.0.0.1:%d", rtp_ports: "%d-%d"}
security: {ban_after_failures: 0}
companies:
  - id: acme
    timezone: UTC
    extensions:
      - {number: "201", password: "a-long-passphrase-201"}
      - {number: "202", password: "a-long-passphrase-202"}
`, freePort(t, "udp"), freePort(t, "tcp"), rtp, rtp+99))
			file := filepath.Join(dir, "var", "registrations.json")
			srv := harness.Start(t, dir, "pbx.yaml")
			callee := startPhone(t, srv, "answer", "--user", "202", "--password", "a-long-passphrase-202", "--expires", "600")
			waitRegistered(t, srv, "202")
			before := registrationsOf(t, srv, "202")
			if len(before) != 1 {
				t.Fatalf("202's bindings: %+v", before)
			}

			if tc.sig == syscall.SIGKILL {
				// A kill loses at most the last second: wait for the save.
				waitFor(t, 5*time.Second, "the registration saved", func() bool {
					data, err := os.ReadFile(file)
					return err == nil && strings.Contains(string(data), before[0].CallID)
				})
				srv.Signal(t, syscall.SIGKILL)
				waitFor(t, 5*time.Second, "the PBX killed", srv.Exited)
			} else if code := srv.Stop(t); code != 0 {
				t.Fatalf("clean stop exited %d", code)
			}

			again := harness.Start(t, dir, "pbx.yaml")
			if again.SIP["udp"] != srv.SIP["udp"] {
				t.Fatalf("restarted on %s, was %s", again.SIP["udp"], srv.SIP["udp"])
			}
			// Listed at once, the same binding (no polling: the load is
			// done before the PBX says it is ready).
			after := registrationsOf(t, again, "202")
			if len(after) != 1 {
				t.Fatalf("202's bindings after the restart: %+v, want the one from before", after)
			}
			a, b := after[0], before[0]
			if a.Contact != b.Contact || a.Source != b.Source || a.Transport != b.Transport || !a.Expires.Equal(b.Expires) ||
				!a.Registered.Equal(b.Registered) || a.CallID != b.CallID || a.CSeq != b.CSeq || a.UserAgent != b.UserAgent {
				t.Errorf("binding after the restart\n %+v\nwant the one before\n %+v", a, b)
			}
			again.WaitLog(t, "registrations restored", time.Second)
			if !strings.Contains(again.Logs(), "restored=1 ") {
				t.Errorf("the start does not say one binding was restored:\n%s", again.Logs())
			}

			caller := startPhone(t, again, "call", "202", "--user", "201", "--password", "a-long-passphrase-201",
				"--hangup-after", "1s")
			call := lastCall(t, caller.wait(t), "201")
			if call.FinalCode != 200 {
				t.Fatalf("201 calling 202 after the restart: final %d (%s), want 200: 202's phone answered", call.FinalCode, call.State)
			}
			answered := lastCall(t, callee.wait(t), "202")
			if answered.Action != "answer" || answered.FinalCode != 200 || !strings.Contains(answered.From, "201@") {
				t.Errorf("202's phone: %+v, want it answered 201's call", answered)
			}
			// 202 never registered again (the phone refreshes at 300 s), and
			// the restore itself fired no registration events: the only
			// one of the new run is the phone's unregister when it quits.
			for _, line := range strings.Split(again.Logs(), "\n") {
				if strings.Contains(line, "msg=registration ") && !strings.Contains(line, "event=unregister") {
					t.Errorf("registration event after the restart: %s", line)
				}
			}
		})
	}
}

// The file the PBX writes is the registrar's: valid JSON holding 202.
func TestRegistrationsFileWritten(t *testing.T) {
	srv, dir := startPlan(t, `listen: {sip: ["udp:127.0.0.1:0"], http: "127.0.0.1:0", rtp_ports: "37400-37499"}
storage: {registrations: state/regs.json}
companies:
  - id: acme
    timezone: UTC
    extensions:
      - {number: "202", password: "a-long-passphrase-202"}
`, nil)
	startPhone(t, srv, "answer", "--user", "202", "--password", "a-long-passphrase-202", "--expires", "600")
	waitRegistered(t, srv, "202")
	if code := srv.Stop(t); code != 0 {
		t.Fatalf("stop exited %d", code)
	}
	data, err := os.ReadFile(filepath.Join(dir, "state", "regs.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Format   string `json:"format"`
		Bindings []struct {
			AOR       string `json:"aor"`
			Transport string `json:"transport"`
		} `json:"bindings"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatalf("registrations file: %v\n%s", err, data)
	}
	if f.Format != "luapbx-registrations" || len(f.Bindings) != 1 || f.Bindings[0].AOR != "202" || f.Bindings[0].Transport != "UDP" {
		t.Errorf("registrations file %s", data)
	}
}
