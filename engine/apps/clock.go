package apps

import (
	"errors"
	"fmt"
	"net"

	"luapbx/media/g711"
	"luapbx/media/player"
)

// The PBX's stream to the caller never pauses while an application holds
// the leg: between prompts, while an IVR waits for a key and while
// voicemail records, it sends silence frames. Carriers' SBCs hang up calls
// whose media stops, and NAT pinholes close on a one-way silence.
//
// Everything an application sends follows one schedule per Session (the
// clock): a prompt, the silence after it and the next prompt are frames n,
// n+1, ... of the same 20 ms grid, so the stream neither bursts nor drifts
// at the joins. The Media keeps the sequence number, timestamp and SSRC
// running across them.

// silence is a zero frame in each law.
var silenceULaw, silenceALaw = fill(g711.SilenceUlaw), fill(g711.SilenceAlaw)

func fill(b byte) []byte {
	f := make([]byte, player.FrameSamples)
	for i := range f {
		f[i] = b
	}
	return f
}

// silenceFrame is 20 ms of silence in pt (PCMU for anything but PCMA).
func silenceFrame(pt uint8) []byte {
	if pt == g711.PTPCMA {
		return silenceALaw
	}
	return silenceULaw
}

// clock is the session's send schedule, created by the first application
// (its first tick fires at once). Only the running application uses it:
// acquire resumes it, release stops it.
func (s *Session) clock() *Pacer {
	if s.pc == nil {
		s.pc = NewPacer(s.interval)
	}
	return s.pc
}

// write sends one audio frame.
func (s *Session) write(frame []byte, pt uint8) error {
	if err := s.m.WriteAudio(frame, pt); err != nil {
		if errors.Is(err, net.ErrClosed) {
			// The media was closed under us: the same end as the
			// reader seeing it (which may not have yet).
			return fmt.Errorf("%w: %w", ErrMediaEnded, err)
		}
		return fmt.Errorf("apps: send frame: %w", err)
	}
	return nil
}

// silence sends the silence frame due on pc's tick and schedules the next.
func (s *Session) silence(pc *Pacer) error {
	pt := s.Codec()
	err := s.write(silenceFrame(pt), pt)
	pc.Next()
	s.silent.Add(1)
	return err
}
