package routing

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Router decides calls for every company of one plan. It is immutable once
// built and safe for concurrent use.
type Router struct {
	gen       uint64
	companies map[string]*company
	order     []*company
}

type company struct {
	id         string
	loc        *time.Location
	classes    []class
	exts       map[string]*ExtensionSpec
	groups     map[string]bool
	ivrs       map[string]string // id -> number
	trunks     map[string]bool
	timetables map[string]*Timetable
	offhours   []offhours
	rules      []rule            // explicit rules in written order, then implicit ones
	known      map[string]string // numbers a map may produce, interned: see company.apply
	idx        index
}

type class struct {
	name string
	pat  Pattern
}

type offhours struct {
	name   string
	open   *Timetable
	dids   map[string]bool
	target Target
}

type rule struct {
	name        string
	order       int32
	enabled     bool
	implicit    bool
	callerType  CallerType
	calling     Pattern
	called      Pattern
	timetable   *Timetable
	isMap       bool
	target      Target
	mapTo       string
	strip       int
	prepend     string
	record      bool
	integration bool
}

// PlanError is a problem in a plan; Path locates it in the config
// ("companies[0].rules[2].called").
type PlanError struct {
	Path string
	Err  error
}

func (e *PlanError) Error() string { return e.Path + ": " + e.Err.Error() }
func (e *PlanError) Unwrap() error { return e.Err }

// Errors is every problem New found, in plan order.
type Errors []*PlanError

func (es Errors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// New compiles a plan. On failure the error is an Errors listing every
// problem at once.
func New(p Plan) (*Router, error) {
	r := &Router{gen: p.Generation, companies: make(map[string]*company, len(p.Companies))}
	var errs Errors
	for i := range p.Companies {
		b := builder{path: fmt.Sprintf("companies[%d]", i)}
		c := b.company(&p.Companies[i])
		if _, dup := r.companies[c.id]; dup {
			b.fail("id", fmt.Errorf("duplicate company id %q", c.id))
		}
		errs = append(errs, b.errs...)
		r.companies[c.id] = c
		r.order = append(r.order, c)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return r, nil
}

// WithGeneration returns a router sharing r's compiled plan, stamped with
// another config generation.
func (r *Router) WithGeneration(gen uint64) *Router {
	c := *r
	c.gen = gen
	return &c
}

// Generation is the config generation this router was built for.
func (r *Router) Generation() uint64 { return r.gen }

// Companies lists the company ids in plan order.
func (r *Router) Companies() []string {
	ids := make([]string, len(r.order))
	for i, c := range r.order {
		ids[i] = c.id
	}
	return ids
}

type builder struct {
	path    string
	errs    Errors
	targets map[string]Target // rule targets already checked: LCR plans repeat a few
}

// target is checkTarget, remembering good targets.
func (b *builder) target(c *company, s string) (Target, error) {
	if t, ok := b.targets[s]; ok {
		return t, nil
	}
	t, err := c.checkTarget(s)
	if err == nil {
		if b.targets == nil {
			b.targets = map[string]Target{}
		}
		b.targets[s] = t
	}
	return t, err
}

func (b *builder) fail(field string, err error) {
	b.errs = append(b.errs, &PlanError{Path: b.path + "." + field, Err: err})
}

func (b *builder) company(s *CompanySpec) *company {
	c := &company{
		id: s.ID, loc: s.Location,
		exts: map[string]*ExtensionSpec{}, groups: map[string]bool{}, ivrs: map[string]string{},
		trunks: map[string]bool{}, timetables: map[string]*Timetable{},
	}
	if c.loc == nil {
		c.loc = time.UTC
	}
	if c.id == "" {
		b.fail("id", errors.New("company needs an id"))
	}
	for _, cl := range s.Classes {
		pat, err := ParsePattern(cl.Pattern)
		if err != nil {
			b.fail("classes."+cl.Name, err)
		}
		c.classes = append(c.classes, class{cl.Name, pat})
	}
	b.entities(c, s)
	for i, t := range s.Timetables {
		tt, ferrs := NewTimetable(t)
		for _, fe := range ferrs {
			b.fail(fmt.Sprintf("timetables[%d].%s", i, fe.Field), fe.Err)
		}
		if _, dup := c.timetables[t.ID]; dup {
			b.fail(fmt.Sprintf("timetables[%d].id", i), fmt.Errorf("duplicate timetable id %q", t.ID))
		}
		c.timetables[t.ID] = tt
	}
	for i, o := range s.Offhours {
		c.offhours = append(c.offhours, b.offhours(c, fmt.Sprintf("offhours[%d]", i), o))
	}
	names := make(map[string]int, len(s.Rules))
	c.rules = make([]rule, 0, len(s.Rules)+len(s.Extensions)+len(s.Groups)+len(s.IVRs))
	for i := range s.Rules {
		r := b.rule(c, i, &s.Rules[i])
		if j, dup := names[r.name]; dup {
			b.fail(fmt.Sprintf("rules[%d].name", i), fmt.Errorf("duplicate rule name %q (also rules[%d])", r.name, j))
		}
		names[r.name] = i
		c.rules = append(c.rules, r)
	}
	c.addImplicitRules(s)
	c.idx = buildIndex(c.rules)
	c.internNumbers()
	return c
}

// entities indexes extensions, groups, IVRs and trunks, and checks that no
// number is used twice.
func (b *builder) entities(c *company, s *CompanySpec) {
	owner := map[string]string{}
	// claim reports whether number is new; the first owner keeps it, so that
	// one duplicate does not cause more errors.
	claim := func(field, number, what string) bool {
		if number == "" {
			b.fail(field, fmt.Errorf("%s needs a number", what))
			return false
		}
		if n := Normalize(number); n != number || !isNumber(n) {
			b.fail(field, fmt.Errorf("%s number %q must be digits only", what, number))
		}
		if prev, dup := owner[number]; dup {
			b.fail(field, fmt.Errorf("number %s is used twice: by %s and by %s", number, prev, what))
			return false
		}
		owner[number] = what
		return true
	}
	for i := range s.Extensions {
		e := &s.Extensions[i]
		if claim(fmt.Sprintf("extensions[%d].number", i), e.Number, "extension "+e.Number) {
			ec := *e // a copy: the router must not change when the plan does
			ec.Rights = append([]string(nil), e.Rights...)
			c.exts[e.Number] = &ec
		}
		for j, right := range e.Rights {
			if !hasClass(s.Classes, right) {
				b.fail(fmt.Sprintf("extensions[%d].rights[%d]", i, j), fmt.Errorf("unknown class %q (the company defines %s)", right, classNames(s.Classes)))
			}
		}
	}
	for i, g := range s.Groups {
		if claim(fmt.Sprintf("groups[%d].number", i), g, "group "+g) {
			c.groups[g] = true
		}
	}
	for i, v := range s.IVRs {
		if _, dup := c.ivrs[v.ID]; dup || v.ID == "" {
			b.fail(fmt.Sprintf("ivrs[%d].id", i), fmt.Errorf("IVR id %q is empty or used twice", v.ID))
		}
		if v.Number != "" {
			claim(fmt.Sprintf("ivrs[%d].number", i), v.Number, "IVR "+v.ID)
		}
		c.ivrs[v.ID] = v.Number
	}
	for i, t := range s.Trunks {
		if c.trunks[t] || t == "" {
			b.fail(fmt.Sprintf("trunks[%d].id", i), fmt.Errorf("trunk id %q is empty or used twice", t))
		}
		c.trunks[t] = true
	}
}

func isNumber(s string) bool {
	for i := 0; i < len(s); i++ {
		if symbol(s[i]) < 0 {
			return false
		}
	}
	return s != ""
}

func hasClass(cs []ClassSpec, name string) bool {
	for _, c := range cs {
		if c.Name == name {
			return true
		}
	}
	return false
}

func classNames(cs []ClassSpec) string {
	if len(cs) == 0 {
		return "no classes"
	}
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = c.Name
	}
	return strings.Join(names, ", ")
}

func (b *builder) offhours(c *company, path string, o OffhoursSpec) offhours {
	oh := offhours{name: o.Name, open: c.timetables[o.Open]}
	if oh.open == nil {
		b.fail(path+".open", fmt.Errorf("unknown timetable %q", o.Open))
	}
	if len(o.DIDs) > 0 {
		oh.dids = map[string]bool{}
		for _, d := range o.DIDs {
			oh.dids[Normalize(d)] = true
		}
	}
	t, err := c.checkTarget(o.Target)
	if err != nil {
		b.fail(path+".target", err)
	}
	oh.target = t
	return oh
}

// failRule reports a problem with a field of rules[i]; the path is only
// built when there is a problem.
func (b *builder) failRule(i int, field string, err error) {
	b.fail(fmt.Sprintf("rules[%d].%s", i, field), err)
}

func (b *builder) rule(c *company, i int, s *RuleSpec) rule {
	r := rule{name: s.Name, order: int32(i), enabled: s.Enabled, record: s.Record, integration: s.Integration}
	if r.name == "" {
		r.name = fmt.Sprintf("rule-%d", i+1)
	}
	var ok bool
	if r.callerType, ok = ParseCallerType(s.CallerType); !ok {
		b.failRule(i, "caller_type", fmt.Errorf("bad caller_type %q (want internal, external or any)", s.CallerType))
	}
	var err error
	if s.Called == "" {
		b.failRule(i, "called", errors.New("rule needs a called pattern (use % for any number)"))
	} else if r.called, err = ParsePattern(s.Called); err != nil {
		b.failRule(i, "called", err)
	}
	calling := s.Calling
	if calling == "" {
		calling = "%"
	}
	if r.calling, err = ParsePattern(calling); err != nil {
		b.failRule(i, "calling", err)
	}
	if s.Timetable != "" {
		if r.timetable = c.timetables[s.Timetable]; r.timetable == nil {
			b.failRule(i, "timetable", fmt.Errorf("unknown timetable %q", s.Timetable))
		}
	}
	switch s.Action {
	case "route", "":
		if s.Map != nil {
			b.failRule(i, "map", errors.New("a route rule takes a target, not a map (set action: map)"))
		}
		if s.Target == "" {
			b.failRule(i, "target", errors.New("a route rule needs a target"))
		} else if r.target, err = b.target(c, s.Target); err != nil {
			b.failRule(i, "target", err)
		}
	case "map":
		r.isMap = true
		b.mapSpec(i, s, &r)
	default:
		b.failRule(i, "action", fmt.Errorf("bad action %q (want route or map)", s.Action))
	}
	return r
}

func (b *builder) mapSpec(i int, s *RuleSpec, r *rule) {
	if s.Target != "" {
		b.failRule(i, "target", errors.New("a map rule takes a map, not a target (set action: route)"))
	}
	m := s.Map
	switch {
	case m == nil:
		b.failRule(i, "map", errors.New("a map rule needs map: {to: ...} or map: {strip: N, prepend: ...}"))
	case m.To != "" && (m.Strip != 0 || m.Prepend != ""):
		b.failRule(i, "map", errors.New("map takes either to, or strip and prepend, not both"))
	case m.To == "" && m.Strip == 0 && m.Prepend == "":
		b.failRule(i, "map", errors.New("map needs to, strip or prepend"))
	case m.Strip < 0:
		b.failRule(i, "map.strip", errors.New("strip must not be negative"))
	default:
		r.mapTo, r.strip, r.prepend = Normalize(m.To), m.Strip, Normalize(m.Prepend)
		if r.mapTo != "" && !isNumber(r.mapTo) {
			b.failRule(i, "map.to", fmt.Errorf("%q is not a number", m.To))
		}
		if r.prepend != "" && !isNumber(r.prepend) {
			b.failRule(i, "map.prepend", fmt.Errorf("%q is not a number", m.Prepend))
		}
	}
}

// checkTarget parses t and checks that what it names exists.
func (c *company) checkTarget(s string) (Target, error) {
	t, err := ParseTarget(s)
	if err != nil {
		return t, err
	}
	switch t.Kind {
	case TargetUser:
		if c.exts[t.Arg] == nil {
			return t, fmt.Errorf("target %q: no extension %s in company %s", s, t.Arg, c.id)
		}
	case TargetVoicemail:
		e := c.exts[t.Arg]
		if e == nil {
			return t, fmt.Errorf("target %q: no extension %s in company %s", s, t.Arg, c.id)
		}
		if !e.Voicemail {
			return t, fmt.Errorf("target %q: extension %s has no voicemail (set voicemail: true)", s, t.Arg)
		}
	case TargetGroup:
		if !c.groups[t.Arg] {
			return t, fmt.Errorf("target %q: no group %s in company %s", s, t.Arg, c.id)
		}
	case TargetIVR:
		if _, ok := c.ivrs[t.Arg]; !ok {
			return t, fmt.Errorf("target %q: no IVR %q in company %s", s, t.Arg, c.id)
		}
	case TargetGateway:
		for _, tr := range t.Trunks() {
			if !c.trunks[tr] {
				return t, fmt.Errorf("target %q: no trunk %q in company %s", s, tr, c.id)
			}
		}
	}
	return t, nil
}

// CheckTarget parses a target (from a script, say) and checks it against the
// company's extensions, groups, IVRs and trunks.
func (r *Router) CheckTarget(companyID, target string) (Target, error) {
	c := r.companies[companyID]
	if c == nil {
		return Target{}, fmt.Errorf("unknown company %q", companyID)
	}
	return c.checkTarget(target)
}

// addImplicitRules makes every extension, group and IVR number an exact rule
// for any caller, ranked after explicit rules of the same score.
func (c *company) addImplicitRules(s *CompanySpec) {
	add := func(name, number string, t Target) {
		called, err := ParsePattern("^$" + number)
		if err != nil {
			return // the number itself was reported as invalid
		}
		c.rules = append(c.rules, rule{
			name: name + ":" + t.Arg, order: int32(len(c.rules)), enabled: true, implicit: true,
			calling: Pattern{src: "%", any: true}, called: called, target: t,
		})
	}
	for _, e := range s.Extensions {
		add("ext", e.Number, Target{Kind: TargetUser, Arg: e.Number})
	}
	for _, g := range s.Groups {
		add("group", g, Target{Kind: TargetGroup, Arg: g})
	}
	for _, v := range s.IVRs {
		if v.Number != "" {
			add("ivr", v.Number, Target{Kind: TargetIVR, Arg: v.ID})
		}
	}
}

// internNumbers collects the numbers a strip-and-prepend map is likely to
// produce: every exact literal called pattern (extensions, groups and IVRs
// through their implicit rules) and every map target.
func (c *company) internNumbers() {
	c.known = map[string]string{}
	for i := range c.rules {
		r := &c.rules[i]
		if r.mapTo != "" {
			c.known[r.mapTo] = r.mapTo
		}
		if !r.called.exact {
			continue
		}
		if n, ok := r.called.literal(); ok {
			c.known[n] = n
		}
	}
}
