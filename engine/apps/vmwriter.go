package apps

import (
	"fmt"
	"os"
	"path/filepath"

	"luapbx/media/g711"
	"luapbx/media/wav"
)

// maxJump is the largest RTP timestamp gap (5 s at 8 kHz) filled with
// silence; a bigger jump, forwards or back, is a discontinuity (the sender
// restarted its clock) and recording continues without a gap.
const maxJump = 5 * 8000

// vmWriter writes one caller's G.711 frames to a mono WAV on the RTP
// timeline: frames follow each other by their timestamps, not by when
// they arrived, so network jitter neither opens gaps nor shifts the audio;
// lost packets and silence suppression become silence; duplicates and
// reordered late packets are dropped. Only the application goroutine uses
// it; the wav.Writer buffers and keeps the header valid as the file grows.
type vmWriter struct {
	w        pcmSink
	pcm      [MaxPayload]int16
	started  bool
	ssrc     uint32
	next     uint32 // timestamp expected next
	written  int64  // samples in the file
	received int64  // samples of caller audio taken
	limit    int64  // most samples the file may hold
}

// pcmSink is where a vmWriter puts samples; *wav.Writer implements it.
type pcmSink interface {
	WriteSamples(s []int16) error
	WriteSilence(frames int64) error
	Close() error
}

func newVMWriter(path string, limit int64) (*vmWriter, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	w, err := wav.Create(path, wav.Mono8k)
	if err != nil {
		return nil, err
	}
	return &vmWriter{w: w, limit: limit}, nil
}

// write adds one G.711 frame; full reports that the limit is reached.
func (v *vmWriter) write(p *Packet) (full bool, err error) {
	if v.written >= v.limit {
		return true, nil
	}
	n := p.n
	if !v.started || p.SSRC != v.ssrc {
		v.started, v.ssrc, v.next = true, p.SSRC, p.Timestamp
	}
	switch gap := int64(int32(p.Timestamp - v.next)); {
	case gap > maxJump || gap <= -maxJump:
		v.next = p.Timestamp
	case gap < 0:
		return false, nil // late, reordered or repeated (and not full, see above)
	case gap > 0:
		if err := v.w.WriteSilence(min(gap, v.limit-v.written)); err != nil {
			return false, fmt.Errorf("voicemail: %w", err)
		}
		v.written = min(v.written+gap, v.limit)
	}
	take := int(min(int64(n), v.limit-v.written))
	pcm := v.pcm[:take]
	if p.PT == g711.PTPCMA {
		g711.DecodeAlawTo(pcm, p.buf[:take])
	} else {
		g711.DecodeUlawTo(pcm, p.buf[:take])
	}
	if err := v.w.WriteSamples(pcm); err != nil {
		return false, fmt.Errorf("voicemail: %w", err)
	}
	v.written += int64(take)
	v.received += int64(take)
	v.next = p.Timestamp + uint32(n)
	return v.written >= v.limit, nil
}

// padTo adds silence until the file holds n samples (at most the limit);
// a file already as long is left alone.
func (v *vmWriter) padTo(n int64) error {
	n = min(n, v.limit)
	if n <= v.written {
		return nil
	}
	if err := v.w.WriteSilence(n - v.written); err != nil {
		return fmt.Errorf("voicemail: %w", err)
	}
	v.written = n
	return nil
}

// close finishes the file (header sizes fixed).
func (v *vmWriter) close() error { return v.w.Close() }
