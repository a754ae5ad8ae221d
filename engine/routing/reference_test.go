package routing

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// randomPattern draws a called or calling pattern over a small alphabet so
// that random numbers often match and patterns often collide.
func randomPattern(rng *rand.Rand) string {
	if rng.IntN(12) == 0 {
		return "%"
	}
	elems := []string{"1", "2", "3", "X", "Z", "N", "[1-2]", "[23]", "[5]"}
	body := ""
	for n := 1 + rng.IntN(5); n > 0; n-- {
		body += elems[rng.IntN(len(elems))]
	}
	switch rng.IntN(8) {
	case 0:
		return "^$" + body
	case 1:
		return "^" + body + "$"
	case 2:
		return body // the ^ is implied
	}
	return "^" + body
}

func randomPlan(rng *rand.Rand) Plan {
	p := basePlan()
	co := &p.Companies[0]
	co.Timetables = append(co.Timetables, TimetableSpec{ID: "night", Weekly: []WeeklySpec{{"all", "22:00-06:00"}}})
	targets := []string{"gateway:p1", "gateway:p2", "user:202", "group:600", "ivr:main", "reject:486", "number:123", "number:4444"}
	cts := []string{"", "internal", "external"}
	tts := []string{"", "", "office", "night"}
	co.Rules = nil
	for i, n := 0, 5+rng.IntN(60); i < n; i++ {
		rs := RuleSpec{Name: fmt.Sprintf("r%d", i), Enabled: rng.IntN(10) > 0, Called: randomPattern(rng),
			CallerType: cts[rng.IntN(len(cts))], Timetable: tts[rng.IntN(len(tts))], Action: "route",
			Target: targets[rng.IntN(len(targets))]}
		if rng.IntN(3) == 0 {
			rs.Calling = randomPattern(rng)
		}
		switch rng.IntN(8) {
		case 0:
			rs.Action, rs.Target, rs.Map = "map", "", &MapSpec{To: fmt.Sprint(100 + rng.IntN(300))}
		case 1:
			rs.Action, rs.Target, rs.Map = "map", "", &MapSpec{Strip: rng.IntN(3), Prepend: fmt.Sprint(rng.IntN(30))}
		}
		co.Rules = append(co.Rules, rs)
	}
	return p
}

// Every decision on random plans equals the brute-force reference.
func TestDecideMatchesReference(t *testing.T) {
	base := time.Date(2026, 11, 22, 0, 0, 0, 0, rome)
	decisions := 0
	for seed := uint64(0); seed < 150; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		r, err := New(randomPlan(rng))
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		c := r.companies["acme"]
		for i := 0; i < 150; i++ {
			b := make([]byte, 1+rng.IntN(7))
			for j := range b {
				b[j] = "0123456"[rng.IntN(7)]
			}
			call := &Call{Company: "acme", To: string(b), From: []string{"201", "202", "203", "2", "31", "3339998888"}[rng.IntN(6)],
				Time: base.Add(time.Duration(rng.IntN(7*24*60)) * time.Minute)}
			if rng.IntN(2) == 0 {
				call.CallerType, call.Extension = Internal, call.From
			} else {
				call.CallerType, call.Trunk = External, "p1"
			}
			got, want := r.Decide(call, nil, nil), refDecide(c, call)
			got.Class = ""
			if got.Target != want.Target || got.Number != want.Number || got.Rule != want.Rule || got.Maps != want.Maps ||
				(want.Rule != "" && want.Target.Kind != TargetReject && got.Score != want.Score) {
				var ex Explanation
				r.Decide(call, nil, &ex)
				t.Fatalf("seed %d call %+v:\n got  %+v\n want %+v\n%s", seed, call, got, want, NewReport(got, ex).Text())
			}
			decisions++
		}
	}
	if decisions != 150*150 {
		t.Errorf("%d decisions checked", decisions)
	}
}
