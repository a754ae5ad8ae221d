package recorder

import (
	"path/filepath"
	"testing"
	"time"
)

// TestDrainer: the shared writer empties every open recorder's queue
// without Close, and stops once no recording is left.
func TestDrainer(t *testing.T) {
	start := time.Now()
	dir := t.TempDir()
	var recs []*Recorder
	for i := range 3 {
		r, err := New(filepath.Join(dir, string(rune('a'+i))+".wav"), WithStart(start))
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
		for k := range 20 {
			r.Write(k%2, 0, make([]byte, 160), start.Add(time.Duration(k/2)*20*time.Millisecond))
		}
	}
	deadline := time.Now().Add(2 * time.Second)
	for _, r := range recs {
		for len(r.queue) > 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d frames still queued after 2 s", r.Path(), len(r.queue))
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	for _, r := range recs {
		if _, err := r.Close(); err != nil {
			t.Fatal(err)
		}
		if st := r.Stats(); st.Written != 20 {
			t.Errorf("%s: written %d, want 20", r.Path(), st.Written)
		}
	}
	for deadline := time.Now().Add(2 * time.Second); ; {
		drainers.mu.Lock()
		running := drainers.running
		drainers.mu.Unlock()
		if !running {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("drainer still running with no recording open")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
