package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"luapbx/engine/phone"
	"luapbx/tests/harness"
)

// callTimeout bounds every SIP action of these tests.
const callTimeout = 15 * time.Second

// sipPlan is a one-company plan with extensions 201-204 (passwords
// "a-long-passphrase-<number>"), UDP and TCP listeners on free ports, the
// RTP range rtpBase..rtpBase+99, and company holding more of the company
// (groups, trunks, rules), indented by four spaces.
func sipPlan(rtpBase int, security, extFields, company string) string {
	if security == "" {
		security = "{ban_after_failures: 0, max_calls: 100}"
	}
	var exts strings.Builder
	for _, n := range []string{"201", "202", "203", "204"} {
		fmt.Fprintf(&exts, "      - {number: %q, password: \"a-long-passphrase-%s\", rights: [outside]%s}\n", n, n, extFields)
	}
	return fmt.Sprintf(`listen: {sip: ["udp:127.0.0.1:0", "tcp:127.0.0.1:0"], http: "127.0.0.1:0", rtp_ports: "%d-%d"}
storage: {cdr: "sqlite:var/cdr.db"}
security: %s
companies:
  - id: acme
    timezone: Europe/Rome
    classes: {outside: "^9"}
    extensions:
%s%s`, rtpBase, rtpBase+99, security, exts.String(), company)
}

// startPlan writes plan (and files, name -> content) to a temp dir and
// starts the real binary on it.
func startPlan(t *testing.T, plan string, files map[string]string) (*harness.Server, string) {
	t.Helper()
	dir := t.TempDir()
	harness.WriteFile(t, dir, "pbx.yaml", plan)
	for name, content := range files {
		harness.WriteFile(t, dir, name, content)
	}
	return harness.Start(t, dir, "pbx.yaml"), dir
}

// newPhoneWith is a phone registering user with password over network.
func newPhoneWith(t *testing.T, srv *harness.Server, network, user, password string) *phone.Phone {
	t.Helper()
	p, err := phone.New(phone.Config{
		Server: network + ":" + srv.SIP[network], Listen: network + ":127.0.0.1:0",
		User: user, Password: password,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// fakeTrunk is a phone on 127.0.0.1 playing a provider: it has no server.
func fakeTrunk(t *testing.T, user string) *phone.Phone {
	t.Helper()
	p, err := phone.New(phone.Config{
		Listen: "udp:127.0.0.1:0", User: user, Domain: "127.0.0.1",
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// hostPort is a phone's "127.0.0.1:port" (Addr without the network).
func hostPort(p *phone.Phone) string {
	_, hp, _ := strings.Cut(p.Addr(), ":")
	return hp
}

// answering runs Answer in the background; wait returns its summaries.
type answering struct {
	an     *phone.Answering
	cancel context.CancelFunc
}

func startAnswer(t *testing.T, p *phone.Phone, opts phone.AnswerOptions, timeout time.Duration) *answering {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	an, err := p.StartAnswer(ctx, opts)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	a := &answering{an: an, cancel: cancel}
	t.Cleanup(func() { cancel(); _, _ = an.Wait() })
	return a
}

func (a *answering) wait(t *testing.T) []phone.Summary {
	t.Helper()
	s, _ := a.an.Wait()
	a.cancel()
	return s
}

// dial places a call bounded by callTimeout.
func dial(t *testing.T, p *phone.Phone, target string, opts phone.CallOptions) phone.Summary {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	s, err := p.Call(ctx, target, opts)
	if err != nil {
		t.Fatalf("call %s: %v", target, err)
	}
	return s
}

// dialAsync places a call in the background.
func dialAsync(t *testing.T, p *phone.Phone, target string, opts phone.CallOptions) func() phone.Summary {
	t.Helper()
	var (
		wg sync.WaitGroup
		s  phone.Summary
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		s, _ = p.Call(ctx, target, opts)
	}()
	t.Cleanup(wg.Wait)
	return func() phone.Summary { wg.Wait(); return s }
}

// sawCode reports whether s saw an INVITE response code in direction dir.
func sawCode(s phone.Summary, code int, dir string) bool {
	for _, c := range s.Codes {
		if c.Method == "INVITE" && c.Code == code && c.Dir == dir {
			return true
		}
	}
	return false
}

// getJSON decodes GET base+path into v.
func getJSON(t *testing.T, srv *harness.Server, path string, v any) {
	t.Helper()
	resp, err := http.Get("http://" + srv.HTTP + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", path, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

type liveCall struct {
	CallID     string `json:"call_id"`
	State      string `json:"state"`
	From       string `json:"from"`
	To         string `json:"to"`
	Target     string `json:"target"`
	Generation uint64 `json:"generation"`
}

func liveCalls(t *testing.T, srv *harness.Server) []liveCall {
	t.Helper()
	var out struct {
		Calls []liveCall `json:"calls"`
	}
	getJSON(t, srv, "/api/calls", &out)
	return out.Calls
}
