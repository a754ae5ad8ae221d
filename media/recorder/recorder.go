// Package recorder writes a call to a stereo WAV file: the caller on the
// left channel, the callee on the right, 8 kHz 16-bit PCM, with silence
// where packets were lost. The channels are aligned by arrival time; within
// a channel, RTP frames (WriteRTP) sit where their timestamps put them, so
// jitter and stalls neither open gaps nor shift the audio.
//
// Write is called from the RTP read loops and never blocks: it copies the
// payload into a recycled frame and queues it (a bounded queue: frames are
// dropped, and counted, when it is full). Decoding and file I/O happen off
// the packet path: one writer goroutine for all recordings of the process
// drains every queue every 200 ms (drainer.go), and Close finishes the file.
package recorder

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"luapbx/media/g711"
	"luapbx/media/wav"
)

// SampleRate is the recording's sample rate (G.711's).
const SampleRate = 8000

// Channels.
const (
	Caller = 0 // left
	Callee = 1 // right
)

const (
	defaultQueue   = 512  // frames: ~5 s of both legs at 20 ms, 100 drain periods
	maxFrameBytes  = 1920 // 240 ms of G.711; larger payloads are dropped
	windowFrames   = 2 * SampleRate
	maxLeadSamples = 3 * 160 // 60 ms
	// drainEvery paces the writer goroutine: frames carry their arrival
	// time, so how late they are decoded changes nothing in the file.
	drainEvery = 200 * time.Millisecond
)

// Stats counts what happened to the frames handed to Write.
type Stats struct {
	Written  uint64 // frames decoded into the recording
	Dropped  uint64 // queue full: the writer fell behind
	Late     uint64 // arrived after their place was written, or too early
	Rejected uint64 // bad channel, payload type or size, or after Close
}

// Recorder records one call. Write may be called from any goroutine;
// Close once the call is over.
type Recorder struct {
	path  string
	nch   int
	start time.Time
	now   func() time.Time
	log   *slog.Logger
	queue chan *frame
	free  chan *frame // recycled frames: no allocation in steady state

	closed   atomic.Bool
	finished atomic.Bool // Close is done: written and late are final
	dropped  atomic.Uint64
	rejected atomic.Uint64

	closeOnce sync.Once
	end       time.Time
	duration  time.Duration
	err       error

	// The writer side, run by the drainer and by Close.
	wmu     sync.Mutex
	w       *wav.Writer
	m       *mixer
	pcm     []int16
	written uint64
	late    uint64
	anchors [2]tsAnchor
}

type frame struct {
	ch    uint8
	pt    uint8
	hasTS bool   // ts is the packet's RTP timestamp (WriteRTP)
	ts    uint32 // in samples: G.711's clock is the recording's 8 kHz
	at    time.Time
	data  []byte
}

// tsAnchor maps a channel's RTP timestamps to recording positions: ts0 was
// at pos0. Owned by the writer goroutine.
type tsAnchor struct {
	set  bool
	ts0  uint32
	pos0 int64
}

// A timestamp's position may run this far ahead of the packet's arrival
// (the sender's clock drifting fast) before the channel is re-anchored at
// the arrival; behind it, as far as the mixer keeps audio (late packets
// after a stall). Beyond either, the timestamps jumped: a new stream after a
// re-INVITE, or a sender that restarted them.
const (
	aheadSamples  = SampleRate / 5 // 200 ms
	behindSamples = windowFrames
)

// Option configures a Recorder.
type Option func(*Recorder)

// WithStart sets the time position 0 of the recording stands for (the
// answer time); the default is the time New is called.
func WithStart(t time.Time) Option { return func(r *Recorder) { r.start = t } }

// WithClock sets the clock Close reads to find the end of the recording.
func WithClock(now func() time.Time) Option { return func(r *Recorder) { r.now = now } }

// Mono records only channel 0 into a mono file (voicemail); Write
// rejects channel 1.
func Mono() Option { return func(r *Recorder) { r.nch = 1 } }

// WithLogger sets the logger for write errors.
func WithLogger(l *slog.Logger) Option { return func(r *Recorder) { r.log = l } }

// WithQueue sets the queue length in frames (default 512).
func WithQueue(n int) Option {
	return func(r *Recorder) {
		if n > 0 {
			r.queue = make(chan *frame, n)
		}
	}
}

// New creates path (and its directory) and starts the writer goroutine.
func New(path string, opts ...Option) (*Recorder, error) {
	r := &Recorder{path: path, nch: 2, now: time.Now, log: slog.Default()}
	for _, o := range opts {
		o(r)
	}
	if r.start.IsZero() {
		r.start = r.now()
	}
	if r.queue == nil {
		r.queue = make(chan *frame, defaultQueue)
	}
	r.free = make(chan *frame, cap(r.queue)+1)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("recorder: %w", err)
	}
	format := wav.Stereo8k
	if r.nch == 1 {
		format = wav.Mono8k
	}
	w, err := wav.Create(path, format)
	if err != nil {
		return nil, fmt.Errorf("recorder: %w", err)
	}
	r.w, r.m, r.pcm = w, newMixer(w, r.nch, windowFrames, maxLeadSamples), make([]int16, maxFrameBytes)
	drainers.add(r)
	return r, nil
}

// Path returns the file being written.
func (r *Recorder) Path() string { return r.path }

// Write records one RTP payload of channel ch (Caller or Callee) with
// payload type pt (g711.PTPCMU or g711.PTPCMA) that arrived at at. The
// payload is copied; the caller keeps ownership. Write never blocks.
func (r *Recorder) Write(ch int, pt uint8, payload []byte, at time.Time) {
	r.write(ch, pt, false, 0, payload, at)
}

// WriteRTP is Write for an RTP payload whose timestamp is ts: frames are
// placed by timestamp from where the channel's first one arrived, so
// jitter and a sender's stalls neither open gaps nor shift the channel
// (arrival time re-anchors it after a timestamp jump: more than 200 ms
// ahead of real time, or older than the 2 s the mixer keeps). It is the
// rtprelay.Tap the relay feeds.
func (r *Recorder) WriteRTP(ch int, pt uint8, ts uint32, payload []byte, at time.Time) {
	r.write(ch, pt, true, ts, payload, at)
}

func (r *Recorder) write(ch int, pt uint8, hasTS bool, ts uint32, payload []byte, at time.Time) {
	if r.closed.Load() || ch < 0 || ch >= r.nch || (pt != g711.PTPCMU && pt != g711.PTPCMA) ||
		len(payload) == 0 || len(payload) > maxFrameBytes {
		r.rejected.Add(1)
		return
	}
	f := r.getFrame()
	f.ch, f.pt, f.at, f.hasTS, f.ts = uint8(ch), pt, at, hasTS, ts
	f.data = append(f.data[:0], payload...)
	select {
	case r.queue <- f:
	default:
		r.putFrame(f)
		r.dropped.Add(1)
	}
}

// getFrame takes a recycled frame, or allocates one while the backlog
// grows (at most queue length + 1 frames ever live).
func (r *Recorder) getFrame() *frame {
	select {
	case f := <-r.free:
		return f
	default:
		return &frame{data: make([]byte, 0, 480)} // 60 ms of G.711: 20 and 30 ms packets never regrow it
	}
}

func (r *Recorder) putFrame(f *frame) {
	select {
	case r.free <- f:
	default:
	}
}

// Close ends the recording at the current time: the channels are padded
// with silence to the time from start to now, the file is flushed and its
// header fixed. It returns the recording's duration. Calling it again
// returns the same result.
func (r *Recorder) Close() (time.Duration, error) {
	r.closeOnce.Do(func() {
		r.end = r.now()
		r.closed.Store(true)
		drainers.remove(r)
		r.wmu.Lock()
		defer r.wmu.Unlock()
		r.drain()
		r.finish()
		r.finished.Store(true)
	})
	return r.duration, r.err
}

// Stats returns the frame counters. Written and Late are final once Close
// has returned.
func (r *Recorder) Stats() Stats {
	s := Stats{Dropped: r.dropped.Load(), Rejected: r.rejected.Load()}
	if r.finished.Load() {
		s.Written, s.Late = r.written, r.late
	}
	return s
}

// position converts an arrival time to a sample position.
func (r *Recorder) position(at time.Time) int64 {
	return int64(at.Sub(r.start)) * SampleRate / int64(time.Second)
}

// drain handles every frame queued so far; the caller holds wmu.
func (r *Recorder) drain() {
	for {
		select {
		case f := <-r.queue:
			r.handle(r.m, r.pcm, f)
		default:
			return
		}
	}
}

// handle decodes one frame into the mixer and recycles it.
func (r *Recorder) handle(m *mixer, pcm []int16, f *frame) {
	s := pcm[:len(f.data)]
	if f.pt == g711.PTPCMA {
		g711.DecodeAlawTo(s, f.data)
	} else {
		g711.DecodeUlawTo(s, f.data)
	}
	p, ok := int64(0), true
	if f.hasTS {
		p = r.tsPosition(int(f.ch), f.ts, r.position(f.at))
	} else {
		p, ok = m.place(int(f.ch), r.position(f.at), int64(len(s)))
	}
	if ok && p >= m.flushed {
		m.add(int(f.ch), p, s)
		r.written++
	} else {
		r.late++
	}
	r.putFrame(f)
}

// tsPosition places a frame of channel ch by its RTP timestamp, anchored
// where the channel's first frame arrived (arrival: its arrival position).
func (r *Recorder) tsPosition(ch int, ts uint32, arrival int64) int64 {
	a := &r.anchors[ch]
	if a.set {
		p := a.pos0 + int64(int32(ts-a.ts0)) // int32: timestamps wrap
		if d := p - arrival; d >= -behindSamples && d <= aheadSamples {
			return max(p, 0)
		}
	}
	*a = tsAnchor{set: true, ts0: ts, pos0: arrival}
	return max(arrival, 0)
}

// finish pads to the end time, writes the rest and closes the file; the
// caller holds wmu.
func (r *Recorder) finish() {
	w, m := r.w, r.m
	total := max(r.position(r.end), 0)
	m.flushTo(total)
	err := m.err
	if cerr := w.Close(); cerr != nil && err == nil {
		err = cerr
	}
	r.late += m.late
	r.duration = time.Duration(w.Frames()) * time.Second / SampleRate
	if err != nil {
		r.err = fmt.Errorf("recorder %s: %w", r.path, err)
		r.log.Error("recording failed", "path", r.path, "err", err)
	}
}
