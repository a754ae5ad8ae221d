package recorder

import "luapbx/media/wav"

// sink receives finished stereo audio; *wav.Writer implements it.
type sink interface {
	WriteSamples(s []int16) error
	WriteSilence(frames int64) error
}

var _ sink = (*wav.Writer)(nil)

// channelState tracks where a channel's next frame is expected.
type channelState struct {
	started bool
	next    int64 // sample position right after the last placed frame
}

// mixer places decoded frames of two channels on a common timeline and
// hands interleaved audio to the sink, oldest first. It keeps a
// window of recent audio in memory so that the two channels, which arrive
// interleaved in time but not in lockstep, can both be filled in before a
// stretch of it is written. Positions never written stay zero (silence).
type mixer struct {
	out     sink
	nch     int64   // channels: 1 or 2
	buf     []int16 // interleaved channels, window frames long; index 0 = flushed
	window  int64   // frames kept in memory
	flushed int64   // positions before this are in the sink
	maxLead int64   // how far a channel may run ahead of its arrival times
	ch      [2]channelState
	late    uint64 // frames dropped because their position was already written
	err     error
}

func newMixer(out sink, nch int, window, maxLead int64) *mixer {
	return &mixer{out: out, nch: int64(nch), buf: make([]int16, int64(nch)*window), window: window, maxLead: maxLead}
}

// place decides where a frame of n samples whose arrival time maps to
// position p goes on channel c, or returns false to drop it.
//
// The first frame of a channel is placed at p. After that frames sit on
// the channel's own grid: p is rounded to the nearest whole number of
// frames from the expected position, so jitter of less than half a frame
// neither opens a gap nor overlaps; a lost packet leaves a frame-sized gap
// (silence); a frame that arrives early (a burst after a stall, or a
// sender clock running fast) is appended at the expected position while
// the channel is no more than maxLead ahead of real time, and dropped
// beyond that so the channels stay aligned.
func (m *mixer) place(c int, p int64, n int64) (int64, bool) {
	st := &m.ch[c]
	if !st.started {
		st.started = true
		return max(p, 0), true
	}
	slots := roundDiv(p-st.next, n)
	if slots >= 0 {
		return st.next + slots*n, true
	}
	if st.next-p <= m.maxLead {
		return st.next, true
	}
	return 0, false
}

// roundDiv divides rounding to the nearest integer (halves away from zero).
func roundDiv(a, b int64) int64 {
	if a >= 0 {
		return (a + b/2) / b
	}
	return -((-a + b/2) / b)
}

// add writes samples of channel c at position p (from place).
func (m *mixer) add(c int, p int64, s []int16) {
	if p < m.flushed {
		m.late++
		return
	}
	end := p + int64(len(s))
	if end > m.flushed+m.window {
		// Write out enough to fit the frame plus half a window of
		// headroom, so flushing happens in large pieces.
		m.flushTo(end - m.window/2)
	}
	off := m.nch*(p-m.flushed) + int64(c)
	for i, v := range s {
		m.buf[off+m.nch*int64(i)] = v
	}
	m.ch[c].next = max(m.ch[c].next, end) // a reordered frame placed by timestamp lands behind
}

// flushTo writes every position before end to the sink.
func (m *mixer) flushTo(end int64) {
	if end <= m.flushed {
		return
	}
	n := min(end-m.flushed, m.window)
	m.write(m.buf[:m.nch*n])
	copy(m.buf, m.buf[m.nch*n:])
	clear(m.buf[int64(len(m.buf))-m.nch*n:])
	m.flushed += n
	if rest := end - m.flushed; rest > 0 {
		// Past the window everything is silence (the buffer is now empty).
		if m.err == nil {
			m.err = m.out.WriteSilence(rest)
		}
		m.flushed = end
	}
}

func (m *mixer) write(s []int16) {
	if m.err == nil {
		m.err = m.out.WriteSamples(s)
	}
}
