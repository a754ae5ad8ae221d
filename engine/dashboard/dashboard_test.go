package dashboard

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"luapbx/engine/call"
	"luapbx/engine/cdr"
	"luapbx/engine/reload"
	"luapbx/engine/routing"
	"luapbx/engine/trunk"
)

// section returns the HTML of <section id="id">, failing when it is absent.
func section(t *testing.T, body, id string) string {
	t.Helper()
	start := strings.Index(body, `<section id="`+id+`">`)
	if start < 0 {
		t.Fatalf("section %q missing from:\n%s", id, body)
	}
	end := strings.Index(body[start:], "</section>")
	if end < 0 {
		t.Fatalf("section %q not closed", id)
	}
	return body[start : start+end]
}

func TestSectionsRender(t *testing.T) {
	f := fullFixture(t)
	h := New(f.source())
	for _, target := range []string{"/", "/?partial=1"} {
		t.Run(target, func(t *testing.T) {
			code, hdr, body := get(t, h, target)
			if code != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") {
				t.Fatalf("status %d, content type %q", code, hdr.Get("Content-Type"))
			}
			tests := []struct {
				section string
				want    []string
			}{
				{"calls", []string{`data-call-id="c1@pbx"`, ">201<", ">0612345678<", "gateway:p1", "mobiles", "state-answered",
					`<div class="leg">p1 <span class="state state-answered">answered</span></div>`, "1m35s", "talk 30s", "acme"}},
				{"trunks", []string{"1/2 up", "sip.carrier.example", `<span class="ok">up</span>`, `<span class="bad">down</span>`,
					`<span class="ok">registered</span>`, `<span class="bad">not registered</span>`, "403", "forbidden"}},
				{"registrations", []string{">201<", ">202<", "sip:202@10.0.0.2:5060", "Yealink", "in 1m00s", "198.51.100.7", "banned", "in 10m00s"}},
				{"reload", []string{`<div class="alert" role="alert">`, "Last reload failed", "still running generation 7",
					"unknown target &#34;voicemial:201&#34;", "6 ok, 1 failed"}},
				{"recent", []string{`data-call-id="r1@pbx"`, "0612345678", "→ &#43;33612345678", "disp-answered", "200 caller hung up (normal), answered by p1", "1m05s", "60s billed",
					`<audio controls preload="none" src="api/recordings/r1@pbx"></audio>`, `<details data-key="r1@pbx">`,
					"rule <b>mobiles</b> won among 2 candidate(s), 1 map(s)", "less specific than mobiles", `<tr class="lost">`,
					"e164: <span class=\"num\">0612345678 → &#43;33612345678</span>", "caller rights: national",
					"disp-rejected", "No routing explanation."}},
			}
			for _, tt := range tests {
				sec := section(t, body, tt.section)
				for _, w := range tt.want {
					if !strings.Contains(sec, w) {
						t.Errorf("section %s lacks %q:\n%s", tt.section, w, sec)
					}
				}
			}
			// Sorted for display: 201 before 202, p1 before p2.
			reg := section(t, body, "registrations")
			if strings.Index(reg, ">201<") > strings.Index(reg, ">202<") {
				t.Error("extensions are not sorted by number")
			}
			tr := section(t, body, "trunks")
			if strings.Index(tr, "sip.carrier.example") > strings.Index(tr, "sip.other.example") {
				t.Error("trunks are not sorted by id")
			}
			// The second record has no recording: exactly one player.
			if n := strings.Count(body, "<audio"); n != 1 {
				t.Errorf("%d audio players, want 1", n)
			}
			if f.gotLimit != DefaultRecent {
				t.Errorf("recent calls asked with limit %d, want %d", f.gotLimit, DefaultRecent)
			}
			partial := target != "/"
			if strings.Contains(body, "<script>") == partial || strings.Contains(body, "<html") == partial {
				t.Errorf("partial=%v but page/script presence is wrong", partial)
			}
		})
	}
}

// TestFixtureSourceOrderUntouched: sorting for display must not reorder
// the slices the PBX handed over.
func TestFixtureSourceOrderUntouched(t *testing.T) {
	f := fullFixture(t)
	get(t, New(f.source()), "/")
	if f.exts[0].AOR != "202" || f.trunks[0].ID != "p2" {
		t.Errorf("source slices were reordered: %s, %s", f.exts[0].AOR, f.trunks[0].ID)
	}
}

func TestEmptyAndUnavailable(t *testing.T) {
	tests := []struct {
		name string
		src  Source
		want map[string]string // section -> text
	}{
		{"nil source", Source{}, map[string]string{
			"calls": "Live calls not available.", "trunks": "Trunk state not available.",
			"registrations": "Registrations not available.", "reload": "Reload state not available.",
			"recent": "Call records are off",
		}},
		{"empty PBX", (&fixture{status: reload.Status{Generation: 1}}).source(), map[string]string{
			"calls": "No calls in progress.", "trunks": "No trunks configured.",
			"registrations": "No extension is registered.", "reload": `<span class="ok">ok</span>`,
			"recent": "No calls recorded yet.",
		}},
		{"store error", (&fixture{recentErr: errors.New("disk <full>")}).source(), map[string]string{
			"recent": "Could not read call records: disk &lt;full&gt;",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, body := get(t, New(tt.src), "/")
			if code != http.StatusOK {
				t.Fatalf("status %d", code)
			}
			for sec, w := range tt.want {
				if s := section(t, body, sec); !strings.Contains(s, w) {
					t.Errorf("section %s lacks %q:\n%s", sec, w, s)
				}
			}
			if strings.Contains(body, `role="alert"`) {
				t.Error("an alert is shown without a reload error")
			}
		})
	}
}

func TestEscapesHostileValues(t *testing.T) {
	const evil = `<script>alert(1)</script>`
	const escaped = `&lt;script&gt;alert(1)&lt;/script&gt;`
	f := fullFixture(t)
	f.calls[0].From = evil
	f.calls[0].Rule = evil
	f.calls[0].Legs[0].Name = evil
	f.calls[0].CallID = `"><script>alert(1)</script>`
	f.exts[0].UserAgent = evil
	f.trunks[0].LastError = evil
	f.status.LastError = evil
	f.recent[0].From = evil
	f.recent[0].CallID = `x"/><script>alert(1)</script>`
	f.recent[0].Explanation = explanation(t, routing.Explanation{
		Candidates: []routing.Candidate{{Rule: evil, Why: evil, Won: true}},
		Maps:       []routing.MapStep{{Rule: evil, From: evil, To: evil}},
		HookErrors: []string{evil},
	})
	f.recent[1].Explanation = []byte(`{"candidates": "` + `<script>alert(1)</script>` + `"`) // undecodable: shown raw
	_, _, body := get(t, New(f.source()), "/")
	if strings.Contains(body, "<script>alert") {
		t.Fatalf("a hostile value reached the page unescaped:\n%s", body)
	}
	if n := strings.Count(body, escaped); n < 10 {
		t.Errorf("escaped form appears %d times, want every hostile field (>= 10)", n)
	}
	if !strings.Contains(body, `src="api/recordings/x%22%2F%3E%3Cscript%3Ealert%281%29%3C%2Fscript%3E"`) {
		t.Errorf("recording URL of a hostile call id is not path-escaped:\n%s", section(t, body, "recent"))
	}
	if n := strings.Count(body, "<script>"); n != 1 {
		t.Errorf("%d script tags, want only the refresh script", n)
	}
}

func TestContentSecurityPolicyAllowsOnlyOwnAssets(t *testing.T) {
	_, hdr, body := get(t, New(fullFixture(t).source()), "/")
	csp := hdr.Get("Content-Security-Policy")
	for _, tag := range []string{"script", "style"} {
		m := regexp.MustCompile(`(?s)<` + tag + `>(.*?)</` + tag + `>`).FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no inline %s", tag)
		}
		sum := sha256.Sum256([]byte(m[1]))
		want := tag + "-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q does not allow the page's inline %s (want %q)", csp, tag, want)
		}
	}
	for _, w := range []string{"default-src 'none'", "connect-src 'self'", "media-src 'self'"} {
		if !strings.Contains(csp, w) {
			t.Errorf("CSP %q lacks %q", csp, w)
		}
	}
	if hdr.Get("Cache-Control") != "no-store" || hdr.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("headers: %v", hdr)
	}
}

func TestMethods(t *testing.T) {
	h := New(Source{})
	for _, tt := range []struct {
		method string
		want   int
	}{{http.MethodGet, 200}, {http.MethodHead, 200}, {http.MethodPost, 405}, {http.MethodDelete, 405}} {
		t.Run(tt.method, func(t *testing.T) {
			rr := httptest.NewRecorder()
			h.ServeHTTP(rr, httptest.NewRequest(tt.method, "/", nil))
			if rr.Code != tt.want {
				t.Errorf("%s: %d, want %d", tt.method, rr.Code, tt.want)
			}
		})
	}
}

func TestLiveDurationsFollowTheClock(t *testing.T) {
	now := t0
	src := Source{
		Calls: func() []call.Info {
			return []call.Info{{CallID: "a", From: "201", To: "202", State: call.StateRinging, Start: t0}}
		},
		Now: func() time.Time { return now },
	}
	h := New(src)
	for _, tt := range []struct {
		after time.Duration
		want  string
	}{{0, "<td>0s</td>"}, {59 * time.Second, "<td>59s</td>"}, {61 * time.Minute, "<td>1h01m</td>"}} {
		now = t0.Add(tt.after)
		_, _, body := get(t, h, "/?partial=1")
		if sec := section(t, body, "calls"); !strings.Contains(sec, tt.want) || strings.Contains(sec, "talk") {
			t.Errorf("after %v: want %q and no talk time in\n%s", tt.after, tt.want, sec)
		}
	}
}

func TestRecentLimit(t *testing.T) {
	f := &fixture{}
	src := f.source()
	src.RecentLimit = 5
	get(t, New(src), "/")
	if f.gotLimit != 5 {
		t.Errorf("limit %d, want 5", f.gotLimit)
	}
}

func TestTrunkNotRegistering(t *testing.T) {
	f := &fixture{trunks: []trunk.State{{ID: "ip", Host: "10.1.1.1", Up: true}}}
	_, _, body := get(t, New(f.source()), "/")
	sec := section(t, body, "trunks")
	for _, w := range []string{"not registering", "1/1 up", "<td>—</td>"} {
		if !strings.Contains(sec, w) {
			t.Errorf("trunks lack %q:\n%s", w, sec)
		}
	}
}

func TestLuaSourceShown(t *testing.T) {
	f := &fixture{recent: []cdr.Record{{CallID: "l", Rule: "r", Target: "reject:403", Source: cdr.SourceLua, OffHours: "night"}}}
	_, _, body := get(t, New(f.source()), "/")
	sec := section(t, body, "recent")
	for _, w := range []string{"r → reject:403", "(lua)", "off-hours night"} {
		if !strings.Contains(sec, w) {
			t.Errorf("recent lacks %q:\n%s", w, sec)
		}
	}
}

func TestHuman(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{{-time.Second, "0s"}, {0, "0s"}, {999 * time.Millisecond, "0s"}, {59 * time.Second, "59s"}, {60 * time.Second, "1m00s"},
		{3599 * time.Second, "59m59s"}, {3600 * time.Second, "1h00m"}, {26*time.Hour + 5*time.Minute, "26h05m"}} {
		if got := human(tt.d); got != tt.want {
			t.Errorf("human(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

// A generation that loaded with warnings (hooks failing in the plan's
// tests, settings waiting for a restart) shows them in a warning banner,
// apart from the error one, escaped; none without warnings.
func TestReloadWarningsShown(t *testing.T) {
	tests := []struct {
		name     string
		status   reload.Status
		want     []string
		notWants []string
	}{
		{"warnings", reload.Status{Generation: 8, Reloads: 7, Warnings: []string{
			"on_route failed in 8 of 8 test calls: 20-route.lua:4: attempt to index a nil value",
			`listen.sip changed but takes effect only on restart: running "udp:127.0.0.1:5060", config <x>`,
		}}, []string{`<div class="alert warn" role="status">`, "Generation 8 runs with 2 warning(s)",
			"<li>on_route failed in 8 of 8 test calls: 20-route.lua:4: attempt to index a nil value</li>",
			"config &lt;x&gt;", `<span class="ok">ok</span>, <span class="warn">2 warning(s)</span>`}, []string{`role="alert"`}},
		{"no warnings", reload.Status{Generation: 8, Warnings: []string{}}, []string{`<span class="ok">ok</span></dd>`},
			[]string{`class="alert warn"`, "warning(s)"}},
		{"error and warnings of the running generation", reload.Status{Generation: 8, LastError: "pbx.yaml:3: bad",
			Warnings: []string{"on_route failed in 1 of 8 test calls: x"}},
			[]string{`role="alert"`, "Last reload failed", `<div class="alert warn" role="status">`, "on_route failed in 1 of 8"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, body := get(t, New((&fixture{status: tc.status}).source()), "/?partial=1")
			s := section(t, body, "reload")
			for _, w := range tc.want {
				if !strings.Contains(s, w) {
					t.Errorf("reload section lacks %q:\n%s", w, s)
				}
			}
			for _, w := range tc.notWants {
				if strings.Contains(s, w) {
					t.Errorf("reload section has %q:\n%s", w, s)
				}
			}
		})
	}
}
