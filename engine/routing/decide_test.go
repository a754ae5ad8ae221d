package routing

import (
	"fmt"
	"strings"
	"testing"
)

func TestCallingTieBreak(t *testing.T) {
	boss := route("boss-mobiles", "^3", "gateway:p2")
	boss.CallerType, boss.Calling = "internal", "^$203"
	team := route("team-mobiles", "^3", "gateway:p2,p1")
	team.CallerType, team.Calling = "internal", "^20"
	r := mustNew(t, withRules(basePlan(), boss, team))
	tests := []struct {
		from, rule string
	}{
		{"203", "boss-mobiles"}, // exact calling beats ^20 beats %
		{"201", "team-mobiles"},
		{"202", "team-mobiles"},
	}
	for _, tc := range tests {
		t.Run(tc.from, func(t *testing.T) {
			d, ex := decide(t, r, internal(t, r, tc.from, "3471234567", monday10), nil)
			if d.Rule != tc.rule {
				t.Fatalf("rule %s, want %s", d.Rule, tc.rule)
			}
			if c := candidate(t, ex, 0, "mobiles"); c.Won || !strings.Contains(c.Why, "calling number matched") {
				t.Errorf("mobiles should lose on the calling number: %+v", c)
			}
		})
	}
	// The called number comes first: a longer called match beats any calling match.
	r = mustNew(t, withRules(basePlan(), boss, route("mobile-347", "^347", "gateway:p1")))
	d, _ := decide(t, r, internal(t, r, "203", "3471234567", monday10), nil)
	if d.Rule != "mobile-347" {
		t.Errorf("rule %s, want mobile-347: called specificity comes before calling", d.Rule)
	}
}

func TestEqualScoreWrittenFirst(t *testing.T) {
	dup := route("mobiles-again", "^3", "gateway:p2")
	dup.CallerType = "internal"
	t.Run("existing rule first", func(t *testing.T) {
		r := mustNew(t, withRules(basePlan(), dup))
		d, ex := decide(t, r, internal(t, r, "201", "3471234567", monday10), nil)
		if d.Rule != "mobiles" {
			t.Fatalf("rule %s, want mobiles (written first)", d.Rule)
		}
		contains(t, candidate(t, ex, 0, "mobiles").Why, "same score as mobiles-again", "written first")
		contains(t, candidate(t, ex, 0, "mobiles-again").Why, "lost to mobiles", "same score", "written first")
	})
	t.Run("duplicate written first", func(t *testing.T) {
		p := basePlan()
		p.Companies[0].Rules = append([]RuleSpec{dup}, p.Companies[0].Rules...)
		r := mustNew(t, p)
		d, _ := decide(t, r, internal(t, r, "201", "3471234567", monday10), nil)
		if d.Rule != "mobiles-again" {
			t.Fatalf("rule %s, want mobiles-again (written first)", d.Rule)
		}
	})
	t.Run("class patterns of equal specificity", func(t *testing.T) {
		r := mustNew(t, withRules(basePlan(), route("a", "^34X", "gateway:p1"), route("b", "^3X7", "gateway:p2")))
		d, _ := decide(t, r, internal(t, r, "201", "3471234567", monday10), nil)
		if d.Rule != "a" {
			t.Fatalf("rule %s, want a (written first)", d.Rule)
		}
	})
}

func TestExplicitBeatsImplicit(t *testing.T) {
	vm := route("201-to-voicemail", "^$201", "voicemail:201")
	r := mustNew(t, withRules(basePlan(), vm))
	d, ex := decide(t, r, internal(t, r, "202", "201", monday10), nil)
	check(t, d, ex, want{"voicemail:201", "201", "201-to-voicemail", 0})
	imp := candidate(t, ex, 0, "ext:201")
	if !imp.Implicit || imp.Won || !strings.Contains(imp.Why, "explicit rule beats the implicit one") {
		t.Errorf("implicit candidate = %+v", imp)
	}
	contains(t, candidate(t, ex, 0, "201-to-voicemail").Why, "explicit rule beats an implicit one")

	// Implicit rules serve every caller type and every entity kind.
	for _, tc := range []struct{ to, target, rule string }{
		{"202", "user:202", "ext:202"}, {"600", "group:600", "group:600"}, {"700", "ivr:main", "ivr:main"},
	} {
		t.Run(tc.to, func(t *testing.T) {
			for _, c := range []*Call{internal(t, r, "201", tc.to, monday10), external(t, r, "3339998888", tc.to, monday10)} {
				d, ex := decide(t, r, c, nil)
				check(t, d, ex, want{tc.target, tc.to, tc.rule, 0})
			}
		})
	}
}

func TestCallerTypeSeparation(t *testing.T) {
	anyRule := route("any-555", "^555", "gateway:p2")
	r := mustNew(t, withRules(basePlan(), anyRule))
	t.Run("internal rules never serve external callers", func(t *testing.T) {
		d, ex := decide(t, r, external(t, r, "3339998888", "3471234567", monday10), nil)
		check(t, d, ex, want{"reject:404", "3471234567", "", 0})
		if c := candidate(t, ex, 0, "mobiles"); c.Matched || c.Why != "serves internal callers only" {
			t.Errorf("mobiles candidate = %+v", c)
		}
	})
	t.Run("external rules never serve internal callers", func(t *testing.T) {
		d, ex := decide(t, r, internal(t, r, "201", "0733811881", monday10), nil)
		check(t, d, ex, want{"gateway:p1", "0733811881", "national", 0})
		if c := candidate(t, ex, 0, "did-root"); c.Matched || c.Why != "serves external callers only" {
			t.Errorf("did-root candidate = %+v", c)
		}
	})
	t.Run("any serves both", func(t *testing.T) {
		for _, c := range []*Call{internal(t, r, "201", "5551", monday10), external(t, r, "3339998888", "5551", monday10)} {
			d, ex := decide(t, r, c, nil)
			check(t, d, ex, want{"gateway:p2", "5551", "any-555", 0})
		}
	})
}

func TestRights(t *testing.T) {
	r := mustNew(t, basePlan())
	tests := []struct {
		name, from, to string
		target, class  string
	}{
		{"mobile allowed", "201", "3471234567", "gateway:p1", "mobile"},
		{"national allowed", "201", "0612345678", "gateway:p1", "national"},
		{"international refused: ^00 beats ^0", "201", "0044123456", "reject:403", "international"},
		{"international allowed", "203", "0044123456", "gateway:p2,p1", "international"},
		{"no rights at all", "202", "3471234567", "reject:403", "mobile"},
		{"rights apply after a map", "202", "4444", "reject:403", "mobile"},
		{"extensions need no rights", "202", "201", "user:201", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, ex := decide(t, r, internal(t, r, tc.from, tc.to, monday10), nil)
			if d.Target.String() != tc.target || d.Class != tc.class {
				t.Fatalf("target %s class %q, want %s %q\n%s", d.Target, d.Class, tc.target, tc.class, NewReport(d, ex).Text())
			}
			if tc.target == "reject:403" {
				contains(t, ex.Rights, " "+tc.class+" number", "extension "+tc.from+" may call")
			}
		})
	}
	t.Run("not for external callers", func(t *testing.T) {
		out := route("out", "^3", "gateway:p1")
		out.CallerType = "external"
		r := mustNew(t, withRules(basePlan(), out))
		d, _ := decide(t, r, external(t, r, "3339998888", "3471234567", monday10), nil)
		if d.Target.String() != "gateway:p1" {
			t.Errorf("target %s, want gateway:p1", d.Target)
		}
	})
	t.Run("PBX entity without rights", func(t *testing.T) {
		c := &Call{Company: "acme", CallerType: Internal, From: "700", To: "3471234567", Time: at(t, monday10)}
		if d := r.Decide(c, nil, nil); d.Target.String() != "gateway:p1" {
			t.Errorf("target %s, want gateway:p1", d.Target)
		}
	})
	t.Run("extension not named: the calling number counts", func(t *testing.T) {
		c := &Call{Company: "acme", CallerType: Internal, From: "202", To: "3471234567", Time: at(t, monday10)}
		if d := r.Decide(c, nil, nil); d.Target != Reject(403) {
			t.Errorf("target %s, want reject:403", d.Target)
		}
	})
}

// chain returns map rules n0 -> n1 -> ... -> n<maps>, then a route of the last.
func chain(maps int, last string) []RuleSpec {
	var rules []RuleSpec
	for i := 0; i < maps; i++ {
		rules = append(rules, RuleSpec{Name: fmt.Sprintf("hop%d", i), Enabled: true, Called: fmt.Sprintf("^$90%02d", i),
			Action: "map", Map: &MapSpec{To: fmt.Sprintf("90%02d", i+1)}})
	}
	return append(rules, route("end", fmt.Sprintf("^$90%02d", maps), last))
}

func TestMapLoops(t *testing.T) {
	tests := []struct {
		name  string
		rules []RuleSpec
		want  want
	}{
		{"8 maps are fine", chain(8, "user:202"), want{"user:202", "9008", "end", 8}},
		{"9 maps are a loop", chain(9, "user:202"), want{"reject:482", "9009", "hop8", 9}},
		{"two rules mapping to each other", []RuleSpec{
			{Name: "a", Enabled: true, Called: "^$5551", Action: "map", Map: &MapSpec{To: "5552"}},
			{Name: "b", Enabled: true, Called: "^$5552", Action: "map", Map: &MapSpec{To: "5551"}},
		}, want{"reject:482", "5552", "a", 9}},
		{"number: targets count as maps", []RuleSpec{
			route("a", "^$5551", "number:5552"), route("b", "^$5552", "number:5551"),
		}, want{"reject:482", "5552", "a", 9}},
		{"a map to itself", []RuleSpec{
			{Name: "self", Enabled: true, Called: "^$5551", Action: "map", Map: &MapSpec{To: "5551"}},
		}, want{"reject:482", "5551", "self", 9}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := mustNew(t, withRules(basePlan(), tc.rules...))
			d, ex := decide(t, r, internal(t, r, "201", strings.TrimPrefix(tc.rules[0].Called, "^$"), monday10), nil)
			check(t, d, ex, tc.want)
			if len(ex.Maps) != tc.want.maps {
				t.Errorf("explanation lists %d maps, want %d", len(ex.Maps), tc.want.maps)
			}
			if tc.want.target == "reject:482" {
				contains(t, strings.Join(ex.Notes, "\n"), "more than 8 maps")
			}
		})
	}
}

func TestNumberTarget(t *testing.T) {
	r := mustNew(t, withRules(basePlan(), route("alias", "^$5000", "number:4444"), route("reception-alias", "^$5001", "number:700")))
	d, ex := decide(t, r, internal(t, r, "201", "5000", monday10), nil)
	check(t, d, ex, want{"gateway:p1", "3471234567", "mobiles", 2})
	if len(ex.Maps) != 2 || ex.Maps[0] != (MapStep{"alias", "5000", "4444"}) || ex.Maps[1].Rule != "short-4444" {
		t.Errorf("maps = %+v", ex.Maps)
	}
	d, ex = decide(t, r, internal(t, r, "201", "5001", monday10), nil)
	check(t, d, ex, want{"ivr:main", "700", "ivr:main", 1})
}

func TestStripPrepend(t *testing.T) {
	r := mustNew(t, withRules(basePlan(),
		RuleSpec{Name: "strip-all", Enabled: true, Called: "^$88", Action: "map", Map: &MapSpec{Strip: 5, Prepend: "600"}},
		RuleSpec{Name: "strip-only", Enabled: true, Called: "^77", Action: "map", Map: &MapSpec{Strip: 2}},
		RuleSpec{Name: "prepend-only", Enabled: true, Called: "^$47", Action: "map", Map: &MapSpec{Prepend: "3"}},
	))
	tests := []struct {
		to   string
		want want
	}{
		{"88", want{"group:600", "600", "group:600", 1}}, // strip longer than the number
		{"77202", want{"user:202", "202", "ext:202", 1}}, // strip only
		{"47", want{"gateway:p1", "347", "mobiles", 1}},  // prepend only
	}
	for _, tc := range tests {
		t.Run(tc.to, func(t *testing.T) {
			d, ex := decide(t, r, internal(t, r, "201", tc.to, monday10), nil)
			check(t, d, ex, tc.want)
		})
	}
}

func TestOffhours(t *testing.T) {
	r := mustNew(t, basePlan())
	tests := []struct {
		name     string
		ext      bool
		to, when string
		want     want
		offhours string
	}{
		{"open: the rules decide", true, "0733811720", "2026-11-23T10:00", want{"ivr:main", "0733811720", "reception", 0}, ""},
		{"evening: voicemail", true, "0733811720", "2026-11-23T20:00", want{"voicemail:201", "0733811720", "", 0}, "night"},
		{"lunch break: voicemail", true, "0733-811-720", "2026-11-23T13:30", want{"voicemail:201", "0733811720", "", 0}, "night"},
		{"holiday: voicemail", true, "0733811720", "2026-12-25T10:00", want{"voicemail:201", "0733811720", "", 0}, "night"},
		{"DID not listed: the rules decide", true, "0733811881", "2026-11-23T20:00", want{"user:201", "201", "ext:201", 1}, ""},
		{"internal calls ignore off-hours", false, "0733811720", "2026-11-23T20:00", want{"gateway:p1", "0733811720", "national", 0}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var c *Call
			if tc.ext {
				c = external(t, r, "3339998888", tc.to, tc.when)
			} else {
				c = internal(t, r, "201", tc.to, tc.when)
			}
			d, ex := decide(t, r, c, nil)
			check(t, d, ex, tc.want)
			if d.Offhours != tc.offhours {
				t.Errorf("offhours %q, want %q", d.Offhours, tc.offhours)
			}
			if tc.ext && (len(ex.OffhoursChecks) != 1 || ex.OffhoursChecks[0].Applied != (tc.offhours != "")) {
				t.Errorf("offhours checks = %+v", ex.OffhoursChecks)
			}
			if !tc.ext && len(ex.OffhoursChecks) != 0 {
				t.Errorf("an internal call checked off-hours: %+v", ex.OffhoursChecks)
			}
		})
	}
	t.Run("holiday is named", func(t *testing.T) {
		_, ex := decide(t, r, external(t, r, "3339998888", "0733811720", "2026-12-25T10:00"), nil)
		contains(t, ex.OffhoursChecks[0].Why, "holiday", "voicemail:201")
	})
	t.Run("the DID the trunk gave counts", func(t *testing.T) {
		c := external(t, r, "3339998888", "201", "2026-11-23T20:00")
		c.DID = "0733811720"
		d, _ := decide(t, r, c, nil)
		if d.Offhours != "night" {
			t.Errorf("offhours %q, want night", d.Offhours)
		}
	})
	t.Run("every DID when none listed, number: target routes", func(t *testing.T) {
		p := basePlan()
		p.Companies[0].Offhours = []OffhoursSpec{
			{Name: "all", Open: "office", Target: "number:4444"},
		}
		p = withRules(p, RuleSpec{Name: "ext-4444", Enabled: true, CallerType: "external", Called: "^$4444",
			Action: "route", Target: "group:600"})
		r := mustNew(t, p)
		for _, to := range []string{"0733811720", "0612345678", "201"} {
			d, ex := decide(t, r, external(t, r, "3339998888", to, "2026-11-28T10:00"), nil)
			check(t, d, ex, want{"group:600", "4444", "ext-4444", 1})
			if d.Offhours != "all" || len(ex.Maps) != 1 || ex.Maps[0].Rule != "offhours all" {
				t.Errorf("offhours %q maps %+v", d.Offhours, ex.Maps)
			}
		}
		d, _ := decide(t, r, external(t, r, "3339998888", "201", "2026-11-23T10:00"), nil)
		if d.Offhours != "" || d.Target.String() != "user:201" {
			t.Errorf("inside open hours: %+v", d)
		}
	})
}

func TestUnknownCompanyAndNoMatch(t *testing.T) {
	r := mustNew(t, basePlan())
	var ex Explanation
	d := r.Decide(&Call{Company: "nope", To: "201", Time: at(t, monday10)}, nil, &ex)
	if d.Target != Reject(404) || !strings.Contains(strings.Join(ex.Notes, ""), `unknown company "nope"`) {
		t.Errorf("unknown company: %+v %+v", d, ex.Notes)
	}
	d, ex = decide(t, r, internal(t, r, "201", "999", monday10), nil)
	if d.Target != Reject(404) || !strings.Contains(strings.Join(ex.Notes, ""), "no rule matches 999") {
		t.Errorf("no match: %+v %+v", d, ex.Notes)
	}
}

func TestDisabledRule(t *testing.T) {
	off := route("off-347", "^347", "gateway:p2")
	off.Enabled = false
	r := mustNew(t, withRules(basePlan(), off))
	d, ex := decide(t, r, internal(t, r, "201", "3471234567", monday10), nil)
	if d.Rule != "mobiles" {
		t.Errorf("rule %s, want mobiles", d.Rule)
	}
	if c := candidate(t, ex, 0, "off-347"); c.Matched || c.Why != "disabled" {
		t.Errorf("disabled candidate = %+v", c)
	}
}

func TestClassify(t *testing.T) {
	p := basePlan()
	other := CompanySpec{ID: "beta", Extensions: []ExtensionSpec{{Number: "301"}}, Trunks: []string{"b1"}}
	p.Companies = append(p.Companies, other)
	r := mustNew(t, p)
	tests := []struct {
		name                 string
		call                 Call
		company              string
		wantCompany, wantExt string
		wantType             CallerType
		wantErr              bool
	}{
		{"extension", Call{From: "201", To: "202"}, "", "acme", "201", Internal, false},
		{"extension of the second company", Call{From: "301", To: "202"}, "", "beta", "301", Internal, false},
		{"trunk", Call{From: "3331", To: "0733811720", Trunk: "b1"}, "", "beta", "", External, false},
		{"unknown trunk", Call{From: "3331", To: "1", Trunk: "zz"}, "", "", "", Any, true},
		{"unknown caller, company given", Call{From: "3331", To: "201"}, "acme", "acme", "", External, false},
		{"unknown caller, two companies", Call{From: "3331", To: "201"}, "", "", "", Any, true},
		{"unknown company", Call{From: "201", To: "201"}, "zeta", "", "", Any, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.call
			err := r.Classify(&c, tc.company)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			if err == nil && (c.Company != tc.wantCompany || c.Extension != tc.wantExt || c.CallerType != tc.wantType) {
				t.Errorf("got %s %s %s", c.Company, c.Extension, c.CallerType)
			}
		})
	}
	c := &Call{From: "3331", To: "301", Trunk: "b1", Time: at(t, monday10)}
	if err := r.Classify(c, ""); err != nil {
		t.Fatal(err)
	}
	if d := r.Decide(c, nil, nil); d.Target.String() != "user:301" || d.Rule != "ext:301" {
		t.Errorf("second company decision = %+v", d)
	}
	if d := r.Decide(&Call{Company: "zeta", To: "301"}, nil, nil); d.Target != Reject(404) {
		t.Errorf("unknown company among several = %+v", d)
	}
	if got := r.Companies(); len(got) != 2 || got[0] != "acme" || got[1] != "beta" {
		t.Errorf("Companies() = %v", got)
	}
	if r.Location("acme") != rome || r.Location("beta").String() != "UTC" || r.Generation() != 7 {
		t.Errorf("Location/Generation wrong")
	}
}

// A Router is shared by every call: deciding concurrently must be safe
// (run with -race) and give the same answers.
func TestDecideConcurrent(t *testing.T) {
	r := mustNew(t, basePlan())
	calls := []*Call{
		internal(t, r, "201", "4444", monday10), internal(t, r, "202", "3471234567", monday10),
		external(t, r, "333", "0733811720", "2026-11-23T20:00"), external(t, r, "333", "0733811882", monday10),
	}
	want := make([]Decision, len(calls))
	for i, c := range calls {
		want[i] = r.Decide(c, nil, nil)
	}
	errs := make(chan string, 8)
	done := make(chan struct{})
	for g := 0; g < 8; g++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for n := 0; n < 200; n++ {
				i := (g + n) % len(calls)
				var ex Explanation
				if d := r.Decide(calls[i], nil, &ex); d != want[i] {
					errs <- fmt.Sprintf("call %d: %+v, want %+v", i, d, want[i])
					return
				}
			}
		}()
	}
	for g := 0; g < 8; g++ {
		<-done
	}
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
