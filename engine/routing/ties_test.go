package routing

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestTies(t *testing.T) {
	withCT := func(r RuleSpec, ct, calling, tt string) RuleSpec {
		r.CallerType, r.Calling, r.Timetable = ct, calling, tt
		return r
	}
	off := route("off", "^3", "gateway:p2")
	off.Enabled = false
	tests := []struct {
		name  string
		rules []RuleSpec
		want  []string // "first/second"
	}{
		{"the base plan has none", nil, nil},
		{"same pattern and caller type", []RuleSpec{withCT(route("dup", "^3", "gateway:p2"), "internal", "", "")}, []string{"mobiles/dup"}},
		{"any overlaps internal", []RuleSpec{route("dup", "^3", "gateway:p2")}, []string{"mobiles/dup"}},
		{"external does not overlap internal", []RuleSpec{withCT(route("dup", "^3", "gateway:p2"), "external", "", "")}, nil},
		{"disabled rules never tie", []RuleSpec{off}, nil},
		{"timetable against none never ties", []RuleSpec{withCT(route("dup", "^3", "gateway:p2"), "internal", "", "office")}, nil},
		{"two timetables tie when both open", []RuleSpec{
			withCT(route("a", "^5", "gateway:p2"), "", "", "office"), withCT(route("b", "^5", "gateway:p1"), "", "", "office"),
		}, []string{"a/b"}},
		{"classes of equal specificity", []RuleSpec{route("a", "^34X", "gateway:p1"), route("b", "^3X7", "gateway:p2")}, []string{"a/b"}},
		{"classes that cannot meet", []RuleSpec{route("a", "^3[1-3]", "gateway:p1"), route("b", "^3[4-9]", "gateway:p2")}, nil},
		{"literal beats class", []RuleSpec{route("a", "^34X", "gateway:p1"), route("b", "^345", "gateway:p2")}, nil},
		{"exact and prefix", []RuleSpec{route("a", "^$55", "gateway:p1"), route("b", "^55", "gateway:p2")}, nil},
		{"exact written both ways", []RuleSpec{route("a", "^$55", "gateway:p1"), route("b", "^55$", "gateway:p2")}, []string{"a/b"}},
		{"explicit against implicit is by design", []RuleSpec{route("a", "^$201", "voicemail:201")}, nil},
		{"% and %", []RuleSpec{route("a", "%", "gateway:p1"), route("b", "%", "gateway:p2")}, []string{"a/b"}},
		{"calling of different specificity", []RuleSpec{
			withCT(route("a", "^5", "gateway:p1"), "", "^20", ""), withCT(route("b", "^5", "gateway:p2"), "", "^$203", ""),
		}, nil},
		{"calling classes that meet", []RuleSpec{
			withCT(route("a", "^5", "gateway:p1"), "", "^2[0-1]", ""), withCT(route("b", "^5", "gateway:p2"), "", "^2X", ""),
		}, []string{"a/b"}},
		{"calling classes that cannot meet", []RuleSpec{
			withCT(route("a", "^5", "gateway:p1"), "", "^2[0-1]", ""), withCT(route("b", "^5", "gateway:p2"), "", "^2[2-3]", ""),
		}, nil},
		{"three of a kind", []RuleSpec{route("a", "^6", "gateway:p1"), route("b", "^6", "gateway:p1"), route("c", "^6", "gateway:p2")},
			[]string{"a/b", "a/c", "b/c"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := mustNew(t, withRules(basePlan(), tc.rules...))
			var got []string
			for _, tie := range r.Ties() {
				got = append(got, tie.First+"/"+tie.Second)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("ties = %v, want %v", got, tc.want)
			}
		})
	}
	t.Run("paths and text", func(t *testing.T) {
		r := mustNew(t, withRules(basePlan(), withCT(route("a", "^5", "gateway:p1"), "", "", "office"),
			withCT(route("b", "^5", "gateway:p2"), "", "", "office")))
		ties := r.Ties()
		if len(ties) != 1 || ties[0].FirstPath != "companies[0].rules[6]" || ties[0].SecondPath != "companies[0].rules[7]" || ties[0].Company != "acme" {
			t.Fatalf("ties = %+v", ties)
		}
		contains(t, ties[0].String(), "rules a (companies[0].rules[6]) and b (companies[0].rules[7]) can tie",
			"called ^5 and ^5", "both have a timetable (office, office): they tie when both are open", "a wins because it is written first")
	})
	t.Run("capped", func(t *testing.T) {
		var rules []RuleSpec
		for i := 0; i < 300; i++ {
			rules = append(rules, route(fmt.Sprintf("same%d", i), "^5", "gateway:p1"))
		}
		r := mustNew(t, withRules(basePlan(), rules...))
		if n := len(r.Ties()); n != MaxTies {
			t.Errorf("%d ties, want the cap %d", n, MaxTies)
		}
	})
}

// Ties agrees with comparing every pair on random small plans.
func TestTiesBruteForce(t *testing.T) {
	pats := []string{"%", "^3", "^34", "^3X", "^X4", "^34X", "^3[4-5]X", "^$34", "^34$", "^$3X", "^N", "^Z", "^[1-3]"}
	callings := []string{"", "%", "^2", "^2X", "^20", "^2[0-1]"}
	cts := []string{"", "internal", "external"}
	tts := []string{"", "office"}
	for seed := uint64(0); seed < 30; seed++ {
		rng := rand.New(rand.NewPCG(seed, 1))
		var rules []RuleSpec
		for i := 0; i < 25; i++ {
			rs := route(fmt.Sprintf("r%d", i), pats[rng.IntN(len(pats))], "gateway:p1")
			rs.Calling, rs.CallerType, rs.Timetable = callings[rng.IntN(len(callings))], cts[rng.IntN(len(cts))], tts[rng.IntN(len(tts))]
			rs.Enabled = rng.IntN(8) > 0
			rules = append(rules, rs)
		}
		p := basePlan()
		p.Companies[0].Rules = rules
		r := mustNew(t, p)
		var got, want []string
		for _, tie := range r.Ties() {
			got = append(got, tie.First+"/"+tie.Second)
		}
		c := r.companies["acme"]
		for i := range rules {
			for j := i + 1; j < len(rules); j++ {
				a, b := &c.rules[i], &c.rules[j]
				if !a.enabled || !a.called.Overlaps(b.called) {
					continue
				}
				if _, ok := ties(a, b); ok {
					want = append(want, a.name+"/"+b.name)
				}
			}
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("seed %d: ties %v, brute force %v", seed, got, want)
		}
	}
}

func TestTiesLargePlan(t *testing.T) {
	plan, _ := lcrPlan(20_000, 3)
	co := &plan.Companies[0]
	co.Rules = append(co.Rules, co.Rules[100]) // one duplicate pattern
	co.Rules[len(co.Rules)-1].Name = "copy"
	r := mustNew(t, plan)
	ties := r.Ties()
	found := false
	for _, tie := range ties {
		found = found || tie.Second == "copy"
		if strings.Contains(tie.Why, "office") && !strings.Contains(tie.Why, "both are open") {
			t.Errorf("tie %v", tie)
		}
	}
	if !found {
		t.Errorf("the copied rule is not reported: %v", ties)
	}
}
