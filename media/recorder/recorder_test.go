package recorder

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"luapbx/media/g711"
	"luapbx/media/wav"
)

// fakeClock returns a fixed time that tests move by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func sine(freq float64, n int, amp float64) []int16 {
	s := make([]int16, n)
	for i := range s {
		s[i] = int16(amp * math.Sin(2*math.Pi*freq*float64(i)/SampleRate))
	}
	return s
}

func encode(pt uint8, pcm []int16) []byte {
	b := make([]byte, len(pcm))
	if pt == g711.PTPCMA {
		g711.EncodeAlawFrom(b, pcm)
	} else {
		g711.EncodeUlawFrom(b, pcm)
	}
	return b
}

func decode(pt uint8, b []byte) []int16 {
	s := make([]int16, len(b))
	if pt == g711.PTPCMA {
		g711.DecodeAlawTo(s, b)
	} else {
		g711.DecodeUlawTo(s, b)
	}
	return s
}

func readStereo(t *testing.T, path string) (left, right []int16) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s, fm, err := wav.ReadPCM(f)
	if err != nil {
		t.Fatal(err)
	}
	if fm != wav.Stereo8k {
		t.Fatalf("format %v", fm)
	}
	left, right = make([]int16, len(s)/2), make([]int16, len(s)/2)
	for i := range left {
		left[i], right[i] = s[2*i], s[2*i+1]
	}
	return left, right
}

// leg describes one simulated RTP stream.
type leg struct {
	ch     int
	pt     uint8
	freq   float64
	offset time.Duration // arrival of the first frame after start
	lost   map[int]bool  // frame numbers that never arrive
}

// jitter is a deterministic arrival-time wobble of at most ±6 ms.
func jitter(k, ch int) time.Duration {
	if k == 0 {
		return 0
	}
	return time.Duration((k*7919+ch*104729)%13-6) * time.Millisecond
}

func TestRecorderAlignsTwoLegs(t *testing.T) {
	start := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	clock := &fakeClock{t: start}
	path := Path(t.TempDir(), start, "call-1@example")
	r, err := New(path, WithStart(start), WithClock(clock.now))
	if err != nil {
		t.Fatal(err)
	}
	const frames = 150 // 3 s
	legs := []leg{
		{ch: Caller, pt: g711.PTPCMU, freq: 440, offset: 0, lost: map[int]bool{50: true}},
		{ch: Callee, pt: g711.PTPCMA, freq: 1000, offset: 7 * time.Millisecond},
	}
	var want [2][]int16 // expected decoded frames per channel, indexed by frame
	for _, l := range legs {
		pcm := sine(l.freq, frames*160, 12000)
		wire := encode(l.pt, pcm)
		want[l.ch] = decode(l.pt, wire)
	}
	// Interleave both legs in arrival order like two read loops would.
	for k := range frames {
		for _, l := range legs {
			if l.lost[k] {
				continue
			}
			payload := encode(l.pt, sine(l.freq, frames*160, 12000))[k*160 : (k+1)*160]
			at := start.Add(l.offset + time.Duration(k)*20*time.Millisecond + jitter(k, l.ch))
			r.Write(l.ch, l.pt, payload, at)
		}
	}
	clock.t = start.Add(3200 * time.Millisecond)
	d, err := r.Close()
	if err != nil {
		t.Fatal(err)
	}
	if d != 3200*time.Millisecond {
		t.Fatalf("duration %v, want 3.2s", d)
	}
	if d2, err2 := r.Close(); d2 != d || err2 != nil {
		t.Fatalf("second Close: %v %v", d2, err2)
	}
	st := r.Stats()
	if st.Written != 2*frames-1 || st.Dropped != 0 || st.Late != 0 {
		t.Fatalf("stats %+v", st)
	}
	left, right := readStereo(t, path)
	if len(left) != 25600 {
		t.Fatalf("%d frames, want 25600", len(left))
	}
	checkChannel(t, "left", left, want[0], 0, map[int]bool{50: true})
	checkChannel(t, "right", right, want[1], 56, nil)
}

// checkChannel verifies that frame k of want sits at first+k*160, that
// lost frames and everything outside the signal are silence.
func checkChannel(t *testing.T, name string, got, want []int16, first int, lost map[int]bool) {
	t.Helper()
	end := first + len(want)
	for i, v := range got {
		k := (i - first) / 160
		inSignal := i >= first && i < end && !lost[k]
		switch {
		case inSignal && v != want[i-first]:
			t.Fatalf("%s: sample %d = %d, want %d (frame %d)", name, i, v, want[i-first], k)
		case !inSignal && v != 0:
			t.Fatalf("%s: sample %d = %d, want silence", name, i, v)
		}
	}
}

func TestRecorderPadsSilentCall(t *testing.T) {
	start := time.Now()
	clock := &fakeClock{t: start}
	path := filepath.Join(t.TempDir(), "a", "b", "silent.wav")
	r, err := New(path, WithStart(start), WithClock(clock.now))
	if err != nil {
		t.Fatal(err)
	}
	clock.t = start.Add(5 * time.Second) // longer than the in-memory window
	r.Write(Caller, g711.PTPCMU, encode(0, sine(300, 160, 8000)), start.Add(time.Second))
	d, err := r.Close()
	if err != nil || d != 5*time.Second {
		t.Fatalf("Close = %v, %v", d, err)
	}
	left, right := readStereo(t, path)
	if len(left) != 40000 {
		t.Fatalf("%d frames", len(left))
	}
	nonZero := 0
	for i := range left {
		if right[i] != 0 {
			t.Fatal("right channel not silent")
		}
		if left[i] != 0 {
			nonZero++
			if i < 8000 || i >= 8160 {
				t.Fatalf("left sample %d not silent", i)
			}
		}
	}
	if nonZero < 150 {
		t.Fatalf("frame missing: %d non-zero samples", nonZero)
	}
}

func TestRecorderRejects(t *testing.T) {
	start := time.Now()
	r, err := New(filepath.Join(t.TempDir(), "r.wav"), WithStart(start))
	if err != nil {
		t.Fatal(err)
	}
	p := make([]byte, 160)
	r.Write(2, 0, p, start)
	r.Write(0, 18, p, start)
	r.Write(1, 8, nil, start)
	r.Write(1, 8, make([]byte, maxFrameBytes+1), start)
	r.Close()
	r.Write(0, 0, p, start)
	if st := r.Stats(); st.Rejected != 5 || st.Written != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestRecorderAccountsEveryFrame(t *testing.T) {
	start := time.Now()
	r, err := New(filepath.Join(t.TempDir(), "q.wav"), WithStart(start), WithQueue(4))
	if err != nil {
		t.Fatal(err)
	}
	p := make([]byte, 160)
	const n = 2000
	for k := range n {
		r.Write(k%2, 0, p, start.Add(time.Duration(k/2)*20*time.Millisecond))
	}
	if _, err := r.Close(); err != nil {
		t.Fatal(err)
	}
	st := r.Stats()
	if st.Written+st.Dropped+st.Late != n || st.Written == 0 {
		t.Fatalf("frames unaccounted: %+v", st)
	}
}

func TestWriteDoesNotAllocate(t *testing.T) {
	start := time.Now()
	r, err := New(filepath.Join(t.TempDir(), "z.wav"), WithStart(start))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	p := make([]byte, 160)
	// Warm up: let the writer recycle 300 frames into the free list.
	for k := range 300 {
		r.Write(k%2, 0, p, start.Add(time.Duration(k/2)*20*time.Millisecond))
	}
	for i := 0; i < 500 && (len(r.queue) > 0 || len(r.free) < 300); i++ {
		time.Sleep(2 * time.Millisecond)
	}
	if len(r.free) < 300 {
		t.Fatalf("writer did not recycle frames: %d free", len(r.free))
	}
	k := 300
	allocs := testing.AllocsPerRun(100, func() {
		r.Write(k%2, 0, p, start.Add(time.Duration(k/2)*20*time.Millisecond))
		k++
	})
	if allocs > 0 {
		t.Fatalf("Write allocates %.1f times", allocs)
	}
}

func TestPath(t *testing.T) {
	at := time.Date(2026, 3, 4, 23, 59, 0, 0, time.UTC)
	tests := []struct {
		name   string
		callID string
		want   string
	}{
		{"plain", "abc123@10.0.0.1", "/rec/2026/03/04/abc123@10.0.0.1.wav"},
		{"slashes", "../../etc/passwd", "/rec/2026/03/04/_.._.._etc_passwd.wav"},
		{"dot", ".hidden", "/rec/2026/03/04/_.hidden.wav"},
		{"empty", "", "/rec/2026/03/04/_.wav"},
		{"spaces and nul", "a b\x00c", "/rec/2026/03/04/a_b_c.wav"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Path("/rec", at, tt.callID); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
	long := Path("/r", at, string(make([]byte, 1000)))
	if base := filepath.Base(long); len(base) != maxNameLen+len(".wav") {
		t.Fatalf("long name %d bytes", len(base))
	}
}

func BenchmarkWrite(b *testing.B) {
	dir := b.TempDir()
	var start time.Time
	var r *Recorder
	open := func() {
		start = time.Now()
		var err error
		if r, err = New(filepath.Join(dir, "b.wav"), WithStart(start)); err != nil {
			b.Fatal(err)
		}
	}
	open()
	p := make([]byte, 160)
	k := 0
	b.ReportAllocs()
	for b.Loop() {
		r.Write(k&1, 0, p, start.Add(time.Duration(k>>1)*20*time.Millisecond))
		k++
		if k == 1<<20 { // ~3 h of audio: a new file long before the WAV's 4 GiB limit
			b.StopTimer()
			if _, err := r.Close(); err != nil {
				b.Fatal(err)
			}
			open()
			k = 0
			b.StartTimer()
		}
	}
	b.StopTimer()
	if _, err := r.Close(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkWriterSide measures the writer goroutine's work per frame:
// decode, place on the timeline and buffered WAV output.
func BenchmarkWriterSide(b *testing.B) {
	w, err := wav.Create(filepath.Join(b.TempDir(), "w.wav"), wav.Stereo8k)
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	start := time.Now()
	r := &Recorder{start: start, nch: 2, free: make(chan *frame, 1)}
	m := newMixer(w, 2, windowFrames, maxLeadSamples)
	pcm := make([]int16, maxFrameBytes)
	f := &frame{data: make([]byte, 160)}
	k := 0
	b.ReportAllocs()
	for b.Loop() {
		f.ch, f.pt, f.at = uint8(k&1), uint8(8*(k&1)), start.Add(time.Duration(k>>1)*20*time.Millisecond)
		r.handle(m, pcm, f)
		<-r.free
		k++
	}
}

func TestMonoRecorder(t *testing.T) {
	start := time.Now()
	clock := &fakeClock{t: start}
	path := filepath.Join(t.TempDir(), "vm.wav")
	r, err := New(path, Mono(), WithStart(start), WithClock(clock.now))
	if err != nil {
		t.Fatal(err)
	}
	wire := encode(g711.PTPCMA, sine(700, 8000, 9000))
	for k := range 50 {
		r.Write(Caller, g711.PTPCMA, wire[k*160:(k+1)*160], start.Add(time.Duration(k)*20*time.Millisecond))
	}
	r.Write(Callee, g711.PTPCMA, wire[:160], start)
	clock.t = start.Add(1500 * time.Millisecond)
	if d, err := r.Close(); err != nil || d != 1500*time.Millisecond {
		t.Fatalf("Close = %v, %v", d, err)
	}
	if st := r.Stats(); st.Written != 50 || st.Rejected != 1 {
		t.Fatalf("stats %+v", st)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s, fm, err := wav.ReadPCM(f)
	if err != nil || fm != wav.Mono8k || len(s) != 12000 {
		t.Fatalf("%v, %d samples, %v", fm, len(s), err)
	}
	want := decode(g711.PTPCMA, wire)
	for i, v := range s {
		if (i < 8000 && v != want[i]) || (i >= 8000 && v != 0) {
			t.Fatalf("sample %d = %d", i, v)
		}
	}
}

// BenchmarkWriteEnqueue measures the packet-path cost of a Write that is
// queued (not dropped): take a recycled frame, copy 160 bytes, send. The
// benchmark recycles the queue itself, outside the timer.
func BenchmarkWriteEnqueue(b *testing.B) {
	start := time.Now()
	r := &Recorder{nch: 2, start: start, queue: make(chan *frame, defaultQueue), free: make(chan *frame, defaultQueue+1)}
	p := make([]byte, 160)
	k := 0
	b.ReportAllocs()
	for b.Loop() {
		r.Write(k&1, 0, p, start.Add(time.Duration(k>>1)*20*time.Millisecond))
		k++
		if len(r.queue) == cap(r.queue) {
			b.StopTimer()
			for len(r.queue) > 0 {
				r.putFrame(<-r.queue)
			}
			b.StartTimer()
		}
	}
	if r.dropped.Load() != 0 {
		b.Fatalf("%d dropped", r.dropped.Load())
	}
}

// WriteRTP places frames by RTP timestamp: a burst after a sender's stall
// and reordered packets land where they belong, with no gap and no shift,
// and a timestamp jump (a new stream after a re-INVITE) re-anchors the
// channel at its arrival.
func TestWriteRTPPlacesByTimestamp(t *testing.T) {
	start := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	clock := &fakeClock{t: start}
	path := Path(t.TempDir(), start, "ts@example")
	r, err := New(path, WithStart(start), WithClock(clock.now))
	if err != nil {
		t.Fatal(err)
	}
	const frames = 150
	wire := encode(g711.PTPCMU, sine(440, frames*160, 12000))
	type arrival struct {
		k  int
		at time.Time
	}
	var order []arrival
	for k := range frames {
		at := start.Add(time.Duration(k) * 20 * time.Millisecond)
		switch {
		case k >= 40 && k < 50: // stalled, then sent in a burst with frame 54
			at = start.Add(54*20*time.Millisecond + time.Duration(k-40)*100*time.Microsecond)
		case k == 60:
			at = at.Add(25 * time.Millisecond) // after 61
		}
		order = append(order, arrival{k, at})
	}
	slices.SortStableFunc(order, func(a, b arrival) int { return a.at.Compare(b.at) })
	for _, a := range order {
		ts := uint32(4_000_000_000 + a.k*160) // wraps past 2^32 on the way
		if a.k >= 100 {
			ts += 1_000_000 // a new stream
		}
		r.WriteRTP(Caller, g711.PTPCMU, ts, wire[a.k*160:(a.k+1)*160], a.at)
	}
	clock.t = start.Add(frames * 20 * time.Millisecond)
	if _, err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if st := r.Stats(); st.Written != frames || st.Late != 0 || st.Dropped != 0 {
		t.Fatalf("stats %+v", st)
	}
	left, right := readStereo(t, path)
	checkChannel(t, "left", left, decode(g711.PTPCMU, wire), 0, nil)
	checkChannel(t, "right", right, nil, 0, nil)
}
