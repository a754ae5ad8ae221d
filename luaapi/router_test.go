package luaapi

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"luapbx/engine/routing"
)

// testRouter is a small dial plan in the spirit of the shipped config.
func testRouter(t testing.TB) *routing.Router {
	t.Helper()
	r, err := routing.New(routing.Plan{Generation: 1, Companies: []routing.CompanySpec{{
		ID:         "acme",
		Classes:    []routing.ClassSpec{{Name: "mobile", Pattern: "^3"}},
		Extensions: []routing.ExtensionSpec{{Number: "201", Rights: []string{"mobile"}, Voicemail: true}, {Number: "202", Voicemail: true}},
		Groups:     []string{"600"},
		Trunks:     []string{"p1"},
		Timetables: []routing.TimetableSpec{{ID: "office", Weekly: []routing.WeeklySpec{{Days: "mon-fri", Hours: "08:30-18:00"}}}},
		Offhours:   []routing.OffhoursSpec{{Name: "night", Open: "office", DIDs: []string{"0733811720"}, Target: "voicemail:201"}},
		Rules: []routing.RuleSpec{
			{Name: "mobiles", Enabled: true, CallerType: "internal", Called: "^3", Action: "route", Target: "gateway:p1"},
			{Name: "short-4444", Enabled: true, CallerType: "internal", Called: "^$4444", Action: "map", Map: &routing.MapSpec{To: "3471234567"}},
			{Name: "did-root", Enabled: true, CallerType: "external", Called: "^073381188", Action: "map",
				Map: &routing.MapSpec{Strip: 9, Prepend: "20"}, Integration: true},
		},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestWithRouter runs the hooks through the real router: each hook changes
// its kind of decision, and errors and timeouts leave the built-in one.
func TestWithRouter(t *testing.T) {
	r := testRouter(t)
	check := func(company, target string) error { _, err := r.CheckTarget(company, target); return err }
	day := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)   // Monday, open
	night := time.Date(2026, 11, 23, 22, 0, 0, 0, time.UTC) // closed
	tests := []struct {
		name, src            string
		from, to, ct         string
		at                   time.Time
		target, number, hook string
		source               routing.Source
	}{
		{"no hook", "", "0612345", "0733811881", "external", day, "user:201", "201", "", routing.Builtin},
		{"on_route target", `function on_route(c, d) if c.from == "0612345" then return {target = "group:600", record = true} end end`,
			"0612345", "0733811881", "external", day, "group:600", "201", "", routing.Lua},
		{"on_route number target", `function on_route(c, d) return {target = "number:3471234567"} end`,
			"201", "202", "internal", day, "gateway:p1", "3471234567", "", routing.Lua},
		{"on_map", `function on_map(c, n, rule) if rule == "did-root" then return "202" end end`,
			"0612345", "0733811881", "external", day, "user:202", "202", "", routing.Builtin},
		{"on_offhours", `function on_offhours(c, d) return {target = "user:202"} end`,
			"0612345", "0733811720", "external", night, "user:202", "0733811720", "", routing.Lua},
		{"on_route error", `function on_route(c, d) error("crm down") end`,
			"0612345", "0733811881", "external", day, "user:201", "201", "crm down", routing.Builtin},
		{"on_route timeout", "function on_route(c, d)\n while true do end\nend",
			"0612345", "0733811881", "external", day, "user:201", "201", "budget", routing.Builtin},
		{"on_route dangling target", `function on_route(c, d) return {target = "user:999"} end`,
			"0612345", "0733811881", "external", day, "user:201", "201", "no extension 999", routing.Builtin},
		{"on_offhours error", `function on_offhours(c, d) return {record = "yes"} end`,
			"0612345", "0733811720", "external", night, "voicemail:201", "0733811720", "record", routing.Builtin},
		{"on_map error", `function on_map(c, n, r) return 5 end`,
			"0612345", "0733811881", "external", day, "user:201", "201", "numbers are strings", routing.Builtin},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := load(t, map[string]string{"h.lua": tc.src}, Options{CheckTarget: check, Timeout: 300 * time.Millisecond})
			ct, _ := routing.ParseCallerType(tc.ct)
			call := &routing.Call{ID: "x", Company: "acme", CallerType: ct, From: tc.from, To: tc.to, Time: tc.at}
			if ct == routing.Internal {
				call.Extension = tc.from
			} else {
				call.Trunk, call.DID = "p1", tc.to
			}
			var ex routing.Explanation
			d := r.Decide(call, p, &ex)
			if d.Target.String() != tc.target || d.Number != tc.number || d.Source != tc.source {
				t.Fatalf("decision = %s %s %s, want %s %s %s (explanation %+v)",
					d.Target, d.Number, d.Source, tc.target, tc.number, tc.source, ex)
			}
			joined := strings.Join(ex.HookErrors, "\n")
			if (tc.hook == "") != (joined == "") || !strings.Contains(joined, tc.hook) {
				t.Fatalf("hook errors = %q, want %q", joined, tc.hook)
			}
			if tc.hook != "" && !strings.Contains(joined, "h.lua:") {
				t.Fatalf("hook errors = %q, want file:line", joined)
			}
		})
	}
}

// TestCallTimeISOInCompanyZone: call.time_iso is written in the company's
// zone (Options.Location, wired to the router's), whatever zone the call's
// time came in: UTC for a live call and `luapbx route`, the company's zone
// or an explicit offset for `route --at`. A script reading the local hour
// from it sees the same hour in a dry run as in a live call.
func TestCallTimeISOInCompanyZone(t *testing.T) {
	rome := time.FixedZone("CET", 3600)
	r, err := routing.New(routing.Plan{Generation: 1, Companies: []routing.CompanySpec{{ID: "acme", Location: rome}}})
	if err != nil {
		t.Fatal(err)
	}
	instant := time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC)
	tests := []struct {
		name     string
		at       time.Time
		location func(string) *time.Location
		want     string
	}{
		{"live call (UTC)", instant, r.Location, "2026-11-23T10:30:00+01:00"},
		{"route --at, company zone", instant.In(rome), r.Location, "2026-11-23T10:30:00+01:00"},
		{"route --at, another offset", instant.In(time.FixedZone("", 5*3600)), r.Location, "2026-11-23T10:30:00+01:00"},
		{"unknown company: UTC", instant, func(string) *time.Location { return nil }, "2026-11-23T09:30:00+00:00"},
		{"no Location: as given", instant.In(rome), nil, "2026-11-23T10:30:00+01:00"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := load(t, map[string]string{"r.lua": `
function on_route(call, decision)
  pbx.kv_set("iso", call.time_iso)
  pbx.kv_set("hour", tonumber(call.time_iso:sub(12, 13)))
  pbx.kv_set("time", call.time)
end`}, Options{Location: tc.location})
			call := testCall()
			call.Time = tc.at
			if _, err := p.Route(call, testDecision()); err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			iso, _ := p.KV().Get("iso", now)
			hour, _ := p.KV().Get("hour", now)
			secs, _ := p.KV().Get("time", now)
			wantHour, _ := strconv.Atoi(tc.want[11:13])
			if iso != tc.want || hour != float64(wantHour) {
				t.Fatalf("call.time_iso = %v (hour %v), want %s", iso, hour, tc.want)
			}
			if secs != float64(instant.Unix()) {
				t.Fatalf("call.time = %v, want %d whatever the zone", secs, instant.Unix())
			}
		})
	}
}
