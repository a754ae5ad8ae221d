package routing

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Timetable is a set of open hours: weekly day and hour ranges, evaluated on
// the wall clock of the company's time zone (so daylight-saving changes need
// no special care), minus holidays, which are closed all day.
type Timetable struct {
	ID       string
	weekly   [7][]span // by time.Weekday; minutes from local midnight, [from, to)
	holidays []int32   // yyyymmdd, sorted
}

type span struct{ from, to int16 }

// WeeklySpec is one line of a timetable as configured: days "mon-fri",
// "sat", "mon,wed,fri"; hours "08:30-13:00,14:00-18:00". A range that ends
// before it starts ("22:00-06:00") runs past midnight into the next day.
type WeeklySpec struct {
	Days  string
	Hours string
}

// TimetableSpec is a timetable as configured.
type TimetableSpec struct {
	ID       string
	Weekly   []WeeklySpec
	Holidays []string // YYYY-MM-DD
}

var dayNames = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// ParseDays parses "mon-fri", "sat,sun", "fri-mon" (wrapping), "all" or "*".
func ParseDays(s string) ([]time.Weekday, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "all" || s == "*" || s == "daily" {
		return []time.Weekday{0, 1, 2, 3, 4, 5, 6}, nil
	}
	var out []time.Weekday
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		from, to, isRange := strings.Cut(part, "-")
		a, ok := dayNames[strings.TrimSpace(from)]
		if !ok {
			return nil, fmt.Errorf("bad day %q in %q (want mon, tue, wed, thu, fri, sat, sun, or a range like mon-fri)", from, s)
		}
		if !isRange {
			out = append(out, a)
			continue
		}
		b, ok := dayNames[strings.TrimSpace(to)]
		if !ok {
			return nil, fmt.Errorf("bad day %q in %q (want mon, tue, wed, thu, fri, sat, sun, or a range like mon-fri)", to, s)
		}
		for d := a; ; d = (d + 1) % 7 {
			out = append(out, d)
			if d == b {
				break
			}
		}
	}
	return out, nil
}

// ParseHours parses "08:30-13:00,14:00-18:00"; "24:00" is the end of the day.
func ParseHours(s string) ([][2]int, error) {
	var out [][2]int
	for _, part := range strings.Split(s, ",") {
		from, to, ok := strings.Cut(strings.TrimSpace(part), "-")
		if !ok {
			return nil, fmt.Errorf("bad hour range %q (want HH:MM-HH:MM)", part)
		}
		a, err := parseClock(from)
		if err != nil {
			return nil, fmt.Errorf("bad hour range %q: %w", part, err)
		}
		b, err := parseClock(to)
		if err != nil {
			return nil, fmt.Errorf("bad hour range %q: %w", part, err)
		}
		if a == b {
			return nil, fmt.Errorf("bad hour range %q: empty", part)
		}
		if a == 24*60 {
			return nil, fmt.Errorf("bad hour range %q: cannot start at 24:00", part)
		}
		out = append(out, [2]int{a, b})
	}
	return out, nil
}

func parseClock(s string) (int, error) {
	s = strings.TrimSpace(s)
	h, m, ok := strings.Cut(s, ":")
	if !ok || len(h) == 0 || len(h) > 2 || len(m) != 2 {
		return 0, fmt.Errorf("bad time %q (want HH:MM)", s)
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hh < 0 || mm < 0 || mm > 59 || hh > 24 || (hh == 24 && mm != 0) {
		return 0, fmt.Errorf("bad time %q (want HH:MM, 00:00 to 24:00)", s)
	}
	return hh*60 + mm, nil
}

// ParseDate parses a holiday "YYYY-MM-DD" into yyyymmdd.
func ParseDate(s string) (int32, error) {
	t, err := time.Parse("2006-01-02", strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("bad date %q (want YYYY-MM-DD)", s)
	}
	return dateKey(t), nil
}

func dateKey(t time.Time) int32 {
	y, m, d := t.Date()
	return int32(y*10000 + int(m)*100 + d)
}

// NewTimetable compiles a spec. Errors name the field ("weekly[1].hours").
func NewTimetable(spec TimetableSpec) (*Timetable, []FieldError) {
	tt := &Timetable{ID: spec.ID}
	var errs []FieldError
	for i, w := range spec.Weekly {
		days, err := ParseDays(w.Days)
		if err != nil {
			errs = append(errs, FieldError{Field: fmt.Sprintf("weekly[%d].days", i), Err: err})
		}
		hours, err := ParseHours(w.Hours)
		if err != nil {
			errs = append(errs, FieldError{Field: fmt.Sprintf("weekly[%d].hours", i), Err: err})
		}
		for _, d := range days {
			for _, h := range hours {
				if h[0] < h[1] {
					tt.weekly[d] = append(tt.weekly[d], span{int16(h[0]), int16(h[1])})
					continue
				}
				tt.weekly[d] = append(tt.weekly[d], span{int16(h[0]), 24 * 60})
				if h[1] > 0 {
					next := (d + 1) % 7
					tt.weekly[next] = append(tt.weekly[next], span{0, int16(h[1])})
				}
			}
		}
	}
	for i, h := range spec.Holidays {
		k, err := ParseDate(h)
		if err != nil {
			errs = append(errs, FieldError{Field: fmt.Sprintf("holidays[%d]", i), Err: err})
			continue
		}
		tt.holidays = append(tt.holidays, k)
	}
	slices.Sort(tt.holidays)
	return tt, errs
}

// Open reports whether local (a time already in the company's zone) falls in
// the open hours and is not a holiday.
func (tt *Timetable) Open(local time.Time) bool { return tt.open(clockOf(local)) }

// Holiday reports whether local's date is a holiday.
func (tt *Timetable) Holiday(local time.Time) bool { return tt.holiday(clockOf(local).date) }

// clock is a local time broken down once per decision, so that checking
// many timetables does not redo the zone arithmetic.
type clock struct {
	date    int32 // yyyymmdd
	minute  int16 // since local midnight
	weekday time.Weekday
}

func clockOf(local time.Time) clock {
	y, m, d := local.Date()
	h, mi, _ := local.Clock()
	return clock{date: int32(y*10000 + int(m)*100 + d), minute: int16(h*60 + mi), weekday: local.Weekday()}
}

func (tt *Timetable) open(c clock) bool {
	if tt.holiday(c.date) {
		return false
	}
	for _, s := range tt.weekly[c.weekday] {
		if c.minute >= s.from && c.minute < s.to {
			return true
		}
	}
	return false
}

func (tt *Timetable) holiday(date int32) bool {
	if len(tt.holidays) == 0 {
		return false
	}
	_, found := slices.BinarySearch(tt.holidays, date)
	return found
}

// FieldError is a problem with one field of a plan element; Field is a path
// relative to the element ("weekly[0].hours").
type FieldError struct {
	Field string
	Err   error
}

func (e FieldError) Error() string { return e.Field + ": " + e.Err.Error() }
