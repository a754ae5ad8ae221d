package reload

import (
	"fmt"
	"sort"
	"strings"

	"luapbx/engine/config"
	"luapbx/engine/routing"
)

// Hook failures during the plan's tests do not refuse a reload: a hook that
// asks an outside CRM fails whenever the CRM is slow or down, and that must
// not block a dial-plan change. A script bug the tests care about already
// refuses it (a test that expects `source: lua`). But a hook that fails in
// the tests fails in live calls too, each of them waiting up to the budget,
// so the failures are summed up per hook and reported as warnings: by
// `luapbx check`, in the reload log line, GET /api/reload and the dashboard.

// decisionStands is what routing appends to every hook error it records.
const decisionStands = " (the built-in decision stands)"

// RunTests runs the plan's `tests:` like config.RunTests, and also returns
// one warning per routing hook that failed in any of them:
// "on_route failed in 8 of 8 test calls: 20-route.lua:4: attempt to index a nil value".
func RunTests(cfg *config.Config, r *routing.Router, hooks routing.Hooks) ([]config.TestResult, []string) {
	var tally *hookTally
	if hooks != nil {
		tally = &hookTally{Hooks: hooks, ran: map[string]map[string]bool{}}
		hooks = tally
	}
	results := config.RunTests(cfg, r, hooks)
	if tally == nil {
		return results, nil
	}
	return results, tally.warnings(results)
}

// hookTally passes hook calls through and notes which test calls each
// hook ran in (on_map may run more than once in one call).
type hookTally struct {
	routing.Hooks
	ran map[string]map[string]bool // hook -> call IDs
}

func (t *hookTally) note(hook string, call *routing.Call) {
	calls := t.ran[hook]
	if calls == nil {
		calls = map[string]bool{}
		t.ran[hook] = calls
	}
	calls[call.ID] = true
}

func (t *hookTally) Offhours(call *routing.Call, d *routing.Decision) (routing.Change, error) {
	t.note("on_offhours", call)
	return t.Hooks.Offhours(call, d)
}

func (t *hookTally) Map(call *routing.Call, number, rule string) (string, error) {
	t.note("on_map", call)
	return t.Hooks.Map(call, number, rule)
}

func (t *hookTally) Route(call *routing.Call, d *routing.Decision) (routing.Change, error) {
	t.note("on_route", call)
	return t.Hooks.Route(call, d)
}

// hookFailures is one hook's failures across the tests.
type hookFailures struct {
	calls int    // test calls it failed in
	first string // the first error, "file:line: message"
	other int    // failures whose message differs from first
}

// warnings sums up the hook errors the tests' explanations recorded.
func (t *hookTally) warnings(results []config.TestResult) []string {
	failed := map[string]*hookFailures{}
	for _, res := range results {
		seen := map[string]bool{}
		for _, e := range res.Report.HookErrors {
			hook, msg, ok := strings.Cut(e, ": ")
			if !ok {
				continue
			}
			msg = strings.TrimSuffix(msg, decisionStands)
			f := failed[hook]
			if f == nil {
				f = &hookFailures{first: msg}
				failed[hook] = f
			} else if msg != f.first {
				f.other++
			}
			if !seen[hook] {
				seen[hook] = true
				f.calls++
			}
		}
	}
	hooks := make([]string, 0, len(failed))
	for h := range failed {
		hooks = append(hooks, h)
	}
	sort.Strings(hooks)
	out := make([]string, 0, len(hooks))
	for _, h := range hooks {
		f := failed[h]
		ran := max(len(t.ran[h]), f.calls)
		w := fmt.Sprintf("%s failed in %d of %d test calls: %s", h, f.calls, ran, f.first)
		if f.other > 0 {
			w += fmt.Sprintf(" (and %d other errors)", f.other)
		}
		consequence := "; live calls keep the built-in decision"
		if strings.Contains(f.first, "ran past its") { // luaapi's timeout message
			consequence = "; live calls wait out the budget, then keep the built-in decision"
		}
		out = append(out, w+consequence)
	}
	return out
}
