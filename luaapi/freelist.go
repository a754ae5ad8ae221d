package luaapi

import (
	"slices"
	"sync"
	"time"
)

// freeList holds the idle states, the most recently used on top: a hook
// takes the state whose memory is still in the CPU caches, and spares stay
// cold until needed. Hooks waiting for a state are handed one directly by
// put, first come first served.
type freeList struct {
	mu      sync.Mutex
	idle    []*state
	max     int
	waiters []chan *state
}

func newFreeList(max int) *freeList {
	return &freeList{idle: make([]*state, 0, max), max: max}
}

// take pops the most recently used idle state; left is how many stay idle.
func (f *freeList) take() (s *state, left int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := len(f.idle)
	if n == 0 {
		return nil, 0
	}
	s = f.idle[n-1]
	f.idle[n-1] = nil
	f.idle = f.idle[:n-1]
	return s, n - 1
}

// put hands s to the first waiting hook, or keeps it idle; false when the
// list is full (the caller closes s).
func (f *freeList) put(s *state) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.waiters) > 0 {
		w := f.waiters[0]
		f.waiters = slices.Delete(f.waiters, 0, 1)
		w <- s // buffered: never blocks
		return true
	}
	if len(f.idle) >= f.max {
		return false
	}
	f.idle = append(f.idle, s)
	return true
}

// wait takes an idle state or waits at most d for put to hand one over.
func (f *freeList) wait(d time.Duration) *state {
	f.mu.Lock()
	if n := len(f.idle); n > 0 {
		s := f.idle[n-1]
		f.idle[n-1] = nil
		f.idle = f.idle[:n-1]
		f.mu.Unlock()
		return s
	}
	w := make(chan *state, 1)
	f.waiters = append(f.waiters, w)
	f.mu.Unlock()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case s := <-w:
		return s
	case <-t.C:
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if i := slices.Index(f.waiters, w); i >= 0 {
		f.waiters = slices.Delete(f.waiters, i, i+1)
		return nil
	}
	return <-w // put handed one over as the time ran out
}

// len is how many states are idle.
func (f *freeList) len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.idle)
}

// drain removes and returns every idle state.
func (f *freeList) drain() []*state {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.idle
	f.idle = nil
	return out
}
