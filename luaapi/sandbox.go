package luaapi

import (
	"fmt"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// removedBase are base functions a script may not use: they load code from
// files or strings, change function environments, drive the Go garbage
// collector or print to the process's stdout.
var removedBase = []string{
	"dofile", "loadfile", "load", "loadstring", "require", "module",
	"getfenv", "setfenv", "collectgarbage", "_printregs",
}

// keptOS are the only os functions a script sees.
var keptOS = []string{"time", "date", "clock"}

// openSandbox opens the allowed libraries in a state built with
// SkipOpenLibs: base (trimmed), string (with guarded rep and gsub), table,
// math, and an os with time, date and clock only.
func openSandbox(L *lua.LState, maxString int) {
	for _, lib := range []struct {
		name string
		fn   lua.LGFunction
	}{
		{lua.BaseLibName, lua.OpenBase},
		{lua.StringLibName, lua.OpenString},
		{lua.TabLibName, lua.OpenTable},
		{lua.MathLibName, lua.OpenMath},
		{lua.OsLibName, lua.OpenOs},
	} {
		L.Push(L.NewFunction(lib.fn))
		L.Push(lua.LString(lib.name))
		L.Call(1, 0)
	}
	g := L.G.Global
	for _, name := range removedBase {
		g.RawSetString(name, lua.LNil)
	}
	full := L.GetGlobal("os").(*lua.LTable)
	small := L.CreateTable(0, len(keptOS))
	for _, name := range keptOS {
		small.RawSetString(name, full.RawGetString(name))
	}
	g.RawSetString("os", small)
	// The registry's loaded-modules table still holds the full os library;
	// nothing left in the sandbox can reach it (require and package are
	// gone), but drop it anyway.
	if loaded, ok := L.GetField(L.Get(lua.RegistryIndex), "_LOADED").(*lua.LTable); ok {
		loaded.RawSetString("os", small)
	}
	str := L.GetGlobal("string").(*lua.LTable)
	gsub := str.RawGetString("gsub").(*lua.LFunction)
	str.RawSetString("dump", lua.LNil)
	str.RawSetString("rep", L.NewFunction(guardedRep(maxString)))
	str.RawSetString("gsub", L.NewFunction(guardedGsub(maxString, gsub)))
	explainMissing(L, g, "", unavailable, "")
	explainMissing(L, small, "os.", nil, " (os has time, date and clock only)")
	explainMissing(L, str, "string.", map[string]bool{"dump": true}, "")
}

// unavailable are the globals a script might expect from standard Lua that
// the sandbox leaves out; reading one raises a clear error instead of
// yielding nil (and a puzzling "attempt to index a non-table object(nil)").
var unavailable = map[string]bool{
	"io": true, "debug": true, "package": true, "coroutine": true, "require": true, "module": true,
	"dofile": true, "loadfile": true, "load": true, "loadstring": true, "getfenv": true,
	"setfenv": true, "collectgarbage": true,
}

// explainMissing gives t a metatable whose __index raises "<prefix>name is
// not available in luapbx scripts<suffix>" for a missing key in names (any
// missing key when names is nil) and yields nil for others. Keys t holds
// are found before __index runs, so present names cost nothing more.
func explainMissing(L *lua.LState, t *lua.LTable, prefix string, names map[string]bool, suffix string) {
	mt := L.CreateTable(0, 1)
	mt.RawSetString("__index", L.NewFunction(func(L *lua.LState) int {
		key, ok := L.Get(2).(lua.LString)
		if ok && (names == nil || names[string(key)]) {
			L.RaiseError("%s%s is not available in luapbx scripts%s", prefix, string(key), suffix)
		}
		L.Push(lua.LNil)
		return 1
	}))
	L.SetMetatable(t, mt)
}

// guardedRep is string.rep refusing results above limit bytes (strings.Repeat
// runs in Go, where the hook's timeout cannot stop it).
func guardedRep(limit int) lua.LGFunction {
	return func(L *lua.LState) int {
		s := L.CheckString(1)
		n := L.CheckInt(2)
		sep := L.OptString(3, "")
		if n <= 0 {
			L.Push(lua.LString(""))
			return 1
		}
		size := float64(len(s))*float64(n) + float64(len(sep))*float64(n-1)
		if size > float64(limit) {
			L.RaiseError("string.rep: a result of %.0f bytes exceeds the %d-byte limit", size, limit)
		}
		if sep == "" {
			L.Push(lua.LString(strings.Repeat(s, n)))
			return 1
		}
		var b strings.Builder
		b.Grow(int(size))
		for i := 0; i < n; i++ {
			if i > 0 {
				b.WriteString(sep)
			}
			b.WriteString(s)
		}
		L.Push(lua.LString(b.String()))
		return 1
	}
}

// guardedGsub is string.gsub refusing a string replacement that could build
// more than limit bytes (each of up to len(s)+1 matches adds the
// replacement).
func guardedGsub(limit int, gsub *lua.LFunction) lua.LGFunction {
	return func(L *lua.LState) int {
		s := L.CheckString(1)
		if repl, ok := L.Get(3).(lua.LString); ok {
			matches := float64(len(s) + 1)
			if n, ok := L.Get(4).(lua.LNumber); ok && float64(n) < matches {
				matches = float64(n)
			}
			if size := float64(len(s)) + matches*float64(len(repl)); size > float64(limit) {
				L.RaiseError("string.gsub: a result of up to %.0f bytes exceeds the %d-byte limit", size, limit)
			}
		}
		top := L.GetTop()
		L.Push(gsub)
		for i := 1; i <= top; i++ {
			L.Push(L.Get(i))
		}
		L.Call(top, lua.MultRet)
		return L.GetTop() - top
	}
}

// where returns the file and line of the Lua code calling the running Go
// function.
func where(L *lua.LState) (string, int) {
	file, line, _, ok := splitPos(L.Where(1) + " ")
	if !ok {
		return "?", 0
	}
	return file, line
}

// argString is tostring(v) for log lines.
func argString(L *lua.LState, v lua.LValue) string {
	switch v := v.(type) {
	case lua.LString:
		return string(v)
	case *lua.LNilType:
		return "nil"
	}
	return fmt.Sprint(L.ToStringMeta(v))
}
