package routing

import (
	"fmt"
	"strings"
)

// apply lays a hook's change over d. A hook error, or a change naming a
// target that does not exist, leaves d as it is.
func (c *company) applyChange(d Decision, ch Change, err error, hook string, ex *Explanation) Decision {
	if err != nil {
		ex.hookError(hook, err)
		return d
	}
	if ch.Empty() {
		return d
	}
	nd := d
	if ch.Target != "" {
		t, err := c.checkTarget(ch.Target)
		if err != nil {
			ex.hookError(hook, fmt.Errorf("returned a bad target: %w", err))
			return d
		}
		nd.Target = t
	}
	if ch.Number != "" {
		n := Normalize(ch.Number)
		if !isNumber(n) {
			ex.hookError(hook, fmt.Errorf("returned number %q, which is not a number", ch.Number))
			return d
		}
		nd.Number = n
	}
	if ch.Record != nil {
		nd.Record = *ch.Record
	}
	if ch.Integration != nil {
		nd.Integration = *ch.Integration
	}
	nd.Source = Lua
	if ex != nil {
		ex.luaChange(hook, d, nd)
	}
	return nd
}

// applyRouteHook runs on_route on the decision; a number: target it returns
// is routed again.
func (c *company) applyRouteHook(st *state, d Decision) Decision {
	ch, err := routeHook(st.hooks, st.call, d)
	nd := c.applyChange(d, ch, err, "on_route", st.ex)
	if nd.Source != Lua || nd.Target.Kind != TargetNumber || nd.Target == d.Target {
		return nd
	}
	st.ex.mapped("on_route", nd.Number, nd.Target.Arg)
	again := c.route(st, nd.Target.Arg, d.Maps+1)
	again.Source, again.Offhours = Lua, nd.Offhours
	again.Record, again.Integration = again.Record || nd.Record, again.Integration || nd.Integration
	return again
}

// checkRights rejects with 403 an internal call that would leave through a
// gateway to a class of numbers its extension may not call.
func (c *company) checkRights(call *Call, d *Decision, ex *Explanation) {
	if d.Target.Kind != TargetGateway {
		return
	}
	d.Class = c.classOf(d.Number)
	if call.CallerType != Internal || d.Class == "" {
		return
	}
	ext := call.Extension
	if ext == "" {
		ext = Normalize(call.From) // fail closed when the caller did not say
	}
	e := c.exts[ext]
	if e == nil {
		return // a PBX entity (an IVR, say), not a person
	}
	for _, right := range e.Rights {
		if right == d.Class {
			return
		}
	}
	if ex != nil {
		rights := "none"
		if len(e.Rights) > 0 {
			rights = strings.Join(e.Rights, ", ")
		}
		ex.Rights = fmt.Sprintf("%s is %s %s number; extension %s may call: %s", d.Number, article(d.Class), d.Class, e.Number, rights)
		ex.note("rights: extension %s may not call %s numbers: rejected with 403", e.Number, d.Class)
	}
	d.Target = reject403
}

// classOf names the most specific class number belongs to, or "".
func (c *company) classOf(number string) string {
	best, bestKey := "", uint64(0)
	for _, cl := range c.classes {
		if !cl.pat.Match(number) {
			continue
		}
		if k := cl.pat.Specificity().key(); best == "" || k > bestKey {
			best, bestKey = cl.name, k
		}
	}
	return best
}

// article is "an" before a vowel, else "a".
func article(word string) string {
	if word != "" && strings.ContainsRune("aeiouAEIOU", rune(word[0])) {
		return "an"
	}
	return "a"
}
