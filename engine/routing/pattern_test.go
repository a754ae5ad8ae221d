package routing

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestPatternMatch(t *testing.T) {
	tests := []struct {
		pattern string
		yes     []string
		no      []string
	}{
		{"%", []string{"", "1", "3471234567", "abc"}, nil},
		{"^347", []string{"347", "3471234567"}, []string{"34", "0347", "3571234567", ""}},
		{"347", []string{"347", "3471234567"}, []string{"0347", "34"}},
		{"^$187", []string{"187"}, []string{"1870", "18", "0187"}},
		{"^187$", []string{"187"}, []string{"1870", "18"}},
		{"187$", []string{"187"}, []string{"1870"}},
		{"$187", []string{"187"}, []string{"1870"}},
		{"^+39", []string{"+390612345"}, []string{"390612345", "0039"}},
		{"^3XX", []string{"300", "3991234"}, []string{"3a0", "30"}},
		{"^3x", []string{"30", "39"}, []string{"3"}},
		{"^Z", []string{"1", "9"}, []string{"0", "+"}},
		{"^N", []string{"2", "9"}, []string{"0", "1"}},
		{"^0[1-5]", []string{"01", "05", "0599"}, []string{"00", "06", "0"}},
		{"^[13579]$", []string{"1", "9"}, []string{"2", "11"}},
		{"^[*#]1", []string{"*1", "#1"}, []string{"11"}},
		{"^347 12-3", []string{"347123", "3471234"}, []string{"34712"}},
		{"^(06) 1.2", []string{"0612", "06123"}, []string{"061"}},
		{"^[5]", []string{"5", "59"}, []string{"4"}},
	}
	for _, tc := range tests {
		t.Run(tc.pattern, func(t *testing.T) {
			p, err := ParsePattern(tc.pattern)
			if err != nil {
				t.Fatalf("ParsePattern(%q): %v", tc.pattern, err)
			}
			for _, n := range tc.yes {
				if !p.Match(n) {
					t.Errorf("%q should match %q", tc.pattern, n)
				}
			}
			for _, n := range tc.no {
				if p.Match(n) {
					t.Errorf("%q should not match %q", tc.pattern, n)
				}
			}
			if p.String() != tc.pattern {
				t.Errorf("String() = %q, want the source %q", p.String(), tc.pattern)
			}
		})
	}
}

func TestParsePatternErrors(t *testing.T) {
	for _, s := range []string{"", "^", "^$", "$", "^^3", "3^", "%3", "^3%", "^3$4", "^a", "^3[", "^3[]", "^[9-1]", "^[1-]", "^[a]",
		"^[1-5", "^[0-2,7]", "(", "^ - $", "^0123456789012345678901234567890123456789012345678901234567890123456789"} {
		t.Run(s, func(t *testing.T) {
			if _, err := ParsePattern(s); err == nil || !errors.Is(err, errPattern) {
				t.Errorf("ParsePattern(%q) = %v, want a bad pattern error", s, err)
			}
		})
	}
}

func TestSpecificity(t *testing.T) {
	tests := []struct {
		name string
		a, b string // a must be strictly more specific than b
	}{
		{"longer wins", "^347", "^34"},
		{"longer class beats shorter literal", "^3XXX", "^347"},
		{"exact beats prefix of same length", "^$347", "^347"},
		{"exact trailing $ beats prefix", "^347$", "^347"},
		{"literals beat classes", "^347", "^34X"},
		{"more literals beat fewer", "^3X7", "^3XX"},
		{"[5] counts as a literal", "^3[5]", "^3[56]"},
		{"anything beats %", "^X", "%"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := MustPattern(tc.a).Specificity(), MustPattern(tc.b).Specificity()
			if a.key() <= b.key() {
				t.Errorf("%s (%v) should beat %s (%v)", tc.a, a, tc.b, b)
			}
		})
	}
	if a, b := MustPattern("^$187"), MustPattern("^187$"); a.Specificity() != b.Specificity() {
		t.Errorf("^$187 and ^187$ should score the same: %v, %v", a.Specificity(), b.Specificity())
	}
	if a, b := MustPattern("347"), MustPattern("^347"); a.Specificity() != b.Specificity() || !a.Overlaps(b) {
		t.Errorf("the ^ is implied: 347 %v, ^347 %v", a.Specificity(), b.Specificity())
	}
	if a, b := MustPattern("^[5]"), MustPattern("^5"); a.Specificity() != b.Specificity() {
		t.Errorf("[5] should be the literal 5: %v, %v", a.Specificity(), b.Specificity())
	}
}

func TestOverlaps(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"^347", "^347", true},
		{"^34X", "^3X7", true},     // 3 positions, 2 literals each, and 347 matches both
		{"^34X", "^34[5-9]", true}, // both classes in the last position: 345 ties
		{"^34X", "^345", false},    // 345 matches both, but the literal is more specific
		{"^3[1-5]", "^3[4-9]", true},
		{"^3[1-3]", "^3[4-9]", false},
		{"^347", "^348", false},
		{"^347", "^$347", false},
		{"^$347", "^347$", true},
		{"%", "%", true},
		{"%", "^3", false},
		{"^3", "^34", false},
	}
	for _, tc := range tests {
		t.Run(tc.a+" "+tc.b, func(t *testing.T) {
			a, b := MustPattern(tc.a), MustPattern(tc.b)
			want := tc.want
			if got := a.Overlaps(b); got != want {
				t.Errorf("Overlaps(%s, %s) = %t, want %t", tc.a, tc.b, got, want)
			}
			if a.Overlaps(b) != b.Overlaps(a) {
				t.Errorf("Overlaps is not symmetric for %s, %s", tc.a, tc.b)
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"3471234567", "3471234567"},
		{"347 123 4567", "3471234567"},
		{"347-123-4567", "3471234567"},
		{"347.123.4567", "3471234567"},
		{"(347) 123-4567", "3471234567"},
		{"+39 (06) 1234.5678", "+390612345678"},
		{"\t201 ", "201"},
		{"", ""},
		{"*72#", "*72#"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			if got := Normalize(tc.in); got != tc.want {
				t.Errorf("Normalize(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
	if n := testing.AllocsPerRun(100, func() { _ = Normalize("3471234567") }); n != 0 {
		t.Errorf("Normalize of a clean number allocates %v times", n)
	}
}

// TestPatternErrorPosition: the position counts in the pattern as written.
func TestPatternErrorPosition(t *testing.T) {
	for in, pos := range map[string]int{"^$80O": 5, "80O": 3, "^80O": 4, " ^3q": 4, "3x5O$": 4} {
		_, err := ParsePattern(in)
		want := fmt.Sprintf("at position %d", pos)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
}
