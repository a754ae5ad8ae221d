package luaapi

import (
	"errors"
	"strings"
	"testing"
)

// FuzzHookResult feeds arbitrary Lua expressions as on_route's and on_map's
// result: the conversion back to Go must never panic, and must either
// accept the value or explain it with the hook's file:line.
func FuzzHookResult(f *testing.F) {
	for _, s := range []string{`nil`, `{target = "user:201"}`, `{record = "yes"}`, `{1, 2, 3}`,
		`{target = {}, number = 5}`, `"0733811720"`, `{[{}] = 1}`, `{number = "+39 347-123"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		if strings.Contains(expr, "while") || strings.Contains(expr, "repeat") || strings.Contains(expr, "for") ||
			strings.Contains(expr, "function") || strings.Contains(expr, "rep") {
			return // budget and memory are tested elsewhere
		}
		src := "function on_route(call, d) return " + expr + " end\nfunction on_map(call, n, r) return " + expr + " end\n"
		p, err := LoadSource("fz.lua", src, Options{})
		if err != nil {
			return // not valid Lua
		}
		defer p.Close()
		ch, err := p.Route(testCall(), testDecision())
		var he *HookError
		if err != nil && (!errors.As(err, &he) || he.File != "fz.lua" || he.Line < 1) {
			t.Fatalf("Route(%q): %v", expr, err)
		}
		if err != nil && !ch.Empty() {
			t.Fatalf("Route(%q) changed the decision with an error: %+v", expr, ch)
		}
		n, err := p.Map(testCall(), "123", "r")
		if err != nil && (!errors.As(err, &he) || n != "123") {
			t.Fatalf("Map(%q) = %q, %v", expr, n, err)
		}
	})
}
