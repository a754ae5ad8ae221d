package routing

import (
	"fmt"
	"math/bits"
)

// Tie is a pair of rules that can serve the same call with the same score;
// the one written first wins it. `luapbx check` warns about each.
type Tie struct {
	Company    string `json:"company"`
	First      string `json:"first"` // written first: it wins the tie
	Second     string `json:"second"`
	FirstPath  string `json:"first_path"` // "companies[0].rules[2]"
	SecondPath string `json:"second_path"`
	Why        string `json:"why"`
}

func (t Tie) String() string {
	return fmt.Sprintf("rules %s (%s) and %s (%s) can tie: %s; %s wins because it is written first",
		t.First, t.FirstPath, t.Second, t.SecondPath, t.Why, t.First)
}

// MaxTies caps the warnings Ties returns.
const MaxTies = 100

// tieBudget caps the trie nodes and rule pairs Ties looks at, so that a
// pathological plan (thousands of rules on one pattern) stays fast.
const tieBudget = 4_000_000

// Ties lists pairs of explicit rules of one company that can tie on the
// same call: both enabled, caller types that overlap, called patterns that
// can match the same number with equal specificity, the same time-band
// status (both without a timetable, or both with one: then they tie when
// both are open) and calling patterns that overlap likewise. Implicit rules
// are left out: an explicit rule beats them by design.
//
// It does not compare every pair: each rule walks the index along its own
// called pattern to the rules that end at a node of the same specificity,
// so a plan of distinct literal prefixes costs one walk per rule. At most
// MaxTies pairs are returned, in plan order.
func (r *Router) Ties() []Tie {
	var out []Tie
	budget := tieBudget
	for ci, c := range r.order {
		for i := range c.rules {
			if len(out) >= MaxTies || budget <= 0 {
				return out
			}
			a := &c.rules[i]
			if a.implicit || !a.enabled {
				continue
			}
			c.idx.overlapping(&a.called, func(ids []int32) bool {
				for _, j := range ids {
					budget--
					if int(j) <= i {
						continue
					}
					b := &c.rules[j]
					if why, ok := ties(a, b); ok {
						out = append(out, Tie{
							Company: c.id, First: a.name, Second: b.name,
							FirstPath:  fmt.Sprintf("companies[%d].rules[%d]", ci, a.order),
							SecondPath: fmt.Sprintf("companies[%d].rules[%d]", ci, b.order),
							Why:        why,
						})
						if len(out) >= MaxTies {
							return false
						}
					}
				}
				return budget > 0
			}, &budget)
		}
	}
	return out
}

// ties reports whether rules a and b (called patterns already known to
// overlap with equal specificity) can tie, and says on what.
func ties(a, b *rule) (string, bool) {
	if b.implicit || !b.enabled {
		return "", false
	}
	if a.callerType != Any && b.callerType != Any && a.callerType != b.callerType {
		return "", false
	}
	if (a.timetable == nil) != (b.timetable == nil) {
		return "", false
	}
	if !a.calling.Overlaps(b.calling) {
		return "", false
	}
	why := fmt.Sprintf("called %s and %s can match the same number with the same specificity, calling %s and %s likewise",
		a.called.src, b.called.src, a.calling.src, b.calling.src)
	if a.timetable != nil {
		why += fmt.Sprintf(", and both have a timetable (%s, %s): they tie when both are open", a.timetable.ID, b.timetable.ID)
	}
	return why, true
}

// overlapping calls fn with the rules of every node whose pattern can match
// a number that p matches, with p's specificity. fn returns false to stop.
func (x *index) overlapping(p *Pattern, fn func([]int32) bool, budget *int) {
	if p.any {
		fn(x.rulesOf(hit{node: 0}))
		return
	}
	want := int(p.literals)
	var walk func(n int32, d int) bool
	walk = func(n int32, d int) bool {
		*budget--
		if *budget <= 0 {
			return false
		}
		nd := &x.nodes[n]
		if int(nd.literals) > want || int(nd.literals)+len(p.elems)-d < want {
			return true
		}
		if d == len(p.elems) {
			return fn(x.rulesOf(hit{node: n, exact: p.exact}))
		}
		m := p.elems[d]
		lits := nd.litMask & m
		for lits != 0 {
			s := bits.TrailingZeros16(lits)
			lits &= lits - 1
			c := nd.children + int32(bits.OnesCount16(nd.litMask&(1<<s-1)))
			if !walk(c, d+1) {
				return false
			}
		}
		base := nd.children + int32(bits.OnesCount16(nd.litMask))
		for c := base; c < base+int32(nd.nClass); c++ {
			if x.masks[c]&m != 0 && !walk(c, d+1) {
				return false
			}
		}
		return true
	}
	walk(0, 0)
}
