package tests

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"luapbx/engine/ban"
	"luapbx/engine/call"
	"luapbx/engine/cdr"
	"luapbx/engine/dashboard"
	"luapbx/engine/registrar"
	"luapbx/engine/reload"
	"luapbx/engine/routing"
	"luapbx/engine/trunk"
)

// chromiumBinary finds Debian's chromium; without it the test skips,
// except under CI=true (where .ci/run installs it) where it fails.
func chromiumBinary(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "headless chromium not found: install Debian's chromium (apt-get install -y chromium) to run the dashboard end-to-end test"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// runChromium runs headless chromium on url with extra flags and returns
// its stdout.
func runChromium(t *testing.T, bin, url string, extra ...string) string {
	t.Helper()
	profile := t.TempDir()
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--user-data-dir=" + profile, "--virtual-time-budget=5000"}, extra...)
	args = append(args, url)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "HOME="+profile)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\nstderr:\n%s", extra, err, tail(stderr.String(), 3000))
	}
	return stdout.String()
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// e2eWAV writes a short, valid stereo 8 kHz 16-bit WAV.
func e2eWAV(t *testing.T, path string) {
	t.Helper()
	const rate, channels, samples = 8000, 2, 800
	data := make([]byte, samples*channels*2)
	var h bytes.Buffer
	h.WriteString("RIFF")
	_ = binary.Write(&h, binary.LittleEndian, uint32(36+len(data)))
	h.WriteString("WAVEfmt ")
	_ = binary.Write(&h, binary.LittleEndian, []any{uint32(16), uint16(1), uint16(channels), uint32(rate),
		uint32(rate * channels * 2), uint16(channels * 2), uint16(16)})
	h.WriteString("data")
	_ = binary.Write(&h, binary.LittleEndian, uint32(len(data)))
	h.Write(data)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, h.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// e2eDashboard is a dashboard over fakes; its live-calls list is empty
// until the first full page has been served, then holds one call.
type e2eDashboard struct {
	srv       *httptest.Server
	firstPage atomic.Pointer[string] // body of the first full page
	partials  atomic.Int32           // ?partial=1 requests served
	callUp    atomic.Bool
}

const (
	e2eFrom = "+33123456789"
	e2eTo   = "0687654321"
	e2eRule = `<img src=x onerror=alert(1)>` // hostile: must stay text
)

func newE2EDashboard(t *testing.T) *e2eDashboard {
	t.Helper()
	d := &e2eDashboard{}
	now := time.Now()
	root := filepath.Join(t.TempDir(), "recordings")
	wavPath := filepath.Join(root, now.Format("2006/01/02"), "rec-1@pbx.wav")
	e2eWAV(t, wavPath)
	ex, err := json.Marshal(routing.Explanation{
		Candidates: []routing.Candidate{
			{Number: "0612345678", Rule: "mobiles", Called: "06XXXXXXXX", Calling: "*", Matched: true, Won: true, Why: "most specific called pattern"},
			{Number: "0612345678", Rule: "national", Called: "0XXXXXXXXX", Calling: "*", Matched: true, Why: "less specific called pattern than mobiles"},
		},
		Maps: []routing.MapStep{{Rule: "e164", From: "0612345678", To: "+33612345678"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	recent := []cdr.Record{{
		CallID: "rec-1@pbx", From: "201", Dialled: "0612345678", FinalNumber: "+33612345678", Rule: "mobiles",
		Target: "gateway:p1", Source: cdr.SourceBuiltin, Start: now.Add(-5 * time.Minute), Answer: now.Add(-295 * time.Second),
		End: now.Add(-4 * time.Minute), Duration: time.Minute, BillableSeconds: 55, Disposition: cdr.Answered, SIPCode: 200,
		HangupBy: cdr.Callee, RecordingPath: wavPath, Explanation: ex,
	}, {
		CallID: "rec-2@pbx", From: "202", Dialled: "999", Disposition: cdr.Rejected, SIPCode: 404,
		Start: now.Add(-9 * time.Minute), Duration: 40 * time.Millisecond, HangupBy: cdr.System,
	}}
	var mu sync.Mutex
	src := dashboard.Source{
		Calls: func() []call.Info {
			if !d.callUp.Load() {
				return nil
			}
			return []call.Info{{
				CallID: "live-1@pbx", State: call.StateAnswered, From: e2eFrom, To: e2eTo, Company: "acme",
				CallerType: "external", Trunk: "p1", Target: "ext:201", Rule: e2eRule,
				Start: now.Add(-42 * time.Second), Answered: now.Add(-30 * time.Second),
				Legs: []call.LegInfo{{CallID: "b-1", Name: "201", URI: "sip:201@127.0.0.1:5062", State: "answered"}},
			}}
		},
		Extensions: func() []registrar.Binding {
			return []registrar.Binding{
				{AOR: "201", ContactURI: "sip:201@127.0.0.1:5062", Source: "127.0.0.1:5062", Transport: "UDP", Expires: now.Add(time.Hour), UserAgent: "baresip"},
				{AOR: "202", ContactURI: "sip:202@192.0.2.10:5060", Source: "203.0.113.9:41234", Transport: "UDP", Expires: now.Add(5 * time.Minute), UserAgent: "Yealink T46U"},
			}
		},
		Trunks: func() []trunk.State {
			return []trunk.State{
				{ID: "p1", Host: "sip.carrier.example", Up: true, Register: true, Registered: true, Expires: now.Add(time.Hour), LastCode: 200},
				{ID: "backup", Host: "sip.backup.example", Up: false, Register: true, LastCode: 403, LastError: "registration refused", Failures: 4},
			}
		},
		Bans: func() []ban.Entry {
			return []ban.Entry{{IP: "198.51.100.7", Failures: 5, Banned: true, BannedUntil: now.Add(10 * time.Minute)}}
		},
		Reload: func() reload.Status {
			return reload.Status{Generation: 3, LoadedAt: now.Add(-time.Hour), LastAttempt: now.Add(-time.Minute),
				LastReason: "watch", LastError: `pbx.yaml: rules[2].target: unknown target "voicemial:201"`, Reloads: 2, Failures: 1}
		},
		RecentCalls: func(_ context.Context, limit int) ([]cdr.Record, error) {
			mu.Lock()
			defer mu.Unlock()
			return recent[:min(limit, len(recent))], nil
		},
	}
	records := dashboardRecords(recent)
	mux := http.NewServeMux()
	page := dashboard.New(src)
	// The routes as engine/pbx mounts them on the admin server.
	mux.Handle("GET /{$}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("partial") == "1" {
			d.partials.Add(1)
			page.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		page.ServeHTTP(rec, r)
		body := rec.Body.String()
		d.firstPage.CompareAndSwap(nil, &body)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = io.WriteString(w, body)
		d.callUp.Store(true) // a call is placed once the page is out
	}))
	mux.Handle("GET /api/recordings/{id}", dashboard.RecordingHandler(slog.New(slog.DiscardHandler), root, records))
	d.srv = httptest.NewServer(mux)
	t.Cleanup(d.srv.Close)
	return d
}

// dashboardRecords is a dashboard.Records over a slice.
type dashboardRecords []cdr.Record

func (rs dashboardRecords) Get(_ context.Context, id string) (cdr.Record, error) {
	for _, r := range rs {
		if r.CallID == id {
			return r, nil
		}
	}
	return cdr.Record{}, fmt.Errorf("call %q: %w", id, cdr.ErrNotFound)
}

func TestDashboardInChromium(t *testing.T) {
	bin := chromiumBinary(t)
	d := newE2EDashboard(t)

	dom := runChromium(t, bin, d.srv.URL+"/", "--dump-dom")

	first := d.firstPage.Load()
	if first == nil {
		t.Fatal("chromium never loaded the page")
	}
	if strings.Contains(*first, e2eFrom) || !strings.Contains(*first, "No calls in progress.") {
		t.Fatal("the first page already showed the call: the refresh would not be tested")
	}
	if d.partials.Load() == 0 {
		t.Fatalf("the refresh script never fetched ?partial=1; DOM:\n%s", tail(dom, 4000))
	}
	for _, want := range []string{
		`data-call-id="live-1@pbx"`, e2eFrom, e2eTo, "ext:201", // the call, after the refresh
		"&lt;img src=x onerror=alert(1)&gt;",  // its hostile rule stays text through the swap
		"live, updated",                       // the script's status line: no fetch error
		"Last reload failed", "voicemial:201", // reload error shown
		"sip.backup.example", "registration refused", "Yealink T46U", // trunks, registrations
		"less specific called pattern than mobiles", // explanation
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("the DOM after refresh lacks %q", want)
		}
	}
	if strings.Contains(dom, "No calls in progress.") {
		t.Error("the live calls section was not refreshed")
	}
	if strings.Contains(dom, `<img src="x"`) {
		t.Error("a hostile value became an element")
	}

	// The page's recording player points at a route that serves the WAV.
	m := regexp.MustCompile(`<audio[^>]* src="([^"]+)"`).FindStringSubmatch(dom)
	if m == nil {
		t.Fatal("no recording player in the page")
	}
	res, err := http.Get(d.srv.URL + "/" + m[1])
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "audio/wav" || !bytes.HasPrefix(body, []byte("RIFF")) {
		t.Errorf("player source %s: status %d, type %q, %d bytes", m[1], res.StatusCode, res.Header.Get("Content-Type"), len(body))
	}

	// LUAPBX_DASHBOARD_SCREENSHOT=/tmp/dash.png keeps a picture of the page.
	if shot := os.Getenv("LUAPBX_DASHBOARD_SCREENSHOT"); shot != "" {
		runChromium(t, bin, d.srv.URL+"/", "--screenshot="+shot, "--window-size=1280,900", "--hide-scrollbars")
		if st, err := os.Stat(shot); err != nil || st.Size() == 0 {
			t.Errorf("screenshot %s not written: %v", shot, err)
		}
	}
}
