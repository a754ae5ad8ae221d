package routing

import "testing"

// The examples of the VOIspeed routing document (seeds/004), one by one.
func TestVOIspeedExamples(t *testing.T) {
	p := withRules(basePlan(),
		route("mobile-347", "^347", "gateway:p2"),
		route("milan", "^02", "gateway:p1"),
		route("milan-02123", "^02123", "gateway:p2"),
		route("telecom", "^$187", "gateway:p1"),
		route("exact-after", "^123$", "gateway:p2"),
		route("rome", "^06", "gateway:p2"),
		route("italy", "^+39", "gateway:p2"),
	)
	r := mustNew(t, p)
	tests := []struct {
		name     string
		from, to string
		want     want
	}{
		{"347 beats 3", "201", "3471234567", want{"gateway:p2", "3471234567", "mobile-347", 0}},
		{"3 without 347", "201", "3401234567", want{"gateway:p1", "3401234567", "mobiles", 0}},
		{"02123 beats 02", "201", "02123456789", want{"gateway:p2", "02123456789", "milan-02123", 0}},
		{"02 without 02123", "201", "0298765432", want{"gateway:p1", "0298765432", "milan", 0}},
		{"06 rome beats 0", "201", "0612345678", want{"gateway:p2", "0612345678", "rome", 0}},
		{"0 national", "201", "0733123456", want{"gateway:p1", "0733123456", "national", 0}},
		{"00 international beats 0", "203", "0044123456", want{"gateway:p2,p1", "0044123456", "international", 0}},
		{"+39 prefix", "201", "+390612345", want{"gateway:p2", "+390612345", "italy", 0}},
		{"^$187 matches 187", "201", "187", want{"gateway:p1", "187", "telecom", 0}},
		{"^$187 does not match 1870", "201", "1870", want{"reject:404", "1870", "", 0}},
		{"^$187 does not match 18", "201", "18", want{"reject:404", "18", "", 0}},
		{"^123$ matches 123", "201", "123", want{"gateway:p2", "123", "exact-after", 0}},
		{"^123$ does not match 1234", "201", "1234", want{"reject:404", "1234", "", 0}},
		{"short number 4444 maps then routes via the 347 rule", "201", "4444", want{"gateway:p2", "3471234567", "mobile-347", 1}},
		{"spaces dashes dots dropped", "201", "340 123-45.67", want{"gateway:p1", "3401234567", "mobiles", 0}},
		{"parentheses dropped", "201", "(02) 123.456-789", want{"gateway:p2", "02123456789", "milan-02123", 0}},
		{"normalized short number", "201", "44-44", want{"gateway:p2", "3471234567", "mobile-347", 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, ex := decide(t, r, internal(t, r, tc.from, tc.to, monday10), nil)
			check(t, d, ex, tc.want)
		})
	}
}

// The short number of the document: 4444 maps to 3471234567 and is routed
// again, through the plain mobiles rule when there is no 347 rule.
func TestShortNumberMap(t *testing.T) {
	r := mustNew(t, basePlan())
	d, ex := decide(t, r, internal(t, r, "201", "4444", monday10), nil)
	check(t, d, ex, want{"gateway:p1", "3471234567", "mobiles", 1})
	if len(ex.Maps) != 1 || ex.Maps[0] != (MapStep{Rule: "short-4444", From: "4444", To: "3471234567"}) {
		t.Errorf("maps = %+v", ex.Maps)
	}
	if c := candidate(t, ex, 1, "mobiles"); !c.Won || c.Number != "3471234567" {
		t.Errorf("step 1 mobiles candidate = %+v", c)
	}
	if d.Class != "mobile" {
		t.Errorf("class = %q, want mobile", d.Class)
	}
}

// The pass-through root ^073381188: strip 9, prepend 20 reaches the
// extension, whose implicit rule routes it.
func TestPassThroughRoot(t *testing.T) {
	r := mustNew(t, basePlan())
	tests := []struct {
		name, to string
		want     want
	}{
		{"881 to 201", "0733811881", want{"user:201", "201", "ext:201", 1}},
		{"882 to 202", "0733811882", want{"user:202", "202", "ext:202", 1}},
		{"883 to 203", "07338118 83", want{"user:203", "203", "ext:203", 1}},
		{"889 to nothing", "0733811889", want{"reject:404", "209", "", 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, ex := decide(t, r, external(t, r, "3339998888", tc.to, monday10), nil)
			check(t, d, ex, tc.want)
			if !d.Record || !d.Integration {
				t.Errorf("record %t integration %t: the did-root rule sets both", d.Record, d.Integration)
			}
			if len(ex.Maps) != 1 || ex.Maps[0].Rule != "did-root" {
				t.Errorf("maps = %+v", ex.Maps)
			}
		})
	}
}

// '%' scores zero: any other matching pattern beats it, and it catches the rest.
func TestPercentScoresZero(t *testing.T) {
	r := mustNew(t, withRules(basePlan(),
		RuleSpec{Name: "default", Enabled: true, CallerType: "internal", Called: "%", Action: "route", Target: "gateway:p2"}))
	tests := []struct {
		name, to string
		want     want
	}{
		{"prefix beats %", "3471234567", want{"gateway:p1", "3471234567", "mobiles", 0}},
		{"% catches the rest", "999", want{"gateway:p2", "999", "default", 0}},
		{"% catches non digits", "abc", want{"gateway:p2", "abc", "default", 0}},
		{"implicit extension beats %", "202", want{"user:202", "202", "ext:202", 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, ex := decide(t, r, internal(t, r, "201", tc.to, monday10), nil)
			check(t, d, ex, tc.want)
		})
	}
	if s := MustPattern("%").Specificity(); s != (Specificity{}) {
		t.Errorf("%% specificity = %+v, want zero", s)
	}
}
