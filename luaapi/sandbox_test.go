package luaapi

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestSandboxAbsent(t *testing.T) {
	absent := []string{
		"io", "debug", "package", "require", "module", "dofile", "loadfile", "load", "loadstring",
		"getfenv", "setfenv", "collectgarbage", "_printregs", "coroutine", "channel",
		"os.execute", "os.remove", "os.rename", "os.exit", "os.getenv", "os.setenv", "os.tmpname",
		"os.setlocale", "os.difftime", "string.dump",
	}
	for _, name := range absent {
		t.Run(name, func(t *testing.T) {
			table, key := "_G", name
			if i := strings.IndexByte(name, '.'); i > 0 {
				table, key = name[:i], name[i+1:]
			}
			src := "assert(rawget(" + table + ", '" + key + "') == nil, '" + name + " is present')"
			if _, err := LoadSource("probe.lua", src, Options{}); err != nil {
				t.Fatalf("%s reachable: %v", name, err)
			}
		})
	}
}

// TestSandboxExplainsMissing: reading what standard Lua has and the
// sandbox leaves out raises a clear error at the reading line, instead of
// nil and "attempt to index a non-table object(nil) with key 'open'".
func TestSandboxExplainsMissing(t *testing.T) {
	tests := []struct{ src, want string }{
		{`local f = io.open("/etc/passwd")`, "probe.lua:1: io is not available in luapbx scripts"},
		{"local x = 1\nos.execute('true')", "probe.lua:2: os.execute is not available in luapbx scripts (os has time, date and clock only)"},
		{`local v = os.getenv("HOME")`, "probe.lua:1: os.getenv is not available"},
		{`local s = string.dump(print)`, "probe.lua:1: string.dump is not available"},
		{`local s = ("x"):dump()`, "probe.lua:1: string.dump is not available"},
		{`local f = loadstring("return 1")`, "probe.lua:1: loadstring is not available"},
		{`require("socket")`, "probe.lua:1: require is not available"},
		{`local d = debug.traceback()`, "probe.lua:1: debug is not available"},
		{`if coroutine then end`, "probe.lua:1: coroutine is not available"},
	}
	for _, tc := range tests {
		t.Run(tc.src, func(t *testing.T) {
			_, err := LoadSource("probe.lua", tc.src, Options{})
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	// Other missing names stay nil, so `X = X or default` still works.
	ok := `MY_SETTING = MY_SETTING or 5; assert(MY_SETTING == 5)`
	if _, err := LoadSource("probe.lua", "assert(undefined_global == nil)\n"+ok, Options{}); err != nil {
		t.Fatalf("an undefined global: %v", err)
	}
}

func TestSandboxPresent(t *testing.T) {
	present := []string{
		"os.time", "os.date", "os.clock", "string.format", "string.rep", "string.gsub", "table.insert",
		"table.concat", "math.floor", "pairs", "ipairs", "pcall", "tostring", "tonumber", "setmetatable",
		"pbx.log", "pbx.now", "pbx.kv_get", "pbx.kv_set", "http.get", "http.post", "http.request",
		"json.encode", "json.decode", "print",
	}
	for _, name := range present {
		t.Run(name, func(t *testing.T) {
			src := "assert(type(" + name + ") == 'function', '" + name + " missing')"
			if _, err := LoadSource("probe.lua", src, Options{}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// escapes are ways out of the sandbox a script might try; each must fail.
func TestSandboxEscapes(t *testing.T) {
	tests := []struct{ name, src, want string }{
		{"io.open", `io.open("/etc/passwd")`, "io is not available"},
		{"os.execute", `os.execute("true")`, "os.execute is not available"},
		{"require", `require("os")`, "require is not available"},
		{"loadstring", `loadstring("return 1")()`, "loadstring is not available"},
		{"load", `load(function() return nil end)`, "load is not available"},
		{"dofile", `dofile("/etc/passwd")`, "dofile is not available"},
		{"string.dump", `string.dump(print)`, "string.dump is not available"},
		{"getfenv", `getfenv(1).io.open("x")`, "getfenv is not available"},
		{"string metatable", `local m = getmetatable(""); m.__index.dump(print)`, "string.dump is not available"},
		{"rawget io", `rawget(_G, "io").open("x")`, "attempt to index"},
		{"os metatable", `getmetatable(os).__index(os, "execute")`, "os.execute is not available"},
		{"drop the guard", `setmetatable(_G, nil); io.open("x")`, "attempt to index"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadSource("escape.lua", tc.src, Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "escape.lua:1:") {
				t.Fatalf("err = %v, want file:line", err)
			}
		})
	}
}

func TestSandboxBombs(t *testing.T) {
	tests := []struct{ name, body, want string }{
		{"endless loop", "while true do end", "budget"},
		{"endless recursion", "local function f() return 1 + f() end f()", "stack overflow"},
		{"string.rep", `local s = string.rep("x", 1e10)`, "string.rep"},
		{"method rep", `local s = ("xy"):rep(1e9, ",")`, "string.rep"},
		{"gsub", `local s = string.rep("x", 1e6); s = s:gsub(".", string.rep("y", 100))`, "string.gsub"},
		{"doubling concat", `local s = "x" while true do s = s .. s end`, ""},
		{"table growth", `local t = {} local i = 0 while true do i = i + 1 t[i] = i end`, "budget"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := load(t, map[string]string{"bomb.lua": "function on_route(call, d) " + tc.body + " end"},
				Options{Timeout: 300 * time.Millisecond})
			start := time.Now()
			ch, err := p.Route(testCall(), testDecision())
			took := time.Since(start)
			if err == nil || !ch.Empty() {
				t.Fatalf("Route = %+v, %v; want an error and no change", ch, err)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "bomb.lua:1: ") {
				t.Fatalf("err = %v, want bomb.lua:1: ...%s", err, tc.want)
			}
			if took > 2*time.Second {
				t.Fatalf("stopped after %v", took)
			}
			if s := p.Stats(); s.Errors != 1 || s.StatesDiscarded != 1 {
				t.Fatalf("stats = %+v", s)
			}
			// The Program still works after discarding the state.
			if _, err := p.Route(testCall(), testDecision()); err == nil {
				t.Fatal("second call: want the same error again")
			}
		})
	}
}

func TestEndlessLoopIsATimeout(t *testing.T) {
	p := load(t, map[string]string{"loop.lua": "function on_route(call, d)\n  while true do end\nend\n"}, Options{Timeout: DefaultTimeout})
	start := time.Now()
	_, err := p.Route(testCall(), testDecision())
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	if took := time.Since(start); took < DefaultTimeout || took > DefaultTimeout+500*time.Millisecond {
		t.Fatalf("stopped after %v, want about %v", took, DefaultTimeout)
	}
	var he *HookError
	if !errors.As(err, &he) || he.Line != 2 || he.Hook != "on_route" {
		t.Fatalf("err = %#v, want line 2 of on_route", err)
	}
	if s := p.Stats(); s.Timeouts != 1 || s.Errors != 1 {
		t.Fatalf("stats = %+v", s)
	}
}
