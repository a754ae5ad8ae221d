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
