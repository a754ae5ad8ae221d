package routing

import "testing"

// Deciding without an explanation and without hooks must not allocate,
// whatever path the decision takes.
func TestDecideZeroAllocs(t *testing.T) {
	tt := route("office-34", "^34", "gateway:p2")
	tt.Timetable, tt.Calling = "office", "^2X"
	main := mustNew(t, withRules(basePlan(), tt, route("alias", "^$5000", "number:4444")))
	loop := mustNew(t, withRules(basePlan(), route("a", "^$5551", "number:5552"), route("b", "^$5552", "number:5551")))
	p := basePlan()
	p.Companies[0].Offhours[0].Target = "number:600"
	offNumber := mustNew(t, p)

	tests := []struct {
		name   string
		r      *Router
		call   func(r *Router) *Call
		target string
	}{
		{"routed", main, func(r *Router) *Call { return internal(t, r, "201", "3471234567", monday10) }, "gateway:p2"},
		{"routed outside the timetable", main, func(r *Router) *Call { return internal(t, r, "201", "3471234567", "2026-11-23T20:00") }, "gateway:p1"},
		{"map then route", main, func(r *Router) *Call { return internal(t, r, "201", "4444", monday10) }, "gateway:p2"},
		{"number target", main, func(r *Router) *Call { return internal(t, r, "201", "5000", monday10) }, "gateway:p2"},
		{"strip and prepend", main, func(r *Router) *Call { return external(t, r, "3339998888", "0733811881", monday10) }, "user:201"},
		{"off-hours", main, func(r *Router) *Call { return external(t, r, "3339998888", "0733811720", "2026-11-23T20:00") }, "voicemail:201"},
		{"off-hours number target", offNumber, func(r *Router) *Call { return external(t, r, "333", "0733811720", "2026-11-23T20:00") }, "group:600"},
		{"rights", main, func(r *Router) *Call { return internal(t, r, "202", "3471234567", monday10) }, "reject:403"},
		{"no rule", main, func(r *Router) *Call { return internal(t, r, "201", "999", monday10) }, "reject:404"},
		{"loop", loop, func(r *Router) *Call { return internal(t, r, "201", "5551", monday10) }, "reject:482"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			call := tc.call(tc.r)
			var d Decision
			n := testing.AllocsPerRun(200, func() { d = tc.r.Decide(call, nil, nil) })
			if d.Target.String() != tc.target {
				t.Fatalf("target %s, want %s", d.Target, tc.target)
			}
			if n != 0 {
				t.Errorf("%v allocations per decision, want 0", n)
			}
		})
	}
}
