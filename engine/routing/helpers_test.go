package routing

import (
	"strings"
	"testing"
	"time"
)

// rome is the zone of the test company; the tests need tzdata.
var rome = mustLoc("Europe/Rome")

func mustLoc(name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return l
}

// basePlan is the DESIGN.md example company, with every entity kind.
func basePlan() Plan {
	return Plan{Generation: 7, Companies: []CompanySpec{{
		ID: "acme", Location: rome,
		Classes: []ClassSpec{{"international", "^00"}, {"mobile", "^3"}, {"national", "^0"}},
		Extensions: []ExtensionSpec{
			{Number: "201", Rights: []string{"national", "mobile"}, Voicemail: true},
			{Number: "202"},
			{Number: "203", Rights: []string{"international", "national", "mobile"}},
		},
		Groups: []string{"600"},
		IVRs:   []IVRSpec{{ID: "main", Number: "700"}},
		Trunks: []string{"p1", "p2"},
		Timetables: []TimetableSpec{
			{ID: "office", Weekly: []WeeklySpec{{"mon-fri", "08:30-13:00,14:00-18:00"}},
				Holidays: []string{"2026-12-25", "2026-12-26"}},
		},
		Offhours: []OffhoursSpec{{Name: "night", Open: "office", DIDs: []string{"0733811720"}, Target: "voicemail:201"}},
		Rules: []RuleSpec{
			{Name: "mobiles", Enabled: true, CallerType: "internal", Called: "^3", Action: "route", Target: "gateway:p1"},
			{Name: "national", Enabled: true, CallerType: "internal", Called: "^0", Action: "route", Target: "gateway:p1"},
			{Name: "international", Enabled: true, CallerType: "internal", Called: "^00", Action: "route", Target: "gateway:p2,p1"},
			{Name: "short-4444", Enabled: true, CallerType: "internal", Called: "^$4444", Action: "map", Map: &MapSpec{To: "3471234567"}},
			{Name: "did-root", Enabled: true, CallerType: "external", Called: "^073381188", Action: "map",
				Map: &MapSpec{Strip: 9, Prepend: "20"}, Integration: true, Record: true},
			{Name: "reception", Enabled: true, CallerType: "external", Called: "^$0733811720", Action: "route", Target: "ivr:main"},
		},
	}}}
}

// withRules returns p with rules appended to its first company.
func withRules(p Plan, rules ...RuleSpec) Plan {
	co := &p.Companies[0]
	co.Rules = append(append([]RuleSpec(nil), co.Rules...), rules...)
	return p
}

func route(name, called, target string) RuleSpec {
	return RuleSpec{Name: name, Enabled: true, Called: called, Action: "route", Target: target}
}

func mustNew(t testing.TB, p Plan) *Router {
	t.Helper()
	r, err := New(p)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r
}

// at parses a local time of the test company ("2026-11-23T10:00" is a Monday).
func at(t testing.TB, s string) time.Time {
	t.Helper()
	tm, err := time.ParseInLocation("2006-01-02T15:04", s, rome)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

const monday10 = "2026-11-23T10:00"

// internal is a call from extension from; external a call in through trunk p1.
func internal(t testing.TB, r *Router, from, to, when string) *Call {
	t.Helper()
	c := &Call{From: from, To: to, Time: at(t, when)}
	if err := r.Classify(c, ""); err != nil {
		t.Fatal(err)
	}
	if c.CallerType != Internal {
		t.Fatalf("call from %s is %s, want internal", from, c.CallerType)
	}
	return c
}

func external(t testing.TB, r *Router, from, to, when string) *Call {
	t.Helper()
	c := &Call{From: from, To: to, Trunk: "p1", Time: at(t, when)}
	if err := r.Classify(c, ""); err != nil {
		t.Fatal(err)
	}
	if c.CallerType != External {
		t.Fatalf("call via trunk is %s, want external", c.CallerType)
	}
	return c
}

// decide decides with and without an explanation, checks both agree, and
// returns the decision and the explanation.
func decide(t testing.TB, r *Router, c *Call, h Hooks) (Decision, Explanation) {
	t.Helper()
	plain := r.Decide(c, h, nil)
	var ex Explanation
	d := r.Decide(c, h, &ex)
	if d != plain {
		t.Fatalf("decision with explanation %+v differs from without %+v", d, plain)
	}
	return d, ex
}

// want is the part of a decision a table test checks.
type want struct {
	target, number, rule string
	maps                 int
}

func check(t *testing.T, d Decision, ex Explanation, w want) {
	t.Helper()
	if d.Target.String() != w.target || d.Number != w.number || d.Rule != w.rule || d.Maps != w.maps {
		t.Errorf("got target %q number %q rule %q maps %d; want target %q number %q rule %q maps %d\n%s",
			d.Target, d.Number, d.Rule, d.Maps, w.target, w.number, w.rule, w.maps, NewReport(d, ex).Text())
	}
}

// candidate finds a rule among the explanation's candidates of a step.
func candidate(t *testing.T, ex Explanation, step int, rule string) Candidate {
	t.Helper()
	for _, c := range ex.Candidates {
		if c.Step == step && c.Rule == rule {
			return c
		}
	}
	t.Fatalf("rule %s is not a candidate of step %d: %+v", rule, step, ex.Candidates)
	return Candidate{}
}

func contains(t *testing.T, s string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(s, p) {
			t.Errorf("missing %q in:\n%s", p, s)
		}
	}
}
