package routing

import (
	"errors"
	"strings"
	"testing"
)

func TestPlanErrors(t *testing.T) {
	rule := func(i int, f func(*RuleSpec)) func(*CompanySpec) {
		return func(c *CompanySpec) { f(&c.Rules[i]) }
	}
	tests := []struct {
		name   string
		change func(*CompanySpec)
		path   string
		msg    string
	}{
		{"company id", func(c *CompanySpec) { c.ID = "" }, "companies[0].id", "needs an id"},
		{"class pattern", func(c *CompanySpec) { c.Classes[1].Pattern = "^3a" }, "companies[0].classes.mobile", "bad pattern"},
		{"extension number twice", func(c *CompanySpec) { c.Extensions[1].Number = "201" }, "companies[0].extensions[1].number", "used twice"},
		{"extension number not digits", func(c *CompanySpec) { c.Extensions[1].Number = "2 02" }, "companies[0].extensions[1].number", "digits only"},
		{"extension right", func(c *CompanySpec) { c.Extensions[0].Rights = []string{"mobile", "moon"} }, "companies[0].extensions[0].rights[1]", `unknown class "moon"`},
		{"group number used by extension", func(c *CompanySpec) { c.Groups = []string{"202"} }, "companies[0].groups[0].number", "used twice"},
		{"ivr id", func(c *CompanySpec) { c.IVRs = append(c.IVRs, IVRSpec{ID: "main", Number: "701"}) }, "companies[0].ivrs[1].id", "used twice"},
		{"ivr number used by group", func(c *CompanySpec) { c.IVRs[0].Number = "600" }, "companies[0].ivrs[0].number", "used twice"},
		{"trunk twice", func(c *CompanySpec) { c.Trunks = append(c.Trunks, "p1") }, "companies[0].trunks[2].id", "used twice"},
		{"timetable days", func(c *CompanySpec) { c.Timetables[0].Weekly[0].Days = "mon-fry" }, "companies[0].timetables[0].weekly[0].days", "bad day"},
		{"timetable hours", func(c *CompanySpec) { c.Timetables[0].Weekly[0].Hours = "8-13" }, "companies[0].timetables[0].weekly[0].hours", "bad"},
		{"timetable holiday", func(c *CompanySpec) { c.Timetables[0].Holidays[1] = "26/12/2026" }, "companies[0].timetables[0].holidays[1]", "bad date"},
		{"timetable twice", func(c *CompanySpec) { c.Timetables = append(c.Timetables, TimetableSpec{ID: "office"}) }, "companies[0].timetables[1].id", "duplicate timetable"},
		{"offhours timetable", func(c *CompanySpec) { c.Offhours[0].Open = "nope" }, "companies[0].offhours[0].open", `unknown timetable "nope"`},
		{"offhours target", func(c *CompanySpec) { c.Offhours[0].Target = "voicemail:202" }, "companies[0].offhours[0].target", "has no voicemail"},
		{"rule name twice", rule(1, func(r *RuleSpec) { r.Name = "mobiles" }), "companies[0].rules[1].name", "duplicate rule name"},
		{"caller type", rule(0, func(r *RuleSpec) { r.CallerType = "inside" }), "companies[0].rules[0].caller_type", "bad caller_type"},
		{"called missing", rule(0, func(r *RuleSpec) { r.Called = "" }), "companies[0].rules[0].called", "needs a called pattern"},
		{"called bad", rule(0, func(r *RuleSpec) { r.Called = "^3?" }), "companies[0].rules[0].called", "bad pattern"},
		{"calling bad", rule(0, func(r *RuleSpec) { r.Calling = "^[2" }), "companies[0].rules[0].calling", "bad pattern"},
		{"timetable unknown", rule(0, func(r *RuleSpec) { r.Timetable = "nights" }), "companies[0].rules[0].timetable", `unknown timetable "nights"`},
		{"action", rule(0, func(r *RuleSpec) { r.Action = "forward" }), "companies[0].rules[0].action", "bad action"},
		{"target missing", rule(0, func(r *RuleSpec) { r.Target = "" }), "companies[0].rules[0].target", "needs a target"},
		{"target kind", rule(0, func(r *RuleSpec) { r.Target = "sip:201" }), "companies[0].rules[0].target", "unknown kind"},
		{"target unknown extension", rule(0, func(r *RuleSpec) { r.Target = "user:209" }), "companies[0].rules[0].target", "no extension 209"},
		{"target unknown group", rule(0, func(r *RuleSpec) { r.Target = "group:601" }), "companies[0].rules[0].target", "no group 601"},
		{"target unknown ivr", rule(0, func(r *RuleSpec) { r.Target = "ivr:night" }), "companies[0].rules[0].target", `no IVR "night"`},
		{"target unknown trunk", rule(0, func(r *RuleSpec) { r.Target = "gateway:p1,p9" }), "companies[0].rules[0].target", `no trunk "p9"`},
		{"target voicemail-less extension", rule(0, func(r *RuleSpec) { r.Target = "voicemail:203" }), "companies[0].rules[0].target", "has no voicemail"},
		{"target reject code", rule(0, func(r *RuleSpec) { r.Target = "reject:200" }), "companies[0].rules[0].target", "SIP code"},
		{"map on a route rule", rule(0, func(r *RuleSpec) { r.Map = &MapSpec{To: "1"} }), "companies[0].rules[0].map", "takes a target"},
		{"target on a map rule", rule(3, func(r *RuleSpec) { r.Target = "user:201" }), "companies[0].rules[3].target", "takes a map"},
		{"map missing", rule(3, func(r *RuleSpec) { r.Map = nil }), "companies[0].rules[3].map", "needs map"},
		{"map both", rule(3, func(r *RuleSpec) { r.Map = &MapSpec{To: "1", Strip: 1} }), "companies[0].rules[3].map", "not both"},
		{"map empty", rule(3, func(r *RuleSpec) { r.Map = &MapSpec{} }), "companies[0].rules[3].map", "needs to, strip or prepend"},
		{"map strip negative", rule(3, func(r *RuleSpec) { r.Map = &MapSpec{Strip: -1} }), "companies[0].rules[3].map.strip", "negative"},
		{"map to not a number", rule(3, func(r *RuleSpec) { r.Map = &MapSpec{To: "34a"} }), "companies[0].rules[3].map.to", "not a number"},
		{"map prepend not a number", rule(3, func(r *RuleSpec) { r.Map = &MapSpec{Prepend: "x"} }), "companies[0].rules[3].map.prepend", "not a number"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := basePlan()
			tc.change(&p.Companies[0])
			_, err := New(p)
			var errs Errors
			if !errors.As(err, &errs) || len(errs) != 1 {
				t.Fatalf("New = %v, want one PlanError", err)
			}
			if errs[0].Path != tc.path || !strings.Contains(errs[0].Err.Error(), tc.msg) {
				t.Errorf("got %s: %v; want %s: ...%s...", errs[0].Path, errs[0].Err, tc.path, tc.msg)
			}
			if errors.Unwrap(errs[0]) != errs[0].Err {
				t.Errorf("Unwrap does not give the cause")
			}
			if !strings.HasPrefix(err.Error(), tc.path+": ") {
				t.Errorf("Error() = %q", err.Error())
			}
		})
	}
	t.Run("duplicate company", func(t *testing.T) {
		p := basePlan()
		p.Companies = append(p.Companies, basePlan().Companies[0])
		_, err := New(p)
		var errs Errors
		if !errors.As(err, &errs) || len(errs) != 1 || errs[0].Path != "companies[1].id" {
			t.Fatalf("New = %v", err)
		}
	})
	t.Run("every problem at once", func(t *testing.T) {
		p := basePlan()
		c := &p.Companies[0]
		c.Rules[0].Target = "user:999"
		c.Rules[1].Called = "^0?"
		c.Rules[2].Timetable = "nope"
		c.Offhours[0].Open = "nope"
		_, err := New(p)
		var errs Errors
		if !errors.As(err, &errs) || len(errs) != 4 {
			t.Fatalf("New = %v, want 4 errors", err)
		}
		if len(strings.Split(err.Error(), "\n")) != 4 {
			t.Errorf("Error() should put one problem per line:\n%s", err)
		}
	})
	t.Run("rule without a name gets one", func(t *testing.T) {
		p := basePlan()
		p.Companies[0].Rules[0].Name = ""
		r := mustNew(t, p)
		d := r.Decide(internal(t, r, "201", "3471234567", monday10), nil, nil)
		if d.Rule != "rule-1" {
			t.Errorf("rule %q, want rule-1", d.Rule)
		}
	})
}

func TestParseTarget(t *testing.T) {
	good := []struct {
		in   string
		kind TargetKind
		arg  string
	}{
		{"user:201", TargetUser, "201"},
		{"group:600", TargetGroup, "600"},
		{"gateway:p1", TargetGateway, "p1"},
		{"gateway: p1 , p2", TargetGateway, "p1,p2"},
		{"ivr:main", TargetIVR, "main"},
		{"voicemail:201", TargetVoicemail, "201"},
		{"play:closed.wav", TargetPlay, "closed.wav"},
		{"reject:486", TargetReject, "486"},
		{"number:347 123-4567", TargetNumber, "3471234567"},
		{"app:echo", TargetApp, "echo"},
		{"app:tone", TargetApp, "tone"},
	}
	for _, tc := range good {
		t.Run(tc.in, func(t *testing.T) {
			tg, err := ParseTarget(tc.in)
			if err != nil || tg.Kind != tc.kind || tg.Arg != tc.arg {
				t.Fatalf("ParseTarget(%q) = %+v, %v", tc.in, tg, err)
			}
			if tg.Kind == TargetReject && tg.Code != 486 {
				t.Errorf("code %d", tg.Code)
			}
			back, err := ParseTarget(tg.String())
			if err != nil || back != tg {
				t.Errorf("round trip %q -> %+v, %v", tg.String(), back, err)
			}
		})
	}
	if tr := (Target{Kind: TargetGateway, Arg: "p2,p1"}).Trunks(); len(tr) != 2 || tr[0] != "p2" || tr[1] != "p1" {
		t.Errorf("Trunks() = %v", tr)
	}
	for _, bad := range []string{"", "user", "user:", "201", "sip:201", "reject:abc", "reject:200", "reject:700",
		"app:music", "gateway:p1,", "gateway:,p1", "number:34a"} {
		t.Run("bad "+bad, func(t *testing.T) {
			if _, err := ParseTarget(bad); err == nil {
				t.Errorf("ParseTarget(%q) accepted", bad)
			}
		})
	}
}

func TestCheckTarget(t *testing.T) {
	r := mustNew(t, basePlan())
	tests := []struct {
		target string
		ok     bool
	}{
		{"user:201", true}, {"user:209", false},
		{"group:600", true}, {"group:601", false},
		{"ivr:main", true}, {"ivr:700", false},
		{"gateway:p2,p1", true}, {"gateway:p3", false},
		{"voicemail:201", true}, {"voicemail:202", false}, {"voicemail:209", false},
		{"play:x.wav", true}, {"reject:486", true}, {"number:4444", true}, {"app:echo", true},
	}
	for _, tc := range tests {
		t.Run(tc.target, func(t *testing.T) {
			if _, err := r.CheckTarget("acme", tc.target); (err == nil) != tc.ok {
				t.Errorf("CheckTarget(%q) = %v, want ok %t", tc.target, err, tc.ok)
			}
		})
	}
	if _, err := r.CheckTarget("nope", "user:201"); err == nil {
		t.Error("CheckTarget accepted an unknown company")
	}
}
