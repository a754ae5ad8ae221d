package config

import (
	"fmt"
	"strings"
	"time"

	"luapbx/engine/routing"
)

// Layouts ParseAt accepts: local wall-clock times, and times with an offset.
var (
	localLayouts  = []string{"2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02 15:04", "2006-01-02 15:04:05", "2006-01-02"}
	offsetLayouts = []string{time.RFC3339, "2006-01-02T15:04Z07:00", time.RFC3339Nano}
)

// ParseAt parses a test's `at` or `luapbx route --at`: RFC 3339 with an
// offset ("2026-11-23T10:00:00+01:00", "...Z"), or a wall-clock time in loc
// ("2026-11-23T10:00", "2026-11-23 10:00:05", "2026-12-25").
func ParseAt(s string, loc *time.Location) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, l := range offsetLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, nil
		}
	}
	if loc == nil {
		loc = time.UTC
	}
	for _, l := range localLayouts {
		if t, err := time.ParseInLocation(l, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("bad time %q (want 2026-11-23T10:00 in the company's time zone, or RFC 3339 with an offset such as 2026-11-23T10:00:00+01:00)", s)
}

// checkTests checks each test can run: a called number, a known company
// and trunk, a valid time and at least one expectation.
func checkTests(c *Config, rep *report) {
	for i := range c.Tests {
		t := &c.Tests[i]
		p := index("tests", i)
		t.Line = lineOf(rep.lines, p)
		if t.To == "" {
			rep.errorf(p+".to", "a test needs the called number (to)")
		}
		if t.From == "" {
			rep.errorf(p+".from", "a test needs the calling number (from: an extension, or an outside number with trunk)")
		}
		if t.Company != "" && c.Company(t.Company) == nil {
			rep.errorf(p+".company", "unknown company %q", t.Company)
		}
		if t.Trunk != "" && !trunkExists(c, t.Company, t.Trunk) {
			rep.errorf(p+".trunk", "unknown trunk %q", t.Trunk)
		}
		if t.At != "" {
			if _, err := ParseAt(t.At, time.UTC); err != nil {
				rep.errorf(p+".at", "%v", err)
			}
		}
		checkExpect(rep, p+".expect", &t.Expect)
	}
}

func trunkExists(c *Config, company, trunk string) bool {
	for i := range c.Companies {
		co := &c.Companies[i]
		if (company == "" || co.ID == company) && hasTrunk(co, trunk) {
			return true
		}
	}
	return false
}

func checkExpect(rep *report, p string, e *Expect) {
	if e.Target == nil && e.Number == nil && e.Rule == nil && e.Record == nil &&
		e.Integration == nil && e.Offhours == nil && e.Source == nil {
		rep.errorf(p, "a test needs expectations: target, number, rule, record, integration, offhours or source")
		return
	}
	if e.Target != nil {
		if _, err := routing.ParseTarget(*e.Target); err != nil {
			rep.errorf(p+".target", "%v", err)
		}
	}
	if e.Number != nil && !isNumber(*e.Number) {
		rep.errorf(p+".number", "%q is not a number", *e.Number)
	}
	if e.Source != nil && *e.Source != "builtin" && *e.Source != "lua" {
		rep.errorf(p+".source", "bad source %q (want builtin or lua)", *e.Source)
	}
}

// TestResult is the outcome of one `tests:` entry.
type TestResult struct {
	Name       string
	File       string
	Line       int
	Pass       bool
	Err        error      // the call could not be set up (unknown company, say)
	Mismatches []Mismatch // what differed from expect
	Report     routing.Report
}

// Mismatch is one expected field that came out differently.
type Mismatch struct {
	Field string
	Want  string
	Got   string
}

// RunTests decides every `tests:` call with r (built from cfg) and hooks
// (nil for the built-in router alone) and compares it with its expect.
func RunTests(cfg *Config, r *routing.Router, hooks routing.Hooks) []TestResult {
	out := make([]TestResult, 0, len(cfg.Tests))
	for i := range cfg.Tests {
		out = append(out, runTest(cfg, &cfg.Tests[i], i, r, hooks))
	}
	return out
}

// Failures counts the results that did not pass.
func Failures(rs []TestResult) int {
	n := 0
	for _, r := range rs {
		if !r.Pass {
			n++
		}
	}
	return n
}

func runTest(cfg *Config, t *Test, i int, r *routing.Router, hooks routing.Hooks) TestResult {
	res := TestResult{Name: t.Name, File: cfg.File, Line: t.Line}
	if res.Name == "" {
		res.Name = fmt.Sprintf("test %d (%s to %s)", i+1, t.From, t.To)
	}
	call := routing.Call{ID: fmt.Sprintf("test-%d", i+1), From: t.From, To: t.To, Trunk: t.Trunk, Test: true}
	if err := r.Classify(&call, t.Company); err != nil {
		res.Err = err
		return res
	}
	call.Time = time.Now()
	if t.At != "" {
		at, err := ParseAt(t.At, r.Location(call.Company))
		if err != nil {
			res.Err = err
			return res
		}
		call.Time = at
	}
	var ex routing.Explanation
	d := r.Decide(&call, hooks, &ex)
	res.Report = routing.NewReport(d, ex)
	res.Mismatches = compare(&t.Expect, &res.Report)
	res.Pass = len(res.Mismatches) == 0
	return res
}

func compare(e *Expect, rp *routing.Report) []Mismatch {
	var ms []Mismatch
	check := func(field string, want *string, got string, same func(want, got string) bool) {
		if want != nil && !same(*want, got) {
			ms = append(ms, Mismatch{Field: field, Want: *want, Got: got})
		}
	}
	equal := func(a, b string) bool { return a == b }
	check("target", e.Target, rp.Target, sameTarget)
	check("number", e.Number, rp.Number, func(w, g string) bool { return routing.Normalize(w) == g })
	check("rule", e.Rule, rp.Rule, equal)
	check("offhours", e.Offhours, rp.Offhours, sameOffhours)
	check("source", e.Source, rp.Source, equal)
	checkBool := func(field string, want *bool, got bool) {
		if want != nil && *want != got {
			ms = append(ms, Mismatch{Field: field, Want: fmt.Sprint(*want), Got: fmt.Sprint(got)})
		}
	}
	checkBool("record", e.Record, rp.Record)
	checkBool("integration", e.Integration, rp.Integration)
	return ms
}

func sameTarget(want, got string) bool {
	t, err := routing.ParseTarget(want)
	if err != nil {
		return want == got
	}
	return t.String() == got
}

// sameOffhours compares an off-hours entry name; "true" and "false" stand
// for any entry and none.
func sameOffhours(want, got string) bool {
	switch want {
	case "true":
		return got != ""
	case "false":
		return got == ""
	}
	return want == got
}

// Text renders the result: one line when it passed; what was expected,
// what happened and the explanation when it failed.
func (tr TestResult) Text() string {
	where := fmt.Sprintf("%s:%d", tr.File, tr.Line)
	if tr.Pass {
		return fmt.Sprintf("ok   %s: %s\n", where, tr.Name)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "FAIL %s: %s\n", where, tr.Name)
	if tr.Err != nil {
		fmt.Fprintf(&b, "     cannot run: %v\n", tr.Err)
		return b.String()
	}
	for _, m := range tr.Mismatches {
		fmt.Fprintf(&b, "     %s: want %s, got %s\n", m.Field, quoteEmpty(m.Want), quoteEmpty(m.Got))
	}
	b.WriteString("     what happened:\n")
	for _, l := range strings.Split(strings.TrimRight(tr.Report.Text(), "\n"), "\n") {
		if l == "" {
			b.WriteString("\n")
			continue
		}
		b.WriteString("       " + l + "\n")
	}
	return b.String()
}

func quoteEmpty(s string) string {
	if s == "" {
		return `""`
	}
	return s
}
