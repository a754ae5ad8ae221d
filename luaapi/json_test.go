package luaapi

import (
	"strings"
	"testing"

	lua "github.com/yuin/gopher-lua"
)

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func TestJSON(t *testing.T) {
	tests := []struct{ name, src string }{
		{"object", `assert(json.encode({a = 1, b = "x"}) == '{"a":1,"b":"x"}')`},
		{"array", `assert(json.encode({"a", "b", 3}) == '["a","b",3]')`},
		{"empty table", `assert(json.encode({}) == '{}')`},
		{"holes make an object", `assert(json.encode({[1] = "a", [3] = "c"}) == '{"1":"a","3":"c"}')`},
		{"phone numbers stay strings", `assert(json.encode({n = "0733811720"}) == '{"n":"0733811720"}')`},
		{"big integer", `assert(json.encode({n = 3471234567}) == '{"n":3471234567}')`},
		{"fraction", `assert(json.encode(1.5) == '1.5')`},
		{"no html escaping", `assert(json.encode("<a&b>") == '"<a&b>"')`},
		{"nested", `assert(json.encode({a = {b = {true, false}}}) == '{"a":{"b":[true,false]}}')`},
		{"decode strings", `local v = json.decode('{"n":"0733811720"}') assert(v.n == "0733811720")`},
		{"decode numbers", `local v = json.decode('[1, 2.5, -3]') assert(v[1] == 1 and v[2] == 2.5 and v[3] == -3)`},
		{"decode long integer", `local v = json.decode('{"id": 12345678901234567890}') assert(v.id == "12345678901234567890")`},
		{"decode null", `local v = json.decode('{"a": null, "b": 1}') assert(v.a == nil and v.b == 1)`},
		{"decode error", `local v, err = json.decode('{"a":') assert(v == nil and err:find("json.decode"))`},
		{"trailing data", `local v, err = json.decode('{} {}') assert(v == nil and err:find("after"))`},
		{"round trip", `local s = '{"a":[1,"2",{"b":true}],"c":"x"}' assert(json.encode(json.decode(s)) == s)`},
		{"encode error", `local ok, err = pcall(json.encode, {f = print}) assert(not ok and err:find("cannot be"))`},
		{"encode nan", `local ok, err = pcall(json.encode, 0/0) assert(not ok)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := LoadSource("j.lua", tc.src, Options{}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func FuzzJSONDecode(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `[1,"2",null,true]`, `"x"`, `12345678901234567890`, `{"a":{"b":[[]]}}`, `{`} {
		f.Add(s)
	}
	p, err := LoadSource("fuzz.lua", `
function roundtrip(s)
  local v, err = json.decode(s)
  if v == nil then return end
  local again = json.encode(v)
  local w = json.decode(again)
  assert(json.encode(w) == again, "unstable: " .. again)
end`, Options{})
	if err != nil {
		f.Fatal(err)
	}
	defer p.Close()
	f.Fuzz(func(t *testing.T, s string) {
		st, err := p.get(false, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer p.put(st)
		L := st.L
		L.Push(L.GetGlobal("roundtrip"))
		L.Push(lua.LString(s))
		if err := L.PCall(1, 0, nil); err != nil {
			if contains(err.Error(), "nested deeper") || contains(err.Error(), "cannot be") {
				return // over the depth limit, or a decoded value JSON cannot hold again
			}
			t.Fatalf("%q: %v", s, err)
		}
	})
}

func luaStr(s string) lua.LValue { return lua.LString(s) }
