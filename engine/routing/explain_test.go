package routing

import (
	"encoding/json"
	"strings"
	"testing"
)

// explainPlan has a loser of every kind for 4444 -> 3471234567 at 20:00:
// a tie at step 1, a disabled rule, a closed timetable and a less specific
// rule at step 2.
func explainPlan(t *testing.T) *Router {
	off := route("off-347", "^347", "gateway:p2")
	off.Enabled = false
	tt := route("office-34", "^34", "gateway:p2")
	tt.Timetable = "office"
	p := withRules(basePlan(), off, tt, route("boss", "^$4444", "user:203"), route("any-34", "^34", "gateway:p2"))
	return mustNew(t, p)
}

func TestExplanation(t *testing.T) {
	r := explainPlan(t)
	d, ex := decide(t, r, internal(t, r, "201", "44 44", "2026-11-23T20:00"), nil)
	check(t, d, ex, want{"gateway:p2", "3471234567", "any-34", 1})
	if ex.Generation != 7 || ex.Company != "acme" || ex.CallerType != "internal" || ex.From != "201" || ex.To != "44 44" {
		t.Errorf("header = %+v", ex)
	}
	if !strings.HasPrefix(ex.Time, "2026-11-23T20:00:00+01:00") {
		t.Errorf("time = %q", ex.Time)
	}
	tests := []struct {
		step         int
		rule         string
		matched, won bool
		why          string
	}{
		{0, "short-4444", true, true, "won: same score as boss (a tie), and it is written first"},
		{0, "boss", true, false, "lost to short-4444: same score (a tie), and short-4444 is written first"},
		{1, "off-347", false, false, "disabled"},
		{1, "office-34", false, false, "outside its timetable office"},
		{1, "any-34", true, true, "won: highest score"},
		{1, "mobiles", true, false, "lost to any-34: called number matched 1 (prefix, 1 literal), the winner 2 (prefix, 2 literal)"},
	}
	for _, tc := range tests {
		t.Run(tc.rule, func(t *testing.T) {
			c := candidate(t, ex, tc.step, tc.rule)
			if c.Matched != tc.matched || c.Won != tc.won || c.Why != tc.why {
				t.Errorf("candidate = %+v\nwant matched %t won %t why %q", c, tc.matched, tc.won, tc.why)
			}
			if c.Score.Called.Len == 0 {
				t.Errorf("candidate has no score: %+v", c)
			}
		})
	}
	if len(ex.Candidates) != len(tests) {
		t.Errorf("%d candidates, want %d: %+v", len(ex.Candidates), len(tests), ex.Candidates)
	}
	won := 0
	for _, c := range ex.Candidates {
		if c.Won {
			won++
		}
	}
	if won != 2 {
		t.Errorf("%d winners, want one per step", won)
	}
	if len(ex.Maps) != 1 || ex.Maps[0] != (MapStep{"short-4444", "4444", "3471234567"}) {
		t.Errorf("maps = %+v", ex.Maps)
	}

	t.Run("time band and calling reasons", func(t *testing.T) {
		r := explainPlan(t)
		d, ex := decide(t, r, internal(t, r, "201", "3471234567", monday10), nil)
		if d.Rule != "office-34" {
			t.Fatalf("rule %s, want office-34", d.Rule)
		}
		contains(t, candidate(t, ex, 0, "any-34").Why, "lost to office-34", "timetable that is open now")
		if s := candidate(t, ex, 0, "office-34").Score; s.TimeBand != 1 {
			t.Errorf("score %+v", s)
		}
	})
}

func TestReportJSON(t *testing.T) {
	r := explainPlan(t)
	d, ex := decide(t, r, internal(t, r, "201", "4444", "2026-11-23T20:00"), nil)
	b, err := json.Marshal(NewReport(d, ex))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"target", "number", "rule", "record", "integration", "source", "offhours", "maps", "candidates", "generation"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, b)
		}
	}
	if m["target"] != "gateway:p2" || m["number"] != "3471234567" || m["source"] != "builtin" || m["generation"] != float64(7) {
		t.Errorf("JSON = %s", b)
	}
	cands := m["candidates"].([]any)
	first := cands[0].(map[string]any)
	for _, k := range []string{"rule", "score", "matched", "why"} {
		if _, ok := first[k]; !ok {
			t.Errorf("candidate JSON lacks %q: %v", k, first)
		}
	}
}

func TestReportText(t *testing.T) {
	r := explainPlan(t)
	text := func(c *Call, h Hooks) string {
		d, ex := decide(t, r, c, h)
		return NewReport(d, ex).Text()
	}
	t.Run("map then route", func(t *testing.T) {
		s := text(internal(t, r, "201", "4444", "2026-11-23T20:00"), nil)
		contains(t, s,
			"Call from extension 201 to 4444 (company acme, internal call",
			"Decision: dial 3471234567 out through trunk p2 (gateway:p2)",
			"by rule any-34 (source: builtin)",
			"why: any-34 won: highest score",
			"step 1: number 4444",
			"short-4444 rewrites 4444 -> 3471234567, routing again",
			"step 2: number 3471234567",
			"* any-34",
			"- off-347", "disabled",
			"outside its timetable office",
			"config generation 7")
		if strings.Index(s, "Decision:") > strings.Index(s, "How:") {
			t.Error("the decision should come before how it was made")
		}
	})
	t.Run("off-hours", func(t *testing.T) {
		s := text(external(t, r, "3339998888", "0733811720", "2026-12-25T10:00"), nil)
		contains(t, s, "Call from external caller 3339998888 via trunk p1", "Decision: voicemail of extension 201",
			"by off-hours entry night", `off-hours "night": closed: holiday in timetable office, so voicemail:201`)
	})
	t.Run("rights", func(t *testing.T) {
		s := text(internal(t, r, "202", "3471234567", monday10), nil)
		contains(t, s, "Decision: reject with SIP 403", "refused by rights: 3471234567 is a mobile number; extension 202 may call: none")
	})
	t.Run("no rule", func(t *testing.T) {
		s := text(internal(t, r, "201", "999", monday10), nil)
		contains(t, s, "Decision: reject with SIP 404", "by no rule (none matched)", "note: no rule matches 999")
	})
	t.Run("lua", func(t *testing.T) {
		s := text(internal(t, r, "201", "202", monday10), &fakeHooks{route: func(*Call, *Decision) (Change, error) {
			return Change{Target: "app:echo"}, nil
		}})
		contains(t, s, "Decision: run app echo", "(source: lua)", "lua: on_route changed target user:202 -> app:echo")
	})
	t.Run("off-hours number target", func(t *testing.T) {
		p := basePlan()
		p.Companies[0].Offhours[0].Target = "number:600"
		r := mustNew(t, p)
		d, ex := decide(t, r, external(t, r, "333", "0733811720", "2026-11-23T20:00"), nil)
		s := NewReport(d, ex).Text()
		contains(t, s, "Decision: ring group 600", "offhours night rewrites 0733811720 -> 600", "step 2: number 600", "* group:600 (implicit)")
		if strings.Contains(s, "no rule's called pattern matches") {
			t.Errorf("a rewritten step is not a miss:\n%s", s)
		}
	})
}
