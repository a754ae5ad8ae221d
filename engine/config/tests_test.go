package config

import (
	"errors"
	"strings"
	"testing"
	"time"

	"luapbx/engine/routing"
)

// runnerPlan has a timetable so that `at` matters: open 09:00-13:00 and
// 14:00-18:00 Rome time on weekdays; 2026-11-23 is a Monday (UTC+1).
const runnerPlan = `companies:
  - id: acme
    timezone: Europe/Rome
    classes: {mobile: "^3"}
    extensions:
      - {number: "201", password: alice201, voicemail: true, rights: [mobile]}
      - {number: "202", password: bobby202}
    trunks: [{id: p1, host: "127.0.0.1:5070"}]
    timetables: [{id: office, weekly: [{days: mon-fri, hours: "09:00-13:00,14:00-18:00"}], holidays: ["2026-12-25"]}]
    offhours: [{name: night, open: office, target: "voicemail:201"}]
    rules:
      - {name: mobiles, caller_type: internal, called: "^3", target: "gateway:p1"}
      - {name: in, caller_type: external, called: "^$0733811720", target: "user:202", integration: true}
tests:
  - {name: passes, from: "201", to: "3471234567", expect: {target: "gateway:p1", rule: mobiles, record: false, source: builtin}}
  - {name: fails, from: "202", to: "3471234567", expect: {target: "gateway:p1", number: "3471234567"}}
  - {name: local noon is open, from: "0612345678", trunk: p1, to: "0733811720", at: "2026-11-23T12:00",
     expect: {target: "user:202", offhours: "false", integration: true}}
  - {name: noon UTC is the lunch break, from: "0612345678", trunk: p1, to: "0733811720", at: "2026-11-23T12:00:00Z",
     expect: {target: "voicemail:201", offhours: night}}
  - {name: christmas, from: "0612345678", trunk: p1, to: "0733811720", at: "2026-12-25 10:00", expect: {offhours: "true"}}
`

func loadRunner(t *testing.T, doc string) (*Config, *routing.Router) {
	t.Helper()
	cfg := mustLoad(t, writeFile(t, planDir(t), "pbx.yaml", doc))
	r, err := cfg.Router(7)
	if err != nil {
		t.Fatalf("router: %v", err)
	}
	return cfg, r
}

func TestRunTests(t *testing.T) {
	cfg, r := loadRunner(t, runnerPlan)
	res := RunTests(cfg, r, nil)
	if len(res) != 5 {
		t.Fatalf("%d results, want 5", len(res))
	}
	wantPass := []bool{true, false, true, true, true}
	for i, tr := range res {
		if tr.Pass != wantPass[i] || tr.Err != nil {
			t.Errorf("%s: pass %v err %v, want pass %v\n%s", tr.Name, tr.Pass, tr.Err, wantPass[i], tr.Text())
		}
	}
	if Failures(res) != 1 {
		t.Errorf("Failures = %d, want 1", Failures(res))
	}
	if got, want := res[0].Text(), "ok   "+cfg.File+":15: passes\n"; got != want {
		t.Errorf("passing text %q, want %q", got, want)
	}
	fail := res[1]
	if want := []Mismatch{{Field: "target", Want: "gateway:p1", Got: "reject:403"}}; len(fail.Mismatches) != 1 || fail.Mismatches[0] != want[0] {
		t.Errorf("mismatches %+v, want %+v", fail.Mismatches, want)
	}
	text := fail.Text()
	for _, want := range []string{
		"FAIL " + cfg.File + ":16: fails\n",
		"     target: want gateway:p1, got reject:403\n",
		"     what happened:\n",
		"Decision: reject with SIP 403",
		"extension 202 may not call mobile numbers",
		"config generation 7",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("failing text lacks %q:\n%s", want, text)
		}
	}
	if fail.Report.Generation != 7 || fail.Report.Number != "3471234567" {
		t.Errorf("report = %+v", fail.Report)
	}
}

func TestRunTestsCannotRun(t *testing.T) {
	doc := strings.Replace(runnerPlan, "tests:\n", `  - id: other
    extensions: [{number: "301", password: other301}]
tests:
`, 1)
	doc = doc[:strings.Index(doc, "tests:\n")+len("tests:\n")] +
		"  - {name: who, from: \"0612345678\", to: \"201\", expect: {target: \"user:201\"}}\n"
	cfg, r := loadRunner(t, doc)
	res := RunTests(cfg, r, nil)
	if len(res) != 1 || res[0].Pass || res[0].Err == nil {
		t.Fatalf("results %+v, want one that cannot run", res)
	}
	if text := res[0].Text(); !strings.HasPrefix(text, "FAIL "+cfg.File+":17: who\n     cannot run: ") || !strings.Contains(text, "--company") {
		t.Errorf("text %q", text)
	}
}

// fakeHooks sends every call to Bob, the way a Lua on_route might.
type fakeHooks struct{ routeErr error }

func (fakeHooks) Offhours(*routing.Call, *routing.Decision) (routing.Change, error) {
	return routing.Change{}, nil
}
func (fakeHooks) Map(_ *routing.Call, number, _ string) (string, error) { return number, nil }
func (f fakeHooks) Route(*routing.Call, *routing.Decision) (routing.Change, error) {
	return routing.Change{Target: "user:202"}, f.routeErr
}

func TestRunTestsWithHooks(t *testing.T) {
	doc := runnerPlan[:strings.Index(runnerPlan, "tests:\n")] + `tests:
  - {name: lua decides, from: "201", to: "3471234567", expect: {target: "user:202", source: lua}}
`
	cfg, r := loadRunner(t, doc)
	tests := []struct {
		name  string
		hooks routing.Hooks
		pass  bool
	}{
		{"without hooks", nil, false},
		{"with hooks", fakeHooks{}, true},
		{"hook error keeps the built-in decision", fakeHooks{routeErr: errors.New("boom")}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := RunTests(cfg, r, tt.hooks)
			if len(res) != 1 || res[0].Pass != tt.pass {
				t.Fatalf("pass = %v, want %v\n%s", res[0].Pass, tt.pass, res[0].Text())
			}
		})
	}
}

func TestParseAt(t *testing.T) {
	rome, err := time.LoadLocation("Europe/Rome")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in   string
		want time.Time
		bad  bool
	}{
		{in: "2026-11-23T10:00", want: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)},
		{in: "2026-11-23T10:00:30", want: time.Date(2026, 11, 23, 9, 0, 30, 0, time.UTC)},
		{in: "2026-07-01 10:00", want: time.Date(2026, 7, 1, 8, 0, 0, 0, time.UTC)}, // summer time
		{in: "2026-12-25", want: time.Date(2026, 12, 24, 23, 0, 0, 0, time.UTC)},
		{in: "2026-11-23T10:00:00Z", want: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)},
		{in: "2026-11-23T10:00+05:30", want: time.Date(2026, 11, 23, 4, 30, 0, 0, time.UTC)},
		{in: "23/11/2026 10:00", bad: true},
		{in: "", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseAt(tt.in, rome)
			if tt.bad {
				if err == nil {
					t.Fatalf("ParseAt(%q) = %v, want an error", tt.in, got)
				}
				return
			}
			if err != nil || !got.Equal(tt.want) {
				t.Errorf("ParseAt(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}
