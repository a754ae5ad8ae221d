package routing

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// lcrPlan builds a realistic least-cost-routing plan of n rules: distinct
// random prefixes of 3 to 9 digits, a share with calling patterns, a share
// with timetables, a few class patterns, three trunks and a few number
// classes. It also returns numbers to dial: half extend a rule's prefix,
// half are random.
func lcrPlan(n int, seed uint64) (Plan, []string) {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	rome, _ := time.LoadLocation("Europe/Rome")
	co := CompanySpec{
		ID: "lcr", Location: rome,
		Classes: []ClassSpec{{"international", "^00"}, {"mobile", "^3"}, {"national", "^0"}, {"premium", "^89"}},
		Extensions: []ExtensionSpec{
			{Number: "201", Rights: []string{"international", "mobile", "national", "premium"}, Voicemail: true},
			{Number: "202", Rights: []string{"mobile", "national"}},
		},
		Groups: []string{"600"},
		Trunks: []string{"p1", "p2", "p3"},
		Timetables: []TimetableSpec{
			{ID: "office", Weekly: []WeeklySpec{{"mon-fri", "08:30-13:00,14:00-18:00"}}, Holidays: []string{"2026-12-25"}},
			{ID: "night", Weekly: []WeeklySpec{{"all", "20:00-08:00"}}},
		},
	}
	gateways := []string{"gateway:p1", "gateway:p2,p1", "gateway:p3,p2,p1"}
	seen := map[string]bool{}
	prefixes := make([]string, 0, n)
	for len(co.Rules) < n {
		l := 3 + rng.IntN(7)
		b := make([]byte, l)
		for i := range b {
			b[i] = byte('0' + rng.IntN(10))
		}
		called := string(b)
		if rng.IntN(100) == 0 { // a few class patterns
			b[l-1] = 'X'
			called = string(b)
		}
		if seen[called] {
			continue
		}
		seen[called] = true
		prefixes = append(prefixes, string(b))
		rs := RuleSpec{
			Name: fmt.Sprintf("r%d", len(co.Rules)), Enabled: true, Called: "^" + called,
			Action: "route", Target: gateways[rng.IntN(len(gateways))],
		}
		switch rng.IntN(10) {
		case 0:
			rs.Calling = "^2"
		case 1:
			rs.Calling = "^20[1-2]$"
		}
		switch rng.IntN(10) {
		case 0:
			rs.Timetable = "office"
		case 1:
			rs.Timetable = "night"
		}
		if rng.IntN(4) == 0 {
			rs.CallerType = "internal"
		}
		co.Rules = append(co.Rules, rs)
	}
	numbers := make([]string, 4096)
	for i := range numbers {
		var b []byte
		if i%2 == 0 {
			for _, c := range []byte(prefixes[rng.IntN(len(prefixes))]) {
				if c == 'X' {
					c = '5'
				}
				b = append(b, c)
			}
		}
		for len(b) < 10 {
			b = append(b, byte('0'+rng.IntN(10)))
		}
		numbers[i] = string(b)
	}
	return Plan{Generation: 1, Companies: []CompanySpec{co}}, numbers
}
