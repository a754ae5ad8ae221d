package config

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
)

// decoder walks a yaml.Node tree into the config structs, strictly: every
// unknown key, duplicate key and wrongly typed value is reported with its
// line, and decoding goes on so that every problem is found in one pass.
// It records the line of every node it visits under its config path.
type decoder struct {
	rep    *report
	budget int // nodes left to visit; bounds alias expansion
}

// defaulter is implemented by types with defaults other than zero values;
// the decoder calls it on every new element before decoding into it.
type defaulter interface{ setDefaults() }

var entriesType = reflect.TypeFor[Entries]()

func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	n = d.deref(n, path)
	if n == nil {
		return
	}
	if !d.spend(n.Line, path) {
		return
	}
	if _, seen := d.rep.lines[path]; !seen {
		d.rep.lines[path] = n.Line
	}
	if v.Type() == entriesType {
		d.entries(n, v, path)
		return
	}
	switch v.Kind() {
	case reflect.String:
		if s, ok := d.scalar(n, path, "a string"); ok && !isNull(n) { // null keeps the default
			v.SetString(s)
		}
	case reflect.Int:
		d.integer(n, v, path)
	case reflect.Bool:
		d.boolean(n, v, path)
	case reflect.Pointer:
		if isNull(n) {
			return
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(n, v.Elem(), path)
	case reflect.Slice:
		d.sequence(n, v, path)
	case reflect.Struct:
		d.mapping(n, v, path)
	default:
		panic("config: cannot decode into " + v.Type().String())
	}
}

// spend takes one node from the budget; the first overdraft is reported.
func (d *decoder) spend(line int, path string) bool {
	d.budget--
	if d.budget == -1 {
		d.rep.badNode(line, path, "document too large (aliases expand too far)")
	}
	return d.budget >= 0
}

// deref follows aliases.
func (d *decoder) deref(n *yaml.Node, path string) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode; i++ {
		if i > 64 {
			d.rep.badNode(n.Line, path, "alias chain too long")
			return nil
		}
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

// kindName describes a node for "want X, got Y" messages.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "nothing"
}

// scalar returns a scalar's text as written, so that 0733 and 201 are
// numbers as the admin typed them; null is "".
func (d *decoder) scalar(n *yaml.Node, path, want string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.rep.badNode(n.Line, path, fmt.Sprintf("want %s, got %s", want, kindName(n)))
		return "", false
	}
	if isNull(n) {
		return "", true
	}
	return n.Value, true
}

func (d *decoder) integer(n *yaml.Node, v reflect.Value, path string) {
	s, ok := d.scalar(n, path, "a whole number")
	if !ok || isNull(n) {
		return
	}
	i, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 10, 32)
	if err != nil {
		d.rep.badNode(n.Line, path, fmt.Sprintf("want a whole number, got %q", s))
		return
	}
	v.SetInt(i)
}

func (d *decoder) boolean(n *yaml.Node, v reflect.Value, path string) {
	s, ok := d.scalar(n, path, "true or false")
	if !ok || isNull(n) {
		return
	}
	switch strings.ToLower(s) {
	case "true", "yes", "on":
		v.SetBool(true)
	case "false", "no", "off":
		v.SetBool(false)
	default:
		d.rep.badNode(n.Line, path, fmt.Sprintf("want true or false, got %q", s))
	}
}

func (d *decoder) sequence(n *yaml.Node, v reflect.Value, path string) {
	if isNull(n) {
		v.SetZero()
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.rep.badNode(n.Line, path, "want a list, got "+kindName(n))
		return
	}
	out := reflect.MakeSlice(v.Type(), 0, len(n.Content))
	for i, item := range n.Content {
		elem := reflect.New(v.Type().Elem())
		if df, ok := elem.Interface().(defaulter); ok {
			df.setDefaults()
		}
		p := index(path, i)
		d.rep.lines[p] = item.Line
		d.decode(item, elem.Elem(), p)
		out = reflect.Append(out, elem.Elem())
	}
	v.Set(out)
}

// maxMergeDepth bounds merges of merges.
const maxMergeDepth = 16

// pair is one key of a mapping, merges (<<) resolved.
type pair struct {
	key, value *yaml.Node
}

// pairs lists a mapping's keys; keys written in the mapping win over keys
// merged in with "<<".
func (d *decoder) pairs(n *yaml.Node, path string, depth int) []pair {
	var own, merged []pair
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
			merged = append(merged, d.merge(val, path, depth+1)...)
			continue
		}
		own = append(own, pair{k, val})
	}
	for _, m := range merged {
		if !hasKey(own, m.key.Value) {
			own = append(own, m)
		}
	}
	return own
}

func (d *decoder) merge(val *yaml.Node, path string, depth int) []pair {
	val = d.deref(val, path)
	if val == nil {
		return nil
	}
	if depth > maxMergeDepth {
		d.rep.badNode(val.Line, path, "<< merges nest too deep")
		return nil
	}
	if !d.spend(val.Line, path) {
		return nil
	}
	switch val.Kind {
	case yaml.MappingNode:
		return d.pairs(val, path, depth)
	case yaml.SequenceNode:
		var out []pair
		for _, item := range val.Content {
			for _, p := range d.merge(item, path, depth+1) {
				if !hasKey(out, p.key.Value) {
					out = append(out, p)
				}
			}
		}
		return out
	}
	d.rep.badNode(val.Line, path, "<< merges a mapping or a list of mappings, got "+kindName(val))
	return nil
}

func hasKey(ps []pair, key string) bool {
	for _, p := range ps {
		if p.key.Value == key {
			return true
		}
	}
	return false
}

// keysOf checks a mapping's keys: scalars, each once.
func (d *decoder) keysOf(n *yaml.Node, path string) ([]pair, bool) {
	if isNull(n) {
		return nil, true
	}
	if n.Kind != yaml.MappingNode {
		d.rep.badNode(n.Line, path, "want a mapping (key: value), got "+kindName(n))
		return nil, false
	}
	ps := d.pairs(n, path, 0)
	seen := map[string]int{}
	out := ps[:0:0]
	for _, p := range ps {
		if p.key.Kind != yaml.ScalarNode {
			d.rep.badNode(p.key.Line, path, "a key must be a plain word, got "+kindName(p.key))
			continue
		}
		if line, dup := seen[p.key.Value]; dup {
			d.rep.badNode(p.key.Line, join(path, p.key.Value), fmt.Sprintf("key written twice (first on line %d)", line))
			continue
		}
		seen[p.key.Value] = p.key.Line
		out = append(out, p)
	}
	return out, true
}

func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string) {
	ps, ok := d.keysOf(n, path)
	if !ok {
		return
	}
	fields := fieldsOf(v.Type())
	for _, p := range ps {
		key := p.key.Value
		fp := join(path, key)
		fi, known := fields.index[key]
		if !known {
			d.rep.badNode(p.key.Line, fp, unknownKey(key, fields.names))
			continue
		}
		d.rep.lines[fp] = p.key.Line
		d.decode(p.value, v.Field(fi), fp)
	}
}

func (d *decoder) entries(n *yaml.Node, v reflect.Value, path string) {
	ps, ok := d.keysOf(n, path)
	if !ok {
		return
	}
	out := make(Entries, 0, len(ps))
	for _, p := range ps {
		fp := join(path, p.key.Value)
		d.rep.lines[fp] = p.key.Line
		val := d.deref(p.value, fp)
		if val == nil {
			continue
		}
		if s, ok := d.scalar(val, fp, "a string"); ok {
			out = append(out, Entry{Key: p.key.Value, Value: s, Line: p.key.Line})
		}
	}
	v.Set(reflect.ValueOf(out))
}

type structFields struct {
	index map[string]int
	names []string // sorted, for messages
}

var fieldCache sync.Map // reflect.Type -> *structFields

func fieldsOf(t reflect.Type) *structFields {
	if f, ok := fieldCache.Load(t); ok {
		return f.(*structFields)
	}
	f := &structFields{index: map[string]int{}}
	for i := range t.NumField() {
		tag := t.Field(i).Tag.Get("yaml")
		if tag == "" || tag == "-" {
			continue
		}
		f.index[tag] = i
		f.names = append(f.names, tag)
	}
	sort.Strings(f.names)
	fieldCache.Store(t, f)
	return f
}

// unknownKey suggests the closest known key, or lists them all.
func unknownKey(key string, known []string) string {
	best, bestDist := "", 3
	for _, k := range known {
		if dist := editDistance(strings.ToLower(key), k); dist < bestDist {
			best, bestDist = k, dist
		}
	}
	if best != "" {
		return fmt.Sprintf("unknown key %q (did you mean %q?)", key, best)
	}
	return fmt.Sprintf("unknown key %q (known keys: %s)", key, strings.Join(known, ", "))
}

// editDistance is the Levenshtein distance, for short keys.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
