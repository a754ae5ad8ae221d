package luaapi

import (
	"sync"
	"testing"
	"time"
)

func TestFreeList(t *testing.T) {
	a, b, c := &state{}, &state{}, &state{}
	t.Run("most recently used first", func(t *testing.T) {
		f := newFreeList(2)
		if !f.put(a) || !f.put(b) {
			t.Fatal("put refused below max")
		}
		if f.put(c) {
			t.Fatal("put accepted over max")
		}
		if s, left := f.take(); s != b || left != 1 {
			t.Fatalf("take = %p, %d; want b, 1", s, left)
		}
		if s, left := f.take(); s != a || left != 0 {
			t.Fatalf("take = %p, %d; want a, 0", s, left)
		}
		if s, _ := f.take(); s != nil {
			t.Fatal("take from an empty list")
		}
	})
	t.Run("wait times out", func(t *testing.T) {
		f := newFreeList(2)
		start := time.Now()
		if s := f.wait(20 * time.Millisecond); s != nil {
			t.Fatal("wait on an empty list returned a state")
		}
		if took := time.Since(start); took < 20*time.Millisecond {
			t.Fatalf("wait returned after %v", took)
		}
		if len(f.waiters) != 0 {
			t.Fatal("a timed-out waiter stayed registered")
		}
		f.put(a) // kept idle, not lost to a gone waiter
		if f.len() != 1 {
			t.Fatal("put after a timed-out wait lost the state")
		}
	})
	t.Run("put hands over to waiters in order", func(t *testing.T) {
		f := newFreeList(2)
		got := make([]*state, 2)
		var wg sync.WaitGroup
		for i := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got[i] = f.wait(5 * time.Second)
			}()
			waitFor(t, "a waiter", func() bool { f.mu.Lock(); defer f.mu.Unlock(); return len(f.waiters) == i+1 })
		}
		f.put(a)
		f.put(b)
		wg.Wait()
		if got[0] != a || got[1] != b || f.len() != 0 {
			t.Fatalf("waiters got %p %p, idle %d; want a, b, 0", got[0], got[1], f.len())
		}
	})
	t.Run("no state lost when put races the timeout", func(t *testing.T) {
		for range 200 {
			f := newFreeList(2)
			done := make(chan *state)
			go func() { done <- f.wait(time.Microsecond) }()
			f.put(a)
			s := <-done
			if (s == a) == (f.len() == 1) {
				t.Fatalf("wait got %p with %d idle: the state must be in exactly one place", s, f.len())
			}
		}
	})
	t.Run("drain", func(t *testing.T) {
		f := newFreeList(3)
		f.put(a)
		f.put(b)
		if got := f.drain(); len(got) != 2 || f.len() != 0 {
			t.Fatalf("drain = %d states, %d left", len(got), f.len())
		}
	})
}
