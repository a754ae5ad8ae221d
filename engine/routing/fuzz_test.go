package routing

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// refRegexp translates a pattern that ParsePattern accepted into a Go
// regular expression, independently of the compiled form: the reference
// the fuzzer checks Match against.
func refRegexp(src string) (*regexp.Regexp, bool) {
	s := strings.TrimSpace(src)
	if s == "%" {
		return regexp.MustCompile(`^(?s:.*)$`), true
	}
	s = strings.TrimPrefix(s, "^")
	exact := false
	if strings.HasPrefix(s, "$") {
		exact, s = true, s[1:]
	}
	if strings.HasSuffix(s, "$") {
		exact, s = true, s[:len(s)-1]
	}
	var re strings.Builder
	re.WriteString("^")
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case strings.IndexByte(" \t-.()", c) >= 0:
		case c >= '0' && c <= '9', c == '#':
			re.WriteByte(c)
		case c == '+' || c == '*':
			re.WriteString(`\` + string(c))
		case c == 'X' || c == 'x':
			re.WriteString("[0-9]")
		case c == 'Z' || c == 'z':
			re.WriteString("[1-9]")
		case c == 'N' || c == 'n':
			re.WriteString("[2-9]")
		case c == '[':
			end := strings.IndexByte(s[i:], ']')
			re.WriteString("[" + strings.NewReplacer("+", `\+`, "*", `\*`).Replace(s[i+1:i+end]) + "]")
			i += end
		default:
			return nil, false
		}
	}
	if exact {
		re.WriteString("$")
	}
	r, err := regexp.Compile(re.String())
	return r, err == nil
}

func FuzzParsePattern(f *testing.F) {
	for _, s := range []string{"%", "^347", "347", "^$187", "^187$", "^+39", "^3XX", "^0[1-5]N", "^Z[13579]$", "^[*#]1", "^(06) 12-3", "^[5]", "^$", "^[", "^3[9-1]"} {
		f.Add(s, "3471234567")
	}
	f.Fuzz(func(t *testing.T, src, number string) {
		p, err := ParsePattern(src)
		if err != nil {
			return
		}
		re, ok := refRegexp(src)
		if !ok {
			t.Fatalf("ParsePattern accepted %q, which the reference cannot read", src)
		}
		if got, want := p.Match(number), re.MatchString(number); got != want {
			t.Fatalf("%q.Match(%q) = %t, reference %s says %t", src, number, got, re, want)
		}
		sp := p.Specificity()
		if p.Any() != (sp == Specificity{}) || int(sp.Literals) > int(sp.Len) || int(sp.Len) > maxPatternLen {
			t.Fatalf("%q: specificity %+v", src, sp)
		}
		if !p.Overlaps(p) {
			t.Fatalf("%q does not overlap itself", src)
		}
	})
}

// fuzzPlan is a small plan exercising every scoring feature.
func fuzzPlan() Plan {
	p := basePlan()
	co := &p.Companies[0]
	co.Timetables = append(co.Timetables, TimetableSpec{ID: "night", Weekly: []WeeklySpec{{"all", "22:00-06:00"}}})
	r := func(name, ct, calling, called, tt, target string) RuleSpec {
		return RuleSpec{Name: name, Enabled: true, CallerType: ct, Calling: calling, Called: called, Timetable: tt,
			Action: "route", Target: target}
	}
	co.Rules = append(co.Rules,
		r("m347", "internal", "", "^347", "", "gateway:p2"),
		r("m34x", "", "", "^34X", "", "gateway:p1"),
		r("m3x7", "", "^2", "^3X7", "", "gateway:p2"),
		r("m3n", "any", "", "^3N", "night", "gateway:p2"),
		r("boss", "internal", "^$203", "^3", "", "gateway:p2"),
		r("short1", "", "", "^$1X", "", "user:202"),
		r("short1b", "", "", "^1X$", "office", "group:600"),
		r("range", "external", "%", "^0[1-5]", "", "ivr:main"),
		r("default", "any", "", "%", "", "reject:486"),
		r("alias", "", "", "^$5000", "", "number:4444"),
		r("loop", "", "", "^$91", "", "number:91"),
		RuleSpec{Name: "strip", Enabled: true, Called: "^88", Action: "map", Map: &MapSpec{Strip: 2, Prepend: "3"}},
		RuleSpec{Name: "off", Enabled: false, Called: "^3", Action: "route", Target: "gateway:p1"},
	)
	return p
}

// refDecide scores every rule linearly: the brute-force reference.
func refDecide(c *company, call *Call) Decision {
	now := clockOf(call.Time.In(c.loc))
	from, number := Normalize(call.From), Normalize(call.To)
	if call.CallerType == External {
		for _, oh := range c.offhours {
			if (oh.dids == nil || oh.dids[number]) && !oh.open.open(now) {
				return refRights(c, call, Decision{Target: oh.target, Number: number, Offhours: oh.name})
			}
		}
	}
	for steps := 0; ; {
		best := -1
		var bestScore Score
		for i := range c.rules {
			r := &c.rules[i]
			if !r.enabled || (r.callerType != Any && r.callerType != call.CallerType) || !r.called.Match(number) ||
				!r.calling.Match(from) || (r.timetable != nil && !r.timetable.open(now)) {
				continue
			}
			if sc := r.score(); best < 0 || scoreLess(bestScore, sc) {
				best, bestScore = i, sc
			}
		}
		if best < 0 {
			return refRights(c, call, Decision{Target: Reject(404), Number: number, Maps: steps})
		}
		r := &c.rules[best]
		next := ""
		switch {
		case r.isMap && r.mapTo != "":
			next = r.mapTo
		case r.isMap:
			next = r.prepend
			if r.strip < len(number) {
				next += number[r.strip:]
			}
		case r.target.Kind == TargetNumber:
			next = r.target.Arg
		default:
			return refRights(c, call, Decision{Target: r.target, Number: number, Rule: r.name, Maps: steps, Score: bestScore})
		}
		steps++
		if steps > MaxMaps {
			return refRights(c, call, Decision{Target: Reject(482), Number: next, Rule: r.name, Maps: steps})
		}
		number = next
	}
}

// scoreLess compares scores field by field, as DESIGN.md words it.
func scoreLess(a, b Score) bool {
	less := func(x, y Specificity) int {
		switch {
		case x.Len != y.Len:
			return map[bool]int{true: -1, false: 1}[x.Len < y.Len]
		case x.Exact != y.Exact:
			return map[bool]int{true: -1, false: 1}[!x.Exact]
		case x.Literals != y.Literals:
			return map[bool]int{true: -1, false: 1}[x.Literals < y.Literals]
		}
		return 0
	}
	if c := less(a.Called, b.Called); c != 0 {
		return c < 0
	}
	if a.TimeBand != b.TimeBand {
		return a.TimeBand < b.TimeBand
	}
	return less(a.Calling, b.Calling) < 0
}

func refRights(c *company, call *Call, d Decision) Decision {
	if d.Target.Kind != TargetGateway || call.CallerType != Internal {
		return d
	}
	class, spec := "", -1
	for _, cl := range c.classes {
		if k := int(cl.pat.Specificity().key()); cl.pat.Match(d.Number) && k > spec {
			class, spec = cl.name, k
		}
	}
	if e := c.exts[call.Extension]; e != nil && class != "" {
		for _, r := range e.Rights {
			if r == class {
				return d
			}
		}
		d.Target = Reject(403)
	}
	return d
}

func FuzzDecide(f *testing.F) {
	for _, n := range []string{"3471234567", "3401234567", "3771234567", "0212345", "0733811720", "0733811881", "4444", "5000",
		"91", "12", "201", "600", "700", "8801", "abc", "", "+39347"} {
		f.Add(n, "201", uint16(600), uint8(1), true)
		f.Add(n, "3339998888", uint16(1380), uint8(6), false)
	}
	r, err := New(fuzzPlan())
	if err != nil {
		f.Fatal(err)
	}
	c := r.companies["acme"]
	base := time.Date(2026, 11, 22, 0, 0, 0, 0, rome) // a Sunday
	f.Fuzz(func(t *testing.T, to, from string, minute uint16, day uint8, isInternal bool) {
		call := &Call{Company: "acme", From: from, To: to, Time: base.Add(time.Duration(day%7)*24*time.Hour + time.Duration(minute%1440)*time.Minute)}
		if isInternal {
			call.CallerType, call.Extension = Internal, "201"
			if e := c.exts[Normalize(from)]; e != nil {
				call.Extension = e.Number
			}
		} else {
			call.CallerType, call.Trunk = External, "p1"
		}
		got := r.Decide(call, nil, nil)
		var ex Explanation
		if withEx := r.Decide(call, nil, &ex); withEx != got {
			t.Fatalf("with explanation %+v, without %+v", withEx, got)
		}
		want := refDecide(c, call)
		got.Class = "" // the reference does not name the class
		if got.Target != want.Target || got.Number != want.Number || got.Rule != want.Rule || got.Maps != want.Maps ||
			got.Offhours != want.Offhours || (want.Rule != "" && want.Target.Kind != TargetReject && got.Score != want.Score) {
			t.Fatalf("call %+v:\n got  %+v\n want %+v\n%s", call, got, want, NewReport(got, ex).Text())
		}
		_ = NewReport(got, ex).Text()
	})
}
