package luaapi

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// openModules registers pbx, http, json and the logging print in a state.
func (p *Program) openModules(s *state) {
	L := s.L
	s.header = L.NewFunction(headerFunc(s))
	L.SetGlobal("pbx", L.SetFuncs(L.NewTable(), map[string]lua.LGFunction{
		"log":    func(L *lua.LState) int { return p.pbxLog(s, L) },
		"now":    p.pbxNow,
		"kv_get": func(L *lua.LState) int { return p.pbxKVGet(s, L) },
		"kv_set": func(L *lua.LState) int { return p.pbxKVSet(s, L) },
	}))
	L.SetGlobal("json", L.SetFuncs(L.NewTable(), map[string]lua.LGFunction{
		"encode": jsonEncode,
		"decode": jsonDecode,
	}))
	L.SetGlobal("http", L.SetFuncs(L.NewTable(), map[string]lua.LGFunction{
		"get":     func(L *lua.LState) int { return p.httpGet(s, L) },
		"post":    func(L *lua.LState) int { return p.httpPost(s, L) },
		"request": func(L *lua.LState) int { return p.httpRequest(s, L) },
	}))
	L.SetGlobal("print", L.NewFunction(func(L *lua.LState) int { return p.luaPrint(s, L) }))
	for name, fn := range p.opts.extra {
		L.SetGlobal(name, L.NewFunction(fn))
	}
}

// moduleFuncs lists every module function, for the reference test.
var moduleFuncs = map[string][]string{
	"pbx":  {"log", "now", "kv_get", "kv_set"},
	"http": {"get", "post", "request"},
	"json": {"encode", "decode"},
}

var logLevels = map[string]slog.Level{
	"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError,
}

// pbxLog is pbx.log([level,] ...): with two or more arguments and a first
// one naming a level, that level; else info.
func (p *Program) pbxLog(s *state, L *lua.LState) int {
	n := L.GetTop()
	level, first := slog.LevelInfo, 1
	if n >= 2 {
		if s, ok := L.Get(1).(lua.LString); ok {
			if lv, ok := logLevels[strings.ToLower(string(s))]; ok {
				level, first = lv, 2
			}
		}
	}
	p.logArgs(s, L, level, first)
	return 0
}

// luaPrint is print(...), logged at info.
func (p *Program) luaPrint(s *state, L *lua.LState) int {
	p.logArgs(s, L, slog.LevelInfo, 1)
	return 0
}

// logArgs logs with the script's file and line and, inside a hook for a
// call, its call_id ("test-3" for the third entry of tests:).
func (p *Program) logArgs(s *state, L *lua.LState, level slog.Level, first int) {
	ctx := context.Background()
	if !p.log.Enabled(ctx, level) {
		return
	}
	parts := make([]string, 0, L.GetTop())
	for i := first; i <= L.GetTop(); i++ {
		parts = append(parts, argString(L, L.Get(i)))
	}
	file, line := where(L)
	attrs := []any{"script", filepath.Base(file), "line", line}
	if s.call != nil {
		attrs = append(attrs, "call_id", s.call.ID)
		if s.call.Test && level > slog.LevelDebug {
			// A plan test's script lines are for --debug: at every start
			// and reload they would read like faults of live calls.
			level = slog.LevelDebug
			if !p.log.Enabled(ctx, level) {
				return
			}
		}
	}
	p.log.Log(ctx, level, strings.Join(parts, " "), attrs...)
}

// pbxNow is pbx.now(): Unix time in seconds, with milliseconds as a fraction.
func (p *Program) pbxNow(L *lua.LState) int {
	L.Push(lua.LNumber(float64(p.opts.Now().UnixMilli()) / 1000))
	return 1
}

// pbxKVGet is pbx.kv_get(key): the value, or nil when unset or expired.
func (p *Program) pbxKVGet(s *state, L *lua.LState) int {
	key := L.CheckString(1)
	v, ok := p.store(s).Get(key, p.opts.Now())
	if !ok {
		L.Push(lua.LNil)
		return 1
	}
	L.Push(toLua(L, v))
	return 1
}

// store is the kv store a hook on s uses: a separate one for the calls of
// a plan's tests:, which must neither see what live calls cached (an
// on-call number would change a test's answer) nor leave anything for
// them (a "CRM down" mark set while testing a reload).
func (p *Program) store(s *state) *KV {
	if s.call != nil && s.call.Test {
		return p.testKV
	}
	return p.kv
}

// pbxKVSet is pbx.kv_set(key, value[, ttl_seconds]): true, or nil and an
// error when the store is full. A nil value deletes the key. Values are
// strings, numbers, booleans or tables of those (copied).
func (p *Program) pbxKVSet(s *state, L *lua.LState) int {
	key := L.CheckString(1)
	val, err := toGo(L.Get(2), 0)
	if err != nil {
		L.ArgError(2, err.Error())
	}
	ttl := time.Duration(float64(L.OptNumber(3, 0)) * float64(time.Second))
	if ttl < 0 {
		L.ArgError(3, "ttl_seconds must not be negative")
	}
	if err := p.store(s).Set(key, val, ttl, p.opts.Now()); err != nil {
		L.Push(lua.LNil)
		L.Push(lua.LString(err.Error()))
		return 2
	}
	L.Push(lua.LTrue)
	return 1
}
