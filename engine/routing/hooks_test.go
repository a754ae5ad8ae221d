package routing

import (
	"errors"
	"strings"
	"testing"
)

// fakeHooks is a routing.Hooks whose behaviour each test sets; a nil field
// changes nothing.
type fakeHooks struct {
	offhours func(*Call, *Decision) (Change, error)
	mapf     func(*Call, string, string) (string, error)
	route    func(*Call, *Decision) (Change, error)
	calls    []string
}

func (h *fakeHooks) Offhours(c *Call, d *Decision) (Change, error) {
	h.calls = append(h.calls, "on_offhours")
	if h.offhours == nil {
		return Change{}, nil
	}
	return h.offhours(c, d)
}

func (h *fakeHooks) Map(c *Call, number, rule string) (string, error) {
	h.calls = append(h.calls, "on_map "+rule)
	if h.mapf == nil {
		return number, nil
	}
	return h.mapf(c, number, rule)
}

func (h *fakeHooks) Route(c *Call, d *Decision) (Change, error) {
	h.calls = append(h.calls, "on_route "+d.Target.String())
	if h.route == nil {
		return Change{}, nil
	}
	return h.route(c, d)
}

func yes() *bool { b := true; return &b }

func TestHooks(t *testing.T) {
	r := mustNew(t, basePlan())
	tests := []struct {
		name     string
		hooks    *fakeHooks
		from, to string
		ext      bool
		when     string
		want     want
		source   Source
		record   bool
		lua      string // in ex.Lua
		hookErr  string // in ex.HookErrors
	}{
		{name: "nothing changed", hooks: &fakeHooks{}, from: "201", to: "3471234567",
			want: want{"gateway:p1", "3471234567", "mobiles", 0}, source: Builtin},
		{name: "on_route changes target, number and record", hooks: &fakeHooks{route: func(c *Call, d *Decision) (Change, error) {
			return Change{Target: "user:202", Number: "202", Record: yes()}, nil
		}}, from: "201", to: "3471234567", want: want{"user:202", "202", "mobiles", 0}, source: Lua, record: true,
			lua: "on_route changed target gateway:p1 -> user:202, number 3471234567 -> 202, record false -> true"},
		{name: "on_route bad target keeps the built-in decision", hooks: &fakeHooks{route: func(*Call, *Decision) (Change, error) {
			return Change{Target: "user:999"}, nil
		}}, from: "201", to: "3471234567", want: want{"gateway:p1", "3471234567", "mobiles", 0}, source: Builtin,
			hookErr: "on_route: returned a bad target"},
		{name: "on_route bad number keeps the built-in decision", hooks: &fakeHooks{route: func(*Call, *Decision) (Change, error) {
			return Change{Target: "user:202", Number: "two"}, nil
		}}, from: "201", to: "3471234567", want: want{"gateway:p1", "3471234567", "mobiles", 0}, source: Builtin,
			hookErr: "on_route: returned number"},
		{name: "on_route error keeps the built-in decision", hooks: &fakeHooks{route: func(*Call, *Decision) (Change, error) {
			return Change{Target: "user:202"}, errors.New("crm.lua:12: timeout")
		}}, from: "201", to: "3471234567", want: want{"gateway:p1", "3471234567", "mobiles", 0}, source: Builtin,
			hookErr: "crm.lua:12: timeout"},
		{name: "on_route number: target routes again", hooks: &fakeHooks{route: func(_ *Call, d *Decision) (Change, error) {
			if d.Target.Kind == TargetUser {
				return Change{Target: "number:4444"}, nil
			}
			return Change{}, nil
		}}, from: "201", to: "202", want: want{"gateway:p1", "3471234567", "mobiles", 2}, source: Lua},
		{name: "rights still apply after on_route", hooks: &fakeHooks{route: func(*Call, *Decision) (Change, error) {
			return Change{Target: "gateway:p2", Number: "0044123"}, nil
		}}, from: "201", to: "202", want: want{"reject:403", "0044123", "ext:202", 0}, source: Lua},
		{name: "on_map changes the mapped number", hooks: &fakeHooks{mapf: func(_ *Call, n, rule string) (string, error) {
			if rule == "short-4444" && n == "3471234567" {
				return "333 999 8888", nil
			}
			return n, nil
		}}, from: "201", to: "4444", want: want{"gateway:p1", "3339998888", "mobiles", 1}, source: Builtin,
			lua: "on_map (rule short-4444) changed the mapped number 3471234567 to 3339998888"},
		{name: "on_map bad number keeps the mapped one", hooks: &fakeHooks{mapf: func(*Call, string, string) (string, error) {
			return "abc", nil
		}}, from: "201", to: "4444", want: want{"gateway:p1", "3471234567", "mobiles", 1}, source: Builtin,
			hookErr: "on_map: returned \"abc\""},
		{name: "on_map error keeps the mapped one", hooks: &fakeHooks{mapf: func(*Call, string, string) (string, error) {
			return "", errors.New("boom")
		}}, from: "201", to: "4444", want: want{"gateway:p1", "3471234567", "mobiles", 1}, source: Builtin,
			hookErr: "on_map: boom"},
		{name: "on_offhours changes the target", hooks: &fakeHooks{offhours: func(_ *Call, d *Decision) (Change, error) {
			if d.Offhours != "night" || d.Target.String() != "voicemail:201" {
				return Change{}, errors.New("unexpected decision")
			}
			return Change{Target: "play:closed.wav"}, nil
		}}, from: "3339998888", to: "0733811720", ext: true, when: "2026-11-23T20:00",
			want: want{"play:closed.wav", "0733811720", "", 0}, source: Lua, lua: "on_offhours changed target voicemail:201 -> play:closed.wav"},
		{name: "on_offhours bad target", hooks: &fakeHooks{offhours: func(*Call, *Decision) (Change, error) {
			return Change{Target: "ivr:none"}, nil
		}}, from: "3339998888", to: "0733811720", ext: true, when: "2026-11-23T20:00",
			want: want{"voicemail:201", "0733811720", "", 0}, source: Builtin, hookErr: "on_offhours: returned a bad target"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			when := tc.when
			if when == "" {
				when = monday10
			}
			var c *Call
			if tc.ext {
				c = external(t, r, tc.from, tc.to, when)
			} else {
				c = internal(t, r, tc.from, tc.to, when)
			}
			d, ex := decide(t, r, c, tc.hooks)
			check(t, d, ex, tc.want)
			if d.Source != tc.source || d.Record != tc.record {
				t.Errorf("source %s record %t, want %s %t", d.Source, d.Record, tc.source, tc.record)
			}
			if tc.lua != "" {
				contains(t, strings.Join(ex.Lua, "\n"), tc.lua)
			}
			if tc.hookErr != "" {
				contains(t, strings.Join(ex.HookErrors, "\n"), tc.hookErr, "the built-in decision stands")
			} else if len(ex.HookErrors) > 0 {
				t.Errorf("unexpected hook errors: %v", ex.HookErrors)
			}
			routes := 0
			for _, call := range tc.hooks.calls {
				if strings.HasPrefix(call, "on_route") {
					routes++
				}
			}
			if routes != 2 { // decide decides twice: with and without explanation
				t.Errorf("on_route should run once per decision: %v", tc.hooks.calls)
			}
		})
	}
}

// The hook order: on_offhours, then on_route; on_map for each map.
func TestHookOrder(t *testing.T) {
	r := mustNew(t, basePlan())
	h := &fakeHooks{}
	r.Decide(internal(t, r, "201", "4444", monday10), h, nil)
	if strings.Join(h.calls, "|") != "on_map short-4444|on_route gateway:p1" {
		t.Errorf("calls = %v", h.calls)
	}
	h = &fakeHooks{}
	r.Decide(external(t, r, "333", "0733811720", "2026-11-23T20:00"), h, nil)
	if strings.Join(h.calls, "|") != "on_offhours|on_route voicemail:201" {
		t.Errorf("calls = %v", h.calls)
	}
}
