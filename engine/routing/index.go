package routing

import (
	"math/bits"
	"slices"
)

// index is a trie over the rules' called patterns. Each node is one pattern
// position: literal edges (one symbol) and class edges (X, Z, N, [..]). A
// number walks every path its symbols allow, so a lookup costs about one
// step per digit whatever the number of rules.
//
// The children of a node are contiguous: the literal children in symbol
// order (found by a popcount over litMask), then the class children. A frozen node is 24 bytes and holds no pointers, so a
// 100,000-rule plan costs a few MB and the GC never scans it.
type index struct {
	nodes []node
	masks []uint16  // by node: the symbols of the edge that leads to it
	rules []int32   // by node: its prefix rules, then its exact rules, in written order
	hot   []hotRule // parallel to rules: what deciding needs, next to its neighbours
}

// hotRule is the part of a rule that deciding reads, stored in index order
// so that the rules of one node share cache lines.
type hotRule struct {
	key        uint64     // Score.key(): called, time band, calling
	calling    *Pattern   // nil for "%"
	timetable  *Timetable // nil for none
	id         int32      // index in company.rules
	callerType CallerType
	enabled    bool
}

// serves tells whether the rule serves the call (its called pattern is
// known to match), or why not.
func (h *hotRule) serves(st *state) miss {
	switch {
	case !h.enabled:
		return missDisabled
	case h.callerType != Any && h.callerType != st.call.CallerType:
		return missCallerType
	case h.calling != nil && !h.calling.Match(st.from):
		return missCalling
	case h.timetable != nil && !h.timetable.open(st.clock()):
		return missTimetable
	}
	return served
}

type node struct {
	litMask  uint16 // symbols with a literal child
	nClass   uint16 // class children, after the literal ones
	depth    uint8
	literals uint8
	children int32 // first child
	first    int32 // first rule in index.rules
	nPrefix  int32
	nExact   int32
}

// terminal is where a rule's called pattern ends.
type terminal struct {
	node  int32
	exact bool
}

// buildIndex sorts the rules by called pattern (each position ordered
// literals first, by symbol, then classes), then lays the trie out breadth
// first straight from the sorted list: the rules under a node form one run of
// it, and each child is a sub-run. No intermediate trie is built.
func buildIndex(rules []rule) index {
	type entry struct {
		elems []uint16
		id    int32
	}
	order := make([]entry, len(rules))
	for i := range rules {
		order[i] = entry{rules[i].called.elems, int32(i)}
	}
	slices.SortFunc(order, func(a, b entry) int { return compareElems(a.elems, b.elems) })
	x := index{nodes: make([]node, 1, len(rules)*3+1), masks: make([]uint16, 1, len(rules)*3+1)}
	runs := make([][2]int32, 1, len(rules)*3+1) // by node: its run of order
	runs[0] = [2]int32{0, int32(len(order))}
	ends := make([]terminal, len(rules))
	// Expand depth first: a node's children are allocated together, right
	// after the subtrees of its earlier siblings, so a sparse deep subtree
	// sits next to its parent and a lookup misses the cache less.
	todo := []int32{0}
	for len(todo) > 0 {
		ni := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		lo, hi := runs[ni][0], runs[ni][1]
		d := int(x.nodes[ni].depth)
		for lo < hi && len(order[lo].elems) == d {
			id := order[lo].id
			ends[id] = terminal{int32(ni), rules[id].called.exact}
			lo++
		}
		x.nodes[ni].children = int32(len(x.nodes))
		for lo < hi {
			m := order[lo].elems[d]
			j := lo + 1
			for j < hi && order[j].elems[d] == m {
				j++
			}
			ch := node{depth: x.nodes[ni].depth + 1, literals: x.nodes[ni].literals}
			if m&(m-1) == 0 {
				x.nodes[ni].litMask |= m
				ch.literals++
			} else {
				x.nodes[ni].nClass++
			}
			x.nodes = append(x.nodes, ch)
			x.masks = append(x.masks, m)
			runs = append(runs, [2]int32{lo, j})
			lo = j
		}
		for c := int32(len(x.nodes)) - 1; c >= x.nodes[ni].children; c-- {
			todo = append(todo, c)
		}
	}
	x.placeRules(ends)
	x.hot = make([]hotRule, len(x.rules))
	for i, id := range x.rules {
		r := &rules[id]
		h := hotRule{key: r.score().key(), timetable: r.timetable, id: id, callerType: r.callerType, enabled: r.enabled}
		if !r.calling.any {
			h.calling = &r.calling
		}
		x.hot[i] = h
	}
	return x
}

// compareElems orders patterns position by position, literals (by symbol)
// before classes; a pattern sorts before the longer ones it begins.
func compareElems(a, b []uint16) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return cmpInt(elemOrder(a[i]), elemOrder(b[i]))
		}
	}
	return cmpInt(len(a), len(b))
}

func elemOrder(m uint16) int {
	if m&(m-1) == 0 {
		return bits.TrailingZeros16(m)
	}
	return 16 + int(m)
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// placeRules lists each node's rules, prefix ones then exact ones, in
// written order (a counting sort).
func (x *index) placeRules(ends []terminal) {
	for _, e := range ends {
		if e.exact {
			x.nodes[e.node].nExact++
		} else {
			x.nodes[e.node].nPrefix++
		}
	}
	pos := int32(0)
	for i := range x.nodes {
		x.nodes[i].first = pos
		pos += x.nodes[i].nPrefix + x.nodes[i].nExact
	}
	x.rules = make([]int32, pos)
	fill := make([]int32, 2*len(x.nodes)) // per node: prefix rules placed, exact rules placed
	for ri, e := range ends {
		nd := &x.nodes[e.node]
		if e.exact {
			x.rules[nd.first+nd.nPrefix+fill[2*e.node+1]] = int32(ri)
			fill[2*e.node+1]++
		} else {
			x.rules[nd.first+fill[2*e.node]] = int32(ri)
			fill[2*e.node]++
		}
	}
}

// hit is a trie node a number reached; exact tells that the number ended
// there, so the node's exact rules match too. It is 8 bytes: match keeps a
// buffer of them on its stack.
type hit struct {
	node  int32
	key   uint16 // called specificity of the hit's rules: Specificity.key()
	exact bool
}

// maxHits and maxFrames bound what one lookup collects without allocating:
// nodes holding rules on the number's paths (about one per digit, more with
// class patterns), and class edges still to follow.
const (
	maxHits   = 64
	maxFrames = 32
)

// nodeKey is Specificity{Len: depth, Exact: exact, Literals: literals}.key().
func nodeKey(nd *node, exact bool) uint16 {
	k := uint16(nd.depth)<<8 | uint16(nd.literals)
	if exact {
		k |= 1 << 7
	}
	return k
}

type frame struct {
	node  int32
	depth int32
}

// lookup appends to hits every node number reaches that holds rules, most
// specific first. It follows literal edges in a loop and keeps only the
// class edges' alternatives on a stack.
func (x *index) lookup(number string, hits []hit) []hit {
	var stackBuf [maxFrames]frame
	stack := append(stackBuf[:0], frame{0, 0})
	for len(stack) > 0 {
		f := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		n, d := f.node, int(f.depth)
		for {
			nd := &x.nodes[n]
			if nd.nPrefix > 0 {
				hits = append(hits, hit{n, nodeKey(nd, false), false})
			}
			if d == len(number) {
				if nd.nExact > 0 {
					hits = append(hits, hit{n, nodeKey(nd, true), true})
				}
				break
			}
			s := symbol(number[d])
			if s < 0 {
				break
			}
			bit := uint16(1) << s
			if nd.nClass > 0 {
				base := nd.children + int32(bits.OnesCount16(nd.litMask))
				for c := base; c < base+int32(nd.nClass); c++ {
					if x.masks[c]&bit != 0 {
						stack = append(stack, frame{c, int32(d + 1)})
					}
				}
			}
			if nd.litMask&bit == 0 {
				break
			}
			n = nd.children + int32(bits.OnesCount16(nd.litMask&(bit-1)))
			d++
		}
	}
	// Most specific first: insertion sort, the list is short.
	for i := 1; i < len(hits); i++ {
		for j := i; j > 0 && hits[j].key > hits[j-1].key; j-- {
			hits[j], hits[j-1] = hits[j-1], hits[j]
		}
	}
	return hits
}

// span returns the positions in rules and hot of the rules a hit brings.
func (x *index) span(h hit) (from, to int32) {
	nd := &x.nodes[h.node]
	if h.exact {
		return nd.first + nd.nPrefix, nd.first + nd.nPrefix + nd.nExact
	}
	return nd.first, nd.first + nd.nPrefix
}

// rulesOf returns the rules a hit brings, in written order.
func (x *index) rulesOf(h hit) []int32 {
	from, to := x.span(h)
	return x.rules[from:to]
}
