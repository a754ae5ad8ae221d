package apps

import "time"

// FrameInterval is the packetisation time of everything the PBX sends.
const FrameInterval = 20 * time.Millisecond

// maxLateFrames is how far behind its schedule a Pacer may fall (a stalled
// goroutine, a suspended VM) before it gives up on catching up: within it,
// late frames go out back to back so the average rate stays exact; beyond
// it, the schedule moves forward instead of bursting.
const maxLateFrames = 3

// Pacer fires once per interval on an absolute schedule: tick n is due at
// start + n*interval, so the delay of one wake-up never accumulates into
// drift. Use it from one goroutine:
//
//	p := NewPacer(FrameInterval)
//	defer p.Stop()
//	for {
//		<-p.C()      // in a select with the other things to watch
//		send(frame)
//		p.Next()
//	}
type Pacer struct {
	interval time.Duration
	start    time.Time
	n        int64
	timer    *time.Timer
	now      func() time.Time
	rebased  int
	maxLate  time.Duration // -maxLateFrames*interval unless SetMaxLate
}

// NewPacer returns a pacer whose first tick fires at once.
func NewPacer(interval time.Duration) *Pacer {
	return newPacer(interval, time.Now)
}

func newPacer(interval time.Duration, now func() time.Time) *Pacer {
	if interval <= 0 {
		interval = FrameInterval
	}
	return &Pacer{interval: interval, start: now(), now: now, timer: time.NewTimer(0),
		maxLate: maxLateFrames * interval}
}

// SetMaxLate sets how many ticks behind schedule the pacer catches up
// back to back before it moves the schedule instead (default 3). A sender
// that must keep real time on a loaded machine (the test phone) allows
// more; one whose receiver is a phone's jitter buffer keeps bursts short.
func (p *Pacer) SetMaxLate(ticks int) {
	p.maxLate = time.Duration(max(ticks, 0)) * p.interval
}

// C delivers the ticks.
func (p *Pacer) C() <-chan time.Time { return p.timer.C }

// Next schedules the following tick, after the one just received (and
// acted on).
func (p *Pacer) Next() {
	p.timer.Reset(p.advance(p.now()))
}

// advance counts one tick done at now and returns the wait until the next.
func (p *Pacer) advance(now time.Time) time.Duration {
	p.n++
	return p.pending(now)
}

// Resume re-arms a stopped pacer for its pending tick, keeping the
// schedule: the tick fires at its time, or at once if it is late (more
// than maxLateFrames late moves the schedule to now, as in Next).
func (p *Pacer) Resume() {
	p.timer.Reset(p.pending(p.now()))
}

// pending returns the wait until tick n (not yet done), moving the
// schedule when it is too far behind.
func (p *Pacer) pending(now time.Time) time.Duration {
	due := p.start.Add(time.Duration(p.n) * p.interval)
	wait := due.Sub(now)
	if wait < -p.maxLate {
		p.start = p.start.Add(-wait)
		p.rebased++
		return 0
	}
	return max(wait, 0)
}

// Restart makes the pending tick due at once and the following ones every
// interval from now (a new schedule, without counting a rebase).
func (p *Pacer) Restart() {
	p.start = p.now().Add(-time.Duration(p.n) * p.interval)
	p.timer.Reset(0)
}

// Ticks is the number of ticks done (Next calls).
func (p *Pacer) Ticks() int64 { return p.n }

// Rebased counts how often the pacer fell too far behind and moved its
// schedule.
func (p *Pacer) Rebased() int { return p.rebased }

// Stop releases the timer.
func (p *Pacer) Stop() { p.timer.Stop() }
