package luaapi

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// maxDepth bounds nested tables in conversions (and catches cycles).
const maxDepth = 32

// toGo converts a Lua value to a plain Go value: nil, string, float64, bool,
// []any (a table whose keys are exactly 1..n, n > 0) or map[string]any (any
// other table; number keys become strings). Functions, userdata and
// threads are errors.
func toGo(v lua.LValue, depth int) (any, error) {
	switch v := v.(type) {
	case *lua.LNilType:
		return nil, nil
	case lua.LBool:
		return bool(v), nil
	case lua.LString:
		return string(v), nil
	case lua.LNumber:
		f := float64(v)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("number %v cannot be stored or encoded", f)
		}
		return f, nil
	case *lua.LTable:
		if depth >= maxDepth {
			return nil, fmt.Errorf("tables nested deeper than %d (a cycle?)", maxDepth)
		}
		return tableToGo(v, depth+1)
	}
	return nil, fmt.Errorf("a %s cannot be stored or encoded", v.Type())
}

func tableToGo(t *lua.LTable, depth int) (any, error) {
	n := t.MaxN()
	count := 0
	var err error
	t.ForEach(func(_, _ lua.LValue) { count++ })
	if n > 0 && count == n {
		arr := make([]any, n)
		for i := 1; i <= n; i++ {
			if arr[i-1], err = toGo(t.RawGetInt(i), depth); err != nil {
				return nil, err
			}
		}
		return arr, nil
	}
	obj := make(map[string]any, count)
	t.ForEach(func(k, val lua.LValue) {
		if err != nil {
			return
		}
		var key string
		switch k := k.(type) {
		case lua.LString:
			key = string(k)
		case lua.LNumber:
			key = formatNumber(float64(k))
		default:
			err = fmt.Errorf("a table key of type %s cannot be stored or encoded", k.Type())
			return
		}
		obj[key], err = toGo(val, depth)
	})
	if err != nil {
		return nil, err
	}
	return obj, nil
}

// formatNumber prints integral numbers without a fraction.
func formatNumber(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return strconv.FormatInt(int64(f), 10)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// toLua converts a Go value (from the kv store, json.decode or an event)
// to Lua. Unknown types become their fmt.Sprint string.
func toLua(L *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case nil:
		return lua.LNil
	case string:
		return lua.LString(v)
	case bool:
		return lua.LBool(v)
	case float64:
		return lua.LNumber(v)
	case float32:
		return lua.LNumber(v)
	case int:
		return lua.LNumber(v)
	case int64:
		return lua.LNumber(v)
	case int32:
		return lua.LNumber(v)
	case uint64:
		return lua.LNumber(v)
	case uint32:
		return lua.LNumber(v)
	case time.Time:
		return lua.LNumber(v.Unix())
	case time.Duration:
		return lua.LNumber(v.Seconds())
	case []string:
		t := L.CreateTable(len(v), 0)
		for i, s := range v {
			t.RawSetInt(i+1, lua.LString(s))
		}
		return t
	case []any:
		t := L.CreateTable(len(v), 0)
		for i, e := range v {
			t.RawSetInt(i+1, toLua(L, e))
		}
		return t
	case map[string]string:
		t := L.CreateTable(0, len(v))
		for k, e := range v {
			t.RawSetString(k, lua.LString(e))
		}
		return t
	case map[string]any:
		t := L.CreateTable(0, len(v))
		for _, k := range sortedKeys(v) {
			t.RawSetString(k, toLua(L, v[k]))
		}
		return t
	case fmt.Stringer:
		return lua.LString(v.String())
	}
	return lua.LString(fmt.Sprint(v))
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
