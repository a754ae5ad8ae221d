package luaapi

import (
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"

	"luapbx/engine/routing"
)

// Route runs on_route(call, decision). No hook, or nil returned: an empty
// Change. An error (Lua error, timeout, wrong result) is a *HookError; the
// router then keeps the built-in decision.
func (p *Program) Route(call *routing.Call, d *routing.Decision) (routing.Change, error) {
	return p.decisionHook(hookRoute, call, d)
}

// Offhours runs on_offhours(call, decision) on an off-hours decision.
func (p *Program) Offhours(call *routing.Call, d *routing.Decision) (routing.Change, error) {
	return p.decisionHook(hookOffhours, call, d)
}

// Map runs on_map(call, number, rule) on a number a map rule produced; it
// returns the number to use (number itself when the hook returns nil).
func (p *Program) Map(call *routing.Call, number, rule string) (string, error) {
	if p.sites[hookMap].file == "" {
		return number, nil
	}
	out := number
	inv := invocation{
		h: hookMap, call: call, nret: 1, timeout: p.opts.Timeout,
		push: func(s *state) int {
			L := s.L
			L.Push(p.callTable(s, call))
			L.Push(lua.LString(number))
			L.Push(optString(rule))
			return 3
		},
		read: func(L *lua.LState) *HookError {
			switch v := L.Get(-1).(type) {
			case *lua.LNilType:
			case lua.LString:
				if strings.TrimSpace(string(v)) == "" {
					return p.resultError(hookMap, "returned an empty number")
				}
				out = string(v)
			default:
				return p.resultError(hookMap, "returned a %s; want a string number or nil (numbers are strings)", v.Type())
			}
			return nil
		},
	}
	if err := p.hook(&inv); err != nil {
		return number, err
	}
	return out, nil
}

func (p *Program) decisionHook(h hook, call *routing.Call, d *routing.Decision) (routing.Change, error) {
	if p.sites[h].file == "" {
		return routing.Change{}, nil
	}
	var ch routing.Change
	inv := invocation{
		h: h, call: call, nret: 1, timeout: p.opts.Timeout,
		push: func(s *state) int {
			s.L.Push(p.callTable(s, call))
			s.L.Push(decisionTable(s.L, d))
			return 2
		},
		read: func(L *lua.LState) *HookError {
			var he *HookError
			ch, he = p.change(h, call, L.Get(-1))
			return he
		},
	}
	if err := p.hook(&inv); err != nil {
		return routing.Change{}, err
	}
	return ch, nil
}

// hook runs a routing hook inside a concurrency slot taken before its
// budget starts.
func (p *Program) hook(inv *invocation) error {
	if p.opts.Observe == nil {
		return p.runHook(inv)
	}
	start := time.Now()
	err := p.runHook(inv)
	p.opts.Observe(inv.h.String(), time.Since(start), err)
	return err
}

func (p *Program) runHook(inv *invocation) error {
	p.st.hooks.Add(1)
	left, ok := p.admit()
	if !ok {
		s := p.sites[inv.h]
		return p.fail(inv, &HookError{Hook: inv.h.String(), File: s.file, Line: s.line,
			Msg: inv.h.String() + " could not start within its budget: every slot busy", Err: ErrBusy})
	}
	inv.slot, inv.wait = true, left // run gives the slot back
	return p.run(inv)
}

// change reads what on_route or on_offhours returned: nil, or a table with
// only target, number, record and integration.
func (p *Program) change(h hook, call *routing.Call, v lua.LValue) (routing.Change, *HookError) {
	var ch routing.Change
	if v == lua.LNil {
		return ch, nil
	}
	t, ok := v.(*lua.LTable)
	if !ok {
		return ch, p.resultError(h, "returned a %s; want nil or a table {target=, number=, record=, integration=}", v.Type())
	}
	var he *HookError
	t.ForEach(func(k, val lua.LValue) {
		if he != nil {
			return
		}
		key, _ := k.(lua.LString)
		switch key {
		case "target":
			s, ok := val.(lua.LString)
			if !ok || s == "" {
				he = p.resultError(h, "returned target = %s; want a string such as \"user:201\"", describe(val))
				return
			}
			ch.Target = string(s)
			he = p.checkTarget(h, call, ch.Target)
		case "number":
			s, ok := val.(lua.LString)
			if !ok || s == "" {
				he = p.resultError(h, "returned number = %s; want a string (numbers are strings)", describe(val))
				return
			}
			ch.Number = string(s)
		case "record", "integration":
			b, ok := val.(lua.LBool)
			if !ok {
				he = p.resultError(h, "returned %s = %s; want true or false", key, describe(val))
				return
			}
			bv := bool(b)
			if key == "record" {
				ch.Record = &bv
			} else {
				ch.Integration = &bv
			}
		default:
			he = p.resultError(h, "returned an unknown key %s; want target, number, record or integration", describe(k))
		}
	})
	if he != nil {
		return routing.Change{}, he
	}
	return ch, nil
}

func (p *Program) checkTarget(h hook, call *routing.Call, target string) *HookError {
	if _, err := routing.ParseTarget(target); err != nil {
		return p.resultError(h, "returned %v", err)
	}
	if p.opts.CheckTarget == nil {
		return nil
	}
	company := ""
	if call != nil {
		company = call.Company
	}
	if err := p.opts.CheckTarget(company, target); err != nil {
		return p.resultError(h, "returned target %q: %v", target, err)
	}
	return nil
}

// describe shows a Lua value in an error message.
func describe(v lua.LValue) string {
	switch v := v.(type) {
	case lua.LString:
		return `"` + string(v) + `"`
	case lua.LNumber, lua.LBool, *lua.LNilType:
		return v.String()
	}
	return "a " + v.Type().String()
}

// optString is s, or nil when empty.
func optString(s string) lua.LValue {
	if s == "" {
		return lua.LNil
	}
	return lua.LString(s)
}

// callTable builds the call argument. Its header function answers for the
// call this state is deciding right now. Absent values are left out (nil).
// time_iso is in the company's zone when Options.Location is set.
func (p *Program) callTable(s *state, c *routing.Call) *lua.LTable {
	t := s.L.CreateTable(0, 12)
	if c == nil {
		return t
	}
	t.RawSetString("id", lua.LString(c.ID))
	t.RawSetString("from", lua.LString(c.From))
	t.RawSetString("to", lua.LString(c.To))
	setOpt(t, "did", c.DID)
	setOpt(t, "trunk", c.Trunk)
	t.RawSetString("company", lua.LString(c.Company))
	t.RawSetString("caller_type", lua.LString(c.CallerType.String()))
	setOpt(t, "extension", c.Extension)
	if !c.Time.IsZero() {
		t.RawSetString("time", lua.LNumber(c.Time.Unix()))
		t.RawSetString("time_iso", lua.LString(p.localTime(c).Format("2006-01-02T15:04:05-07:00")))
	}
	t.RawSetString("header", s.header)
	if c.Test {
		t.RawSetString("test", lua.LTrue)
	}
	return t
}

// localTime is the call's time in its company's zone, when known.
func (p *Program) localTime(c *routing.Call) time.Time {
	if p.opts.Location != nil {
		if loc := p.opts.Location(c.Company); loc != nil {
			return c.Time.In(loc)
		}
	}
	return c.Time
}

// setOpt sets a string field unless it is empty.
func setOpt(t *lua.LTable, key, val string) {
	if val != "" {
		t.RawSetString(key, lua.LString(val))
	}
}

// decisionTable builds the decision argument.
func decisionTable(L *lua.LState, d *routing.Decision) *lua.LTable {
	t := L.CreateTable(0, 8)
	if d == nil {
		return t
	}
	setOpt(t, "target", d.Target.String())
	t.RawSetString("number", lua.LString(d.Number))
	setOpt(t, "rule", d.Rule)
	t.RawSetString("record", lua.LBool(d.Record))
	t.RawSetString("integration", lua.LBool(d.Integration))
	setOpt(t, "offhours", d.Offhours)
	t.RawSetString("source", lua.LString(d.Source.String()))
	t.RawSetString("score", lua.LNumber(ScoreNumber(d.Score)))
	return t
}

// ScoreNumber packs a score into one number that orders like the router
// compares scores (called specificity, then time band, then calling
// specificity): decision.score in Lua.
func ScoreNumber(s routing.Score) float64 {
	return float64(specKey(s.Called)<<17 | uint64(s.TimeBand)<<16 | specKey(s.Calling))
}

// specKey orders specificities: length, then exact over prefix, then
// literal positions.
func specKey(s routing.Specificity) uint64 {
	k := uint64(s.Len)<<8 | uint64(s.Literals&0x7f)
	if s.Exact {
		k |= 1 << 7
	}
	return k
}

// headerFunc is call.header: call.header("X-Foo") and call:header("X-Foo")
// both work. It returns the header's value or nil.
func headerFunc(s *state) lua.LGFunction {
	return func(L *lua.LState) int {
		idx := 1
		if _, ok := L.Get(1).(*lua.LTable); ok {
			idx = 2
		}
		name := L.CheckString(idx)
		if s.call == nil || s.call.Header == nil {
			L.Push(lua.LNil)
			return 1
		}
		v := s.call.Header(name)
		if v == "" {
			L.Push(lua.LNil)
			return 1
		}
		L.Push(lua.LString(v))
		return 1
	}
}
