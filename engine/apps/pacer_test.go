package apps

import (
	"testing"
	"time"
)

func TestPacerSchedule(t *testing.T) {
	t0 := time.Unix(1000, 0)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	p := newPacer(20*time.Millisecond, func() time.Time { return t0 })
	defer p.Stop()
	steps := []struct {
		name string
		now  time.Time // when tick n was handled
		want time.Duration
	}{
		{"on time", ms(1), 19 * time.Millisecond},
		{"woke late: next is still on the grid", ms(27), 13 * time.Millisecond},
		{"behind within the limit: catch up at once", ms(75), 0},
		{"caught up", ms(78), 2 * time.Millisecond},
		{"stalled past the limit: schedule moves", ms(400), 0},
		{"after the move", ms(401), 19 * time.Millisecond},
		{"no drift after the move", ms(439), time.Millisecond},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if got := p.advance(st.now); got != st.want {
				t.Errorf("tick %d at %v: wait %v, want %v", p.Ticks(), st.now.Sub(t0), got, st.want)
			}
		})
	}
	if p.Rebased() != 1 {
		t.Errorf("rebased %d times, want 1", p.Rebased())
	}
}

func TestPacerRealTime(t *testing.T) {
	const ticks = 25
	p := NewPacer(20 * time.Millisecond)
	defer p.Stop()
	start := time.Now()
	for range ticks {
		<-p.C()
		time.Sleep(3 * time.Millisecond) // per-frame work must not add up
		p.Next()
	}
	// The first tick is immediate: ticks-1 intervals.
	took := time.Since(start)
	if want := (ticks - 1) * 20 * time.Millisecond; took < want || took > want+150*time.Millisecond {
		t.Errorf("%d ticks took %v, want about %v", ticks, took, want)
	}
}

// TestPacerResumeRestart: the schedule kept across a pause (Resume), moved
// when the pause was long, restarted from now (Restart), and a longer
// catch-up window (SetMaxLate).
func TestPacerResumeRestart(t *testing.T) {
	t0 := time.Unix(1000, 0)
	now := t0
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	p := newPacer(20*time.Millisecond, func() time.Time { return now })
	defer p.Stop()
	steps := []struct {
		name string
		at   time.Time
		op   func() time.Duration // returns the wait it set
		want time.Duration
	}{
		{"tick 0 done at 1 ms", ms(1), func() time.Duration { return p.advance(now) }, 19 * time.Millisecond},
		{"resumed before tick 1 is due", ms(5), func() time.Duration { return p.pending(now) }, 15 * time.Millisecond},
		{"resumed 50 ms late: caught up", ms(70), func() time.Duration { return p.pending(now) }, 0},
		{"resumed long after: moved", ms(500), func() time.Duration { return p.pending(now) }, 0},
		{"tick 1 done right after the move", ms(501), func() time.Duration { return p.advance(now) }, 19 * time.Millisecond},
		{"restart: the pending tick is due now", ms(700), func() time.Duration { p.Restart(); return p.pending(now) }, 0},
		{"then every interval from the restart", ms(702), func() time.Duration { return p.advance(now) }, 18 * time.Millisecond},
		{"a wider window catches up 150 ms", ms(870), func() time.Duration { p.SetMaxLate(10); return p.advance(now) }, 0},
		{"ticks 5-10 (760-860 ms) are due at once, tick 11 on the grid", ms(871), func() time.Duration {
			for range 6 {
				if w := p.advance(now); w != 0 {
					return w
				}
			}
			return p.advance(now)
		}, 9 * time.Millisecond},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			now = st.at
			if got := st.op(); got != st.want {
				t.Errorf("at %v: wait %v, want %v", st.at.Sub(t0), got, st.want)
			}
		})
	}
	if p.Rebased() != 1 {
		t.Errorf("rebased %d times, want 1 (the long pause)", p.Rebased())
	}
}
