package recorder

import (
	"sync"
	"time"
)

// drainer is the writer goroutine of every recording of the process: every
// drainEvery it decodes what each recorder queued and writes it out. One
// goroutine waking 5 times a second replaces one per recorded call (on a
// virtual machine each wake-up costs ~50 us of CPU: 200 recorded calls
// spent ~5 % of a core just waking up). It runs while recordings exist.
type drainer struct {
	mu      sync.Mutex
	active  map[*Recorder]struct{}
	running bool
	list    []*Recorder // the goroutine's copy of active
}

var drainers = &drainer{active: make(map[*Recorder]struct{})}

func (d *drainer) add(r *Recorder) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.active[r] = struct{}{}
	if !d.running {
		d.running = true
		go d.run()
	}
}

// remove takes r out; a drain of r in progress may still finish (Close
// then waits on r's writer lock).
func (d *drainer) remove(r *Recorder) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.active, r)
}

// run drains until no recording is left (a new one starts it again).
func (d *drainer) run() {
	tick := time.NewTicker(drainEvery)
	defer tick.Stop()
	for range tick.C {
		d.mu.Lock()
		if len(d.active) == 0 {
			d.running = false
			d.mu.Unlock()
			return
		}
		d.list = d.list[:0]
		for r := range d.active {
			d.list = append(d.list, r)
		}
		d.mu.Unlock()
		for i, r := range d.list {
			r.drainIfOpen()
			d.list[i] = nil
		}
	}
}

// drainIfOpen drains r unless Close has finished it meanwhile.
func (r *Recorder) drainIfOpen() {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	if r.finished.Load() || r.closed.Load() {
		return // Close drains and finishes itself
	}
	r.drain()
}
