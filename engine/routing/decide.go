package routing

import (
	"fmt"
	"time"
)

// Call is what the router knows of a call.
type Call struct {
	ID         string
	Company    string
	CallerType CallerType
	From       string
	To         string
	DID        string // external calls: the number as it came from the trunk
	Trunk      string
	Extension  string // internal calls from an extension: its number
	Time       time.Time
	Header     func(name string) string // SIP header of the incoming INVITE; nil outside calls
	// Test marks a call made up by a plan's tests: (luapbx check, or the
	// checks of a reload): hooks may skip side effects; Lua sees call.test.
	Test bool
}

// Source tells who made the final decision.
type Source uint8

// Decision sources.
const (
	Builtin Source = iota
	Lua
)

func (s Source) String() string {
	if s == Lua {
		return "lua"
	}
	return "builtin"
}

// Score of a matching rule, compared field by field in this order.
type Score struct {
	Called   Specificity `json:"called"`
	TimeBand uint8       `json:"time_band"`
	Calling  Specificity `json:"calling"`
}

func (s Score) key() uint64 {
	return s.Called.key()<<17 | uint64(s.TimeBand)<<16 | s.Calling.key()
}

func (s Score) String() string {
	return fmt.Sprintf("called %s, time band %d, calling %s", s.Called, s.TimeBand, s.Calling)
}

// Decision is what to do with a call.
type Decision struct {
	Target      Target
	Number      string // the number after maps
	Rule        string // the deciding rule ("" for off-hours and no match)
	Record      bool
	Integration bool
	Score       Score
	Source      Source
	Offhours    string // the off-hours entry that decided, if any
	Maps        int
	Class       string // the number class of a gateway call, if any
}

// Change is what a hook asks to change in a decision; zero fields keep.
type Change struct {
	Target      string
	Number      string
	Record      *bool
	Integration *bool
}

// Empty reports whether c changes nothing.
func (c Change) Empty() bool {
	return c.Target == "" && c.Number == "" && c.Record == nil && c.Integration == nil
}

// Hooks lets scripts change decisions. Implementations report their own
// errors too (they know the script's file and line); the router then keeps
// the built-in decision and notes the error in the explanation.
type Hooks interface {
	Offhours(call *Call, d *Decision) (Change, error)
	Map(call *Call, number, rule string) (string, error)
	Route(call *Call, d *Decision) (Change, error)
}

// MaxMaps is how many maps (and number: targets) one call may go through;
// one more is a loop and the call is rejected with 482.
const MaxMaps = 8

// Decide routes call. hooks may be nil; ex, when not nil, receives the
// explanation (building it costs allocations; without it and without hooks a
// decision does not allocate, whatever the maps and off-hours entries).
func (r *Router) Decide(call *Call, hooks Hooks, ex *Explanation) Decision {
	c := r.company(call.Company)
	if ex != nil {
		ex.start(r, call)
	}
	if c == nil {
		if ex != nil {
			ex.note("unknown company %q: rejected with 404", call.Company)
		}
		return Decision{Target: reject404, Number: call.To}
	}
	local := call.Time.In(c.loc)
	if ex != nil {
		ex.Time = local.Format("2006-01-02T15:04:05-07:00 Mon")
	}
	st := state{call: call, from: Normalize(call.From), local: local, hooks: hooks, ex: ex}
	number := Normalize(call.To)
	d, decided := c.offhoursDecision(&st, number)
	if !decided {
		d = c.route(&st, number, 0)
	}
	if hooks != nil {
		d = c.applyRouteHook(&st, d)
	}
	c.checkRights(call, &d, ex)
	return d
}

// company finds a company; most plans have one, and comparing its id is
// cheaper than hashing.
func (r *Router) company(id string) *company {
	if len(r.order) == 1 {
		if r.order[0].id == id {
			return r.order[0]
		}
		return nil
	}
	return r.companies[id]
}

// state is what one decision carries through its steps.
type state struct {
	call  *Call
	from  string    // normalized calling number
	local time.Time // the call's time in the company's zone
	now   clock     // local broken down; see clock()
	nowOK bool
	hooks Hooks
	ex    *Explanation
}

// clock breaks the call's time down the first time a timetable needs it.
func (st *state) clock() clock {
	if !st.nowOK {
		st.now, st.nowOK = clockOf(st.local), true
	}
	return st.now
}

// offhoursDecision applies the first off-hours entry whose open hours are
// over for an external call to one of its DIDs (the DID is call.DID when
// set, else the called number).
func (c *company) offhoursDecision(st *state, number string) (Decision, bool) {
	if st.call.CallerType != External || len(c.offhours) == 0 {
		return Decision{}, false
	}
	did := number
	if st.call.DID != "" {
		did = Normalize(st.call.DID)
	}
	for i := range c.offhours {
		oh := &c.offhours[i]
		if oh.dids != nil && !oh.dids[did] {
			st.ex.offhoursEntry(oh, did, st.clock(), false)
			continue
		}
		if oh.open.open(st.clock()) {
			st.ex.offhoursEntry(oh, did, st.clock(), false)
			continue
		}
		st.ex.offhoursEntry(oh, did, st.clock(), true)
		d := Decision{Target: oh.target, Number: number, Offhours: oh.name}
		if st.hooks != nil {
			ch, err := offhoursHook(st.hooks, st.call, d)
			d = c.applyChange(d, ch, err, "on_offhours", st.ex)
		}
		if d.Target.Kind == TargetNumber {
			if st.ex != nil {
				st.ex.mapped("offhours "+oh.name, d.Number, d.Target.Arg)
			}
			d2 := c.route(st, d.Target.Arg, 1)
			d2.Offhours, d2.Source = d.Offhours, d.Source
			d2.Record, d2.Integration = d2.Record || d.Record, d2.Integration || d.Integration
			d = d2
		}
		return d, true
	}
	return Decision{}, false
}

// offhoursHook and routeHook hand the hook a copy of d, so that only calls
// with hooks pay for the copy escaping to the heap.
func offhoursHook(h Hooks, call *Call, d Decision) (Change, error) { return h.Offhours(call, &d) }

func routeHook(h Hooks, call *Call, d Decision) (Change, error) { return h.Route(call, &d) }

// route runs the scored rules on number, following maps and number:
// targets. steps counts maps already applied.
func (c *company) route(st *state, number string, steps int) Decision {
	var record, integration bool
	for {
		ri := c.match(st, number, steps)
		if ri < 0 {
			if st.ex != nil {
				st.ex.note("no rule matches %s: rejected with 404", number)
			}
			return Decision{Target: reject404, Number: number, Maps: steps, Record: record, Integration: integration}
		}
		rl := &c.rules[ri]
		record, integration = record || rl.record, integration || rl.integration
		next := ""
		switch {
		case rl.isMap:
			next = c.apply(rl, number)
			if st.hooks != nil {
				next = c.mapHook(st, rl, next)
			}
		case rl.target.Kind == TargetNumber:
			next = rl.target.Arg
		default:
			return Decision{
				Target: rl.target, Number: number, Rule: rl.name, Record: record, Integration: integration,
				Score: rl.score(), Maps: steps,
			}
		}
		steps++
		st.ex.mapped(rl.name, number, next)
		if steps > MaxMaps {
			if st.ex != nil {
				st.ex.note("more than %d maps: a loop, rejected with 482", MaxMaps)
			}
			return Decision{Target: reject482, Number: next, Rule: rl.name, Maps: steps, Record: record, Integration: integration}
		}
		number = next
	}
}

// mapHook lets on_map change a mapped number; a hook error or a result that
// is not a number keeps the built-in one.
func (c *company) mapHook(st *state, rl *rule, next string) string {
	n, err := st.hooks.Map(st.call, next, rl.name)
	switch {
	case err != nil:
		st.ex.hookError("on_map", err)
	case n == next:
	case !isNumber(Normalize(n)):
		st.ex.hookError("on_map", fmt.Errorf("returned %q, which is not a number", n))
	default:
		if st.ex != nil {
			st.ex.Lua = append(st.ex.Lua, fmt.Sprintf("on_map (rule %s) changed the mapped number %s to %s", rl.name, next, Normalize(n)))
		}
		next = Normalize(n)
	}
	return next
}

// apply rewrites number by map rule r. A strip-and-prepend result that is
// one of the company's known numbers (an extension, say: the pass-through
// case) comes from c.known and does not allocate.
func (c *company) apply(r *rule, number string) string {
	if r.mapTo != "" {
		return r.mapTo
	}
	rest := ""
	if r.strip < len(number) {
		rest = number[r.strip:]
	}
	if r.prepend == "" {
		return rest
	}
	var buf [2 * maxPatternLen]byte
	if len(r.prepend)+len(rest) <= len(buf) {
		b := append(append(buf[:0], r.prepend...), rest...)
		if s, ok := c.known[string(b)]; ok {
			return s
		}
	}
	return r.prepend + rest
}

// match returns the index of the best rule for number, or -1.
func (c *company) match(st *state, number string, step int) int {
	var buf [maxHits]hit
	hits := c.idx.lookup(number, buf[:0])
	ex := st.ex
	best, bestKey := -1, uint64(0)
	for i, h := range hits {
		if best >= 0 && ex == nil && h.key < hits[i-1].key {
			break // every rule left is less specific on the called number
		}
		from, to := c.idx.span(h)
		for _, hr := range c.idx.hot[from:to] {
			m := hr.serves(st)
			if ex != nil {
				rl := &c.rules[hr.id]
				ex.candidate(step, number, rl, m)
			}
			if m != served {
				continue
			}
			if k := hr.key; best < 0 || k > bestKey || (k == bestKey && int(hr.id) < best) {
				best, bestKey = int(hr.id), k
			}
		}
	}
	ex.decided(step, best, c)
	return best
}

// miss is why a rule whose called pattern matched does not serve a call.
type miss uint8

const (
	served miss = iota
	missDisabled
	missCallerType
	missCalling
	missTimetable
)

// why describes a miss for the explanation.
func (r *rule) why(m miss) string {
	switch m {
	case missDisabled:
		return "disabled"
	case missCallerType:
		return "serves " + r.callerType.String() + " callers only"
	case missCalling:
		return "calling number does not match " + r.calling.src
	case missTimetable:
		return "outside its timetable " + r.timetable.ID
	}
	return ""
}

// score of a rule that serves the call.
func (r *rule) score() Score {
	s := Score{Called: r.called.Specificity(), Calling: r.calling.Specificity()}
	if r.timetable != nil {
		s.TimeBand = 1
	}
	return s
}
