package luaapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// jsonEncode is json.encode(value): a JSON string. Tables with keys exactly
// 1..n become arrays, other tables objects (the empty table is {}). Values
// that JSON cannot hold (functions, NaN, cycles) raise an error.
func jsonEncode(L *lua.LState) int {
	v, err := toGo(L.CheckAny(1), 0)
	if err != nil {
		L.RaiseError("json.encode: %v", err)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		L.RaiseError("json.encode: %v", err)
	}
	L.Push(lua.LString(bytes.TrimSuffix(b.Bytes(), []byte{'\n'})))
	return 1
}

// jsonDecode is json.decode(text): the value, or nil and an error message.
// Strings stay strings (so "0733811720" keeps its leading zero); numbers
// become Lua numbers, except integers of more than 15 digits, which a
// float64 cannot hold exactly and so come back as strings. null is nil.
func jsonDecode(L *lua.LState) int {
	v, err := decodeJSON(L.CheckString(1))
	if err != nil {
		L.Push(lua.LNil)
		L.Push(lua.LString("json.decode: " + err.Error()))
		return 2
	}
	L.Push(toLua(L, v))
	return 1
}

// decodeJSON decodes one JSON value, with numbers as float64 or, for long
// integers, string.
func decodeJSON(text string) (any, error) {
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("unexpected data after the JSON value")
	}
	return fixNumbers(v, 0)
}

func fixNumbers(v any, depth int) (any, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("nested deeper than %d", maxDepth)
	}
	switch v := v.(type) {
	case json.Number:
		s := v.String()
		if isLongInteger(s) {
			return s, nil
		}
		f, err := v.Float64()
		if err != nil {
			return s, nil // out of float64 range: keep the text
		}
		return f, nil
	case []any:
		for i := range v {
			e, err := fixNumbers(v[i], depth+1)
			if err != nil {
				return nil, err
			}
			v[i] = e
		}
	case map[string]any:
		for k := range v {
			e, err := fixNumbers(v[k], depth+1)
			if err != nil {
				return nil, err
			}
			v[k] = e
		}
	}
	return v, nil
}

// isLongInteger reports an integer literal of more than 15 digits.
func isLongInteger(s string) bool {
	digits := strings.TrimPrefix(s, "-")
	if len(digits) <= 15 {
		return false
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return false
		}
	}
	return true
}
