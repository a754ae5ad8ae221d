package routing

import (
	"errors"
	"fmt"
	"math/bits"
	"strings"
)

// symbol returns the index of c among the number symbols, or -1.
func symbol(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c == '+':
		return 10
	case c == '*':
		return 11
	case c == '#':
		return 12
	}
	return -1
}

// maxPatternLen bounds a pattern's positions (and so the trie depth).
const maxPatternLen = 64

var errPattern = errors.New("bad pattern")

// Pattern is a compiled number pattern: "%" matches any number; anything else
// is anchored at the start ("^" is implied), and a "$" before or after the
// positions makes it exact. Positions are literals (digits, '+', '*', '#'),
// X (any digit), Z (1-9), N (2-9) or a class such as [1-5].
type Pattern struct {
	src      string
	any      bool
	exact    bool
	elems    []uint16 // one symbol mask per position
	literals uint8
}

// ParsePattern compiles s.
func ParsePattern(s string) (Pattern, error) {
	p := Pattern{src: s}
	body := strings.TrimSpace(s)
	if body == "%" {
		p.any = true
		return p, nil
	}
	off := strings.Index(s, body) // body's place in s, for error positions
	if strings.HasPrefix(body, "^") {
		off, body = off+1, body[1:]
	}
	if strings.HasPrefix(body, "$") {
		p.exact, body, off = true, body[1:], off+1
	}
	if strings.HasSuffix(body, "$") {
		p.exact, body = true, body[:len(body)-1]
	}
	if body == "" {
		return p, fmt.Errorf("%w %q: no digits (use %% for any number)", errPattern, s)
	}
	p.elems = make([]uint16, 0, min(len(body), maxPatternLen+1))
	for i := 0; i < len(body); i++ {
		c := body[i]
		var mask uint16
		switch {
		case symbol(c) >= 0:
			mask = 1 << symbol(c)
			p.literals++
		case c == 'X' || c == 'x':
			mask = digitRange('0', '9')
		case c == 'Z' || c == 'z':
			mask = digitRange('1', '9')
		case c == 'N' || c == 'n':
			mask = digitRange('2', '9')
		case c == '[':
			end := strings.IndexByte(body[i:], ']')
			if end < 0 {
				return p, fmt.Errorf("%w %q: '[' without ']'", errPattern, s)
			}
			m, err := parseClass(body[i+1 : i+end])
			if err != nil {
				return p, fmt.Errorf("%w %q: %v", errPattern, s, err)
			}
			mask, i = m, i+end
			if mask&(mask-1) == 0 {
				p.literals++ // "[5]" is the literal 5
			}
		case isSeparator(c):
			continue // the same separators numbers drop
		default:
			return p, fmt.Errorf("%w %q: unexpected %q at position %d", errPattern, s, c, off+i+1)
		}
		p.elems = append(p.elems, mask)
	}
	if len(p.elems) == 0 { // only separators: "(", "^-"
		return p, fmt.Errorf("%w %q: no digits (use %% for any number)", errPattern, s)
	}
	if len(p.elems) > maxPatternLen {
		return p, fmt.Errorf("%w %q: longer than %d positions", errPattern, s, maxPatternLen)
	}
	return p, nil
}

// MustPattern is ParsePattern for tests and constants; it panics on error.
func MustPattern(s string) Pattern {
	p, err := ParsePattern(s)
	if err != nil {
		panic(err)
	}
	return p
}

func digitRange(lo, hi byte) uint16 {
	var m uint16
	for c := lo; c <= hi; c++ {
		m |= 1 << (c - '0')
	}
	return m
}

// parseClass parses the inside of [...]: symbols and digit ranges like 1-5.
func parseClass(s string) (uint16, error) {
	if s == "" {
		return 0, errors.New("empty class []")
	}
	var m uint16
	for i := 0; i < len(s); i++ {
		c := s[i]
		if symbol(c) < 0 {
			return 0, fmt.Errorf("unexpected %q in class [%s]", c, s)
		}
		if i+2 < len(s) && s[i+1] == '-' {
			hi := s[i+2]
			if c < '0' || c > '9' || hi < '0' || hi > '9' || hi < c {
				return 0, fmt.Errorf("bad range %c-%c in class [%s]", c, hi, s)
			}
			m |= digitRange(c, hi)
			i += 2
			continue
		}
		m |= 1 << symbol(c)
	}
	return m, nil
}

// String returns the pattern as written.
func (p Pattern) String() string { return p.src }

// Any reports whether the pattern is "%".
func (p Pattern) Any() bool { return p.any }

// Exact reports whether the pattern must match the whole number.
func (p Pattern) Exact() bool { return p.exact }

// Match reports whether number (normalized) matches p.
func (p Pattern) Match(number string) bool {
	if p.any {
		return true
	}
	if len(number) < len(p.elems) || (p.exact && len(number) != len(p.elems)) {
		return false
	}
	for i, m := range p.elems {
		s := symbol(number[i])
		if s < 0 || m&(1<<s) == 0 {
			return false
		}
	}
	return true
}

// Specificity of p when it matches: "%" scores zero.
func (p Pattern) Specificity() Specificity {
	if p.any {
		return Specificity{}
	}
	return Specificity{Len: uint8(len(p.elems)), Exact: p.exact, Literals: p.literals}
}

// Overlaps reports whether some number can match both p and q with equal
// specificity (used to warn about rules that can tie).
func (p Pattern) Overlaps(q Pattern) bool {
	if p.Specificity() != q.Specificity() {
		return false
	}
	for i := range p.elems {
		if p.elems[i]&q.elems[i] == 0 {
			return false
		}
	}
	return true
}

// Specificity ranks a matching pattern: more matched positions win; at equal
// length an exact pattern beats a prefix; then more literal positions win.
type Specificity struct {
	Len      uint8 `json:"len"`
	Exact    bool  `json:"exact"`
	Literals uint8 `json:"literals"`
}

func (s Specificity) key() uint64 {
	k := uint64(s.Len)<<8 | uint64(s.Literals)
	if s.Exact {
		k |= 1 << 7
	}
	return k
}

func (s Specificity) String() string {
	if s.Len == 0 {
		return "0 (any)"
	}
	kind := "prefix"
	if s.Exact {
		kind = "exact"
	}
	return fmt.Sprintf("%d (%s, %d literal)", s.Len, kind, s.Literals)
}

// Normalize drops the separators people write in numbers: spaces, '-', '.',
// '(' and ')'. It does not allocate when there is nothing to drop.
func Normalize(n string) string {
	clean := true
	for i := 0; i < len(n); i++ {
		if isSeparator(n[i]) {
			clean = false
			break
		}
	}
	if clean {
		return n
	}
	b := make([]byte, 0, len(n))
	for i := 0; i < len(n); i++ {
		if !isSeparator(n[i]) {
			b = append(b, n[i])
		}
	}
	return string(b)
}

func isSeparator(c byte) bool {
	return c == ' ' || c == '-' || c == '.' || c == '(' || c == ')' || c == '\t'
}

// literal returns the number a pattern of literal positions only stands
// for.
func (p Pattern) literal() (string, bool) {
	if p.any || int(p.literals) != len(p.elems) {
		return "", false
	}
	b := make([]byte, len(p.elems))
	for i, m := range p.elems {
		b[i] = symbolChars[bits.TrailingZeros16(m)]
	}
	return string(b), true
}

const symbolChars = "0123456789+*#"
