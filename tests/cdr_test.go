package tests

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"luapbx/engine/cdr"
	"luapbx/engine/phone"
	"luapbx/tests/harness"
)

func cdrPlan(dir string) string {
	return fmt.Sprintf(`listen: {sip: ["udp:127.0.0.1:0"], http: "127.0.0.1:0", rtp_ports: "31100-31199"}
storage: {cdr: "sqlite:%s"}
security: {max_calls: 1000}
companies:
  - id: acme
    timezone: Europe/Rome
    extensions:
      - {number: "201", password: "a-long-passphrase-201"}
      - {number: "202", password: "a-long-passphrase-202"}
      - {number: "203", password: "a-long-passphrase-203"}
`, filepath.Join(dir, "cdr.db"))
}

func newPhone(t *testing.T, srv *harness.Server, user string) *phone.Phone {
	return newPhoneMedia(t, srv, user, nil)
}

// newPhoneMedia makes a phone whose calls use media (nil: silent).
func newPhoneMedia(t *testing.T, srv *harness.Server, user string, media phone.MediaFactory) *phone.Phone {
	t.Helper()
	p, err := phone.New(phone.Config{
		Server: "udp:" + srv.SIP["udp"], User: user, Password: "a-long-passphrase-" + user,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Media: media,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func register(t *testing.T, p *phone.Phone) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if s, err := p.Register(ctx, 5*time.Minute); err != nil || s.FinalCode != 200 {
		t.Fatalf("register: %v %+v", err, s)
	}
}

// Real calls of each disposition produce the right rows, over JSON and CSV.
func TestCallRecords(t *testing.T) {
	dir := t.TempDir()
	harness.WriteFile(t, dir, "pbx.yaml", cdrPlan(dir))
	srv := harness.Start(t, dir, "pbx.yaml")
	talk, err := phone.RTPMedia(phone.MediaOptions{Play: make([]int16, 8000)}) // a second of audio
	if err != nil {
		t.Fatal(err)
	}
	caller := newPhoneMedia(t, srv, "201", talk)
	bob, carol := newPhone(t, srv, "202"), newPhone(t, srv, "203")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ansBob, err := bob.StartAnswer(ctx, phone.AnswerOptions{Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	ansCarol, err := carol.StartAnswer(ctx, phone.AnswerOptions{Count: 1, Reject: 486})
	if err != nil {
		t.Fatal(err)
	}
	register(t, bob)
	register(t, carol)

	calls := []struct {
		to          string
		opts        phone.CallOptions
		disposition string
		code        int
		by, cause   string // hangup_by, hangup_cause
		answeredBy  string
	}{
		{"202", phone.CallOptions{HangupAfter: 1100 * time.Millisecond}, "answered", 200, "caller", "normal", "202"},
		{"203", phone.CallOptions{Expect: 486}, "busy", 486, "callee", "busy", ""},
		{"999", phone.CallOptions{Expect: 404}, "rejected", 404, "system", "rejected", ""},
	}
	ids := map[string]int{}
	for i, c := range calls {
		s, err := caller.Call(ctx, c.to, c.opts)
		if err != nil || s.FinalCode != c.code {
			t.Fatalf("call %s: %v, final %d, want %d", c.to, err, s.FinalCode, c.code)
		}
		ids[s.CallID] = i
	}
	_, _ = ansBob.Wait()
	_, _ = ansCarol.Wait()

	var got struct{ Records []cdr.Record }
	waitFor(t, 5*time.Second, "three records", func() bool {
		resp, err := http.Get("http://" + srv.HTTP + "/api/cdr")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		got.Records = nil
		return json.NewDecoder(resp.Body).Decode(&got) == nil && len(got.Records) == 3
	})
	for _, r := range got.Records {
		i, ok := ids[r.CallID]
		if !ok {
			t.Errorf("record for unknown call %s", r.CallID)
			continue
		}
		want := calls[i]
		if string(r.Disposition) != want.disposition || r.SIPCode != want.code || r.Dialled != want.to {
			t.Errorf("call to %s: disposition %s code %d dialled %s; want %s %d", want.to, r.Disposition, r.SIPCode, r.Dialled, want.disposition, want.code)
		}
		if string(r.HangupBy) != want.by || r.HangupCause != want.cause || r.AnsweredBy != want.answeredBy {
			t.Errorf("call to %s: hangup by %s (%s), answered by %q; want %s (%s), %q", want.to, r.HangupBy,
				r.HangupCause, r.AnsweredBy, want.by, want.cause, want.answeredBy)
		}
		if len(r.Explanation) == 0 || r.Generation != 1 || r.Company != "acme" {
			t.Errorf("call to %s: explanation %d bytes, generation %d, company %q", want.to, len(r.Explanation), r.Generation, r.Company)
		}
		if want.disposition == "answered" && r.BillableSeconds != 1 {
			t.Errorf("answered call billable %ds, want 1", r.BillableSeconds)
		}
	}

	metrics := get(t, "http://"+srv.HTTP+"/metrics", "")
	for _, want := range []string{`luapbx_calls_total{disposition="answered"} 1`, `luapbx_calls_total{disposition="busy"} 1`,
		`luapbx_calls_total{disposition="rejected"} 1`, "luapbx_cdr_written_total 3", "luapbx_active_calls 0"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// The answered call carried the caller's second of audio through the relay.
	if !regexp.MustCompile(`luapbx_rtp_packets_in_total [1-9]`).MatchString(metrics) {
		t.Errorf("/metrics counts no relayed RTP packet")
	}
	for _, want := range []string{"luapbx_rtp_lost_packets_total", "luapbx_rtp_overflow_packets_total 0"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	resp, err := http.Get("http://" + srv.HTTP + "/api/cdr?format=csv&disposition=busy")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rows, err := csv.NewReader(resp.Body).ReadAll()
	if err != nil {
		t.Fatalf("CSV export does not parse: %v", err)
	}
	if len(rows) != 2 || rows[0][0] != "call_id" {
		t.Fatalf("CSV of busy calls: %d rows, header %v; want a header and one row", len(rows), rows[0])
	}
}

// SIGTERM while calls are up loses no call record.
func TestSIGTERMKeepsEveryRecord(t *testing.T) {
	dir := t.TempDir()
	harness.WriteFile(t, dir, "pbx.yaml", cdrPlan(dir))
	srv := harness.Start(t, dir, "pbx.yaml")
	const n = 30
	bob := newPhone(t, srv, "202")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := bob.StartAnswer(ctx, phone.AnswerOptions{Count: n}); err != nil {
		t.Fatal(err)
	}
	register(t, bob)
	caller := newPhone(t, srv, "201")
	var wg sync.WaitGroup
	var mu sync.Mutex
	reached := 0 // calls the PBX answered (with anything past 100)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, _ := caller.Call(ctx, "202", phone.CallOptions{HangupAfter: 5 * time.Second})
			if s.FinalCode >= 200 {
				mu.Lock()
				reached++
				mu.Unlock()
			}
		}()
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	srv.Signal(t, syscall.SIGTERM)
	stopped := time.Now()
	if code := srv.Stop(t); code != 0 {
		t.Errorf("luapbx exited %d after SIGTERM", code)
	}
	t.Logf("stopped %s after SIGTERM", time.Since(stopped).Round(time.Millisecond))
	wg.Wait()
	store, err := cdr.Open(context.Background(), "sqlite:"+filepath.Join(dir, "cdr.db"), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	count, err := store.Count(context.Background(), cdr.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if reached == 0 || count != reached {
		t.Fatalf("%d call records after SIGTERM, want one per call the PBX answered (%d)", count, reached)
	}
}

// get fetches url (with a bearer token when given) and returns the body; it
// fails the test unless the status is 200.
func get(t *testing.T, url, token string) string {
	t.Helper()
	code, body := fetch(t, url, token)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, code, body)
	}
	return body
}

func fetch(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// With admin.token set, the API wants it; /healthz stays open.
func TestAdminToken(t *testing.T) {
	dir := t.TempDir()
	const token = "a-token-of-32-characters-or-so!!"
	harness.WriteFile(t, dir, "pbx.yaml", cdrPlan(dir)+"admin: {token: \""+token+"\"}\n")
	srv := harness.Start(t, dir, "pbx.yaml")
	base := "http://" + srv.HTTP
	for _, path := range []string{"/api/reload", "/api/calls", "/api/cdr", "/metrics"} {
		if code, _ := fetch(t, base+path, ""); code != http.StatusUnauthorized {
			t.Errorf("GET %s without the token: %d, want 401", path, code)
		}
		if code, _ := fetch(t, base+path, "wrong"); code != http.StatusUnauthorized {
			t.Errorf("GET %s with a wrong token: %d, want 401", path, code)
		}
		get(t, base+path, token)
	}
	get(t, base+"/healthz", "")
}

// Off loopback without a token, luapbx refuses to start.
func TestAdminOffLoopbackNeedsToken(t *testing.T) {
	dir := t.TempDir()
	plan := strings.Replace(cdrPlan(dir), `http: "127.0.0.1:0"`, `http: "0.0.0.0:0"`, 1)
	harness.WriteFile(t, dir, "pbx.yaml", plan)
	code, out, errOut := harness.Run(t, dir, "serve", "--config", "pbx.yaml")
	if code != 1 || !strings.Contains(out+errOut, "token") {
		t.Fatalf("serve with an exposed admin API and no token: exit %d\n%s%s", code, out, errOut)
	}
}
