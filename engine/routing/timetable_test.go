package routing

import (
	"testing"
	"time"
)

func mustTimetable(t *testing.T, spec TimetableSpec) *Timetable {
	t.Helper()
	tt, errs := NewTimetable(spec)
	if len(errs) > 0 {
		t.Fatalf("NewTimetable: %v", errs)
	}
	return tt
}

func TestTimetableOpen(t *testing.T) {
	office := mustTimetable(t, TimetableSpec{ID: "office",
		Weekly:   []WeeklySpec{{"mon-fri", "08:30-13:00,14:00-18:00"}, {"sat", "09:00-12:00"}},
		Holidays: []string{"2026-12-25"}})
	night := mustTimetable(t, TimetableSpec{ID: "night", Weekly: []WeeklySpec{{"fri", "22:00-06:00"}}})
	weekend := mustTimetable(t, TimetableSpec{ID: "weekend", Weekly: []WeeklySpec{{"fri-mon", "00:00-24:00"}}})
	tests := []struct {
		name string
		tt   *Timetable
		when string
		want bool
	}{
		{"office monday 08:29", office, "2026-11-23T08:29", false},
		{"office monday 08:30", office, "2026-11-23T08:30", true},
		{"office monday 12:59", office, "2026-11-23T12:59", true},
		{"office monday lunch 13:00", office, "2026-11-23T13:00", false},
		{"office monday 17:59", office, "2026-11-23T17:59", true},
		{"office monday 18:00", office, "2026-11-23T18:00", false},
		{"office saturday 10:00", office, "2026-11-28T10:00", true},
		{"office saturday 12:00", office, "2026-11-28T12:00", false},
		{"office sunday", office, "2026-11-29T10:00", false},
		{"office holiday friday", office, "2026-12-25T10:00", false},
		{"office day after holiday", office, "2026-12-28T10:00", true},
		{"night friday 21:59", night, "2026-11-27T21:59", false},
		{"night friday 22:00", night, "2026-11-27T22:00", true},
		{"night friday 23:59", night, "2026-11-27T23:59", true},
		{"night saturday 00:00 past midnight", night, "2026-11-28T00:00", true},
		{"night saturday 05:59", night, "2026-11-28T05:59", true},
		{"night saturday 06:00", night, "2026-11-28T06:00", false},
		{"night thursday 23:00 (not listed)", night, "2026-11-26T23:00", false},
		{"night saturday 23:00 (not listed)", night, "2026-11-28T23:00", false},
		{"weekend wraps sunday", weekend, "2026-11-29T03:00", true},
		{"weekend wraps to monday", weekend, "2026-11-23T23:59", true},
		{"weekend excludes tuesday", weekend, "2026-11-24T12:00", false},
	}
	if !office.Holiday(at(t, "2026-12-25T23:59")) || office.Holiday(at(t, "2026-12-26T00:00")) {
		t.Error("Holiday should cover exactly 2026-12-25, local time")
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.tt.Open(at(t, tc.when)); got != tc.want {
				t.Errorf("%s open at %s = %t, want %t", tc.tt.ID, tc.when, got, tc.want)
			}
		})
	}
}

func TestTimetableErrors(t *testing.T) {
	tests := []struct {
		name  string
		spec  TimetableSpec
		field string
	}{
		{"bad day", TimetableSpec{Weekly: []WeeklySpec{{"mon-fry", "08:00-12:00"}}}, "weekly[0].days"},
		{"bad hour", TimetableSpec{Weekly: []WeeklySpec{{"mon", "08:00-25:00"}}}, "weekly[0].hours"},
		{"bad minute", TimetableSpec{Weekly: []WeeklySpec{{"mon", "08:60-09:00"}}}, "weekly[0].hours"},
		{"empty range", TimetableSpec{Weekly: []WeeklySpec{{"mon", "08:00-08:00"}}}, "weekly[0].hours"},
		{"no dash", TimetableSpec{Weekly: []WeeklySpec{{"mon", "08:00"}}}, "weekly[0].hours"},
		{"start at 24", TimetableSpec{Weekly: []WeeklySpec{{"mon", "24:00-01:00"}}}, "weekly[0].hours"},
		{"empty hours", TimetableSpec{Weekly: []WeeklySpec{{"mon", ""}}}, "weekly[0].hours"},
		{"bad holiday", TimetableSpec{Holidays: []string{"2026-02-30"}}, "holidays[0]"},
		{"second line", TimetableSpec{Weekly: []WeeklySpec{{"mon", "08:00-09:00"}, {"tue", "9-10"}}}, "weekly[1].hours"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, errs := NewTimetable(tc.spec)
			if len(errs) != 1 || errs[0].Field != tc.field {
				t.Fatalf("errors = %v, want one on %s", errs, tc.field)
			}
		})
	}
	days, err := ParseDays("fri-mon")
	if err != nil || len(days) != 4 || days[0] != time.Friday || days[3] != time.Monday {
		t.Errorf("ParseDays(fri-mon) = %v, %v", days, err)
	}
	hours, err := ParseHours("22:00-06:00, 12:00-24:00")
	if err != nil || len(hours) != 2 || hours[0] != [2]int{1320, 360} || hours[1] != [2]int{720, 1440} {
		t.Errorf("ParseHours = %v, %v", hours, err)
	}
}

// A rule with a timetable wins only inside it, and the wall clock of the
// company's zone decides, across daylight-saving changes too.
func TestTimeBands(t *testing.T) {
	p := basePlan()
	co := &p.Companies[0]
	co.Timetables = append(co.Timetables,
		TimetableSpec{ID: "t01", Weekly: []WeeklySpec{{"all", "01:00-02:00"}}},
		TimetableSpec{ID: "t02", Weekly: []WeeklySpec{{"all", "02:00-03:00"}}},
		TimetableSpec{ID: "t03", Weekly: []WeeklySpec{{"all", "03:00-04:00"}}},
		TimetableSpec{ID: "late", Weekly: []WeeklySpec{{"mon-fri", "22:00-06:00"}}},
	)
	band := func(name, tt, target string) RuleSpec {
		r := route(name, "^3", target)
		r.CallerType, r.Timetable = "internal", tt
		return r
	}
	p = withRules(p, band("office-mobiles", "office", "gateway:p2"), band("band-01", "t01", "gateway:p2"),
		band("band-02", "t02", "gateway:p2"), band("band-03", "t03", "gateway:p2"), band("late", "late", "gateway:p2"))
	r := mustNew(t, p)
	utc := func(s string) time.Time {
		tm, err := time.Parse("2006-01-02T15:04Z", s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	tests := []struct {
		name string
		when time.Time
		rule string
	}{
		{"inside office hours the timetable rule wins", at(t, "2026-11-23T10:00"), "office-mobiles"},
		{"office lunch break", at(t, "2026-11-23T13:30"), "mobiles"},
		{"office saturday", at(t, "2026-11-28T10:00"), "mobiles"},
		{"office holiday", at(t, "2026-12-25T10:00"), "mobiles"},
		{"office second holiday", at(t, "2026-12-26T10:00"), "mobiles"},
		{"late friday 23:00", at(t, "2026-11-27T23:00"), "late"},
		{"late past midnight into saturday", at(t, "2026-11-28T05:30"), "late"},
		{"late sunday 23:00 is not listed", at(t, "2026-11-29T23:00"), "mobiles"},
		{"late sunday night into monday is not listed", at(t, "2026-11-30T01:30"), "band-01"},
		// 2026-03-29: Rome goes from 02:00 CET to 03:00 CEST.
		{"spring 01:59 CET", utc("2026-03-29T00:59Z"), "band-01"},
		{"spring one minute later is 03:00 CEST", utc("2026-03-29T01:00Z"), "band-03"},
		{"spring 03:59 CEST", utc("2026-03-29T01:59Z"), "band-03"},
		{"spring 04:00 CEST", utc("2026-03-29T02:00Z"), "mobiles"},
		// 2026-10-25: Rome goes from 03:00 CEST back to 02:00 CET; 02:30 happens twice.
		{"autumn 01:59 CEST", utc("2026-10-24T23:59Z"), "band-01"},
		{"autumn first 02:30 CEST", utc("2026-10-25T00:30Z"), "band-02"},
		{"autumn second 02:30 CET", utc("2026-10-25T01:30Z"), "band-02"},
		{"autumn 03:00 CET", utc("2026-10-25T02:00Z"), "band-03"},
		{"a UTC time is read in the company zone", utc("2026-11-23T09:00Z"), "office-mobiles"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &Call{From: "201", To: "3471234567", Time: tc.when}
			if err := r.Classify(c, ""); err != nil {
				t.Fatal(err)
			}
			d, ex := decide(t, r, c, nil)
			if d.Rule != tc.rule {
				t.Errorf("at %s (%s) rule %s, want %s\n%s", tc.when, ex.Time, d.Rule, tc.rule, NewReport(d, ex).Text())
			}
			if wantBand := uint8(0); tc.rule != "mobiles" && d.Score.TimeBand != 1 || tc.rule == "mobiles" && d.Score.TimeBand != wantBand {
				t.Errorf("time band %d for rule %s", d.Score.TimeBand, d.Rule)
			}
		})
	}
}
