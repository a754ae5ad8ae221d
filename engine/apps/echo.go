package apps

import (
	"context"
	"fmt"
	"time"

	"luapbx/media/g711"
)

// echoIdle is how long Echo waits for the peer's next packet before it
// fills the stream with silence (the peer stopped sending: silence
// suppression, hold, a one-way network): longer than normal jitter, short
// enough that no SBC or NAT sees the stream stop.
const echoIdle = 3 * FrameInterval

// Echo sends back what the peer sends, as it arrives (the peer's own
// pacing is kept): G.711 audio in the payload type it came in (the
// Endpoint transcodes if the leg's codec differs) and RFC 4733
// telephone-events. Other payload types (comfort noise) are not echoed.
// When the peer sends nothing echoable for echoIdle, silence frames keep
// the stream going on a 20 ms schedule until it sends again; the idle
// timer is re-armed per packet, so an echo in full flow costs no wake-up.
// It returns nil when ctx ends, an ErrMediaEnded error when the media ends,
// and write errors.
func Echo(ctx context.Context, s *Session) error {
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.release()
	s.flush()
	pc := s.clock()
	pc.Stop() // silence only when the peer is idle
	idle := time.NewTimer(echoIdle)
	defer idle.Stop()
	var fill <-chan time.Time // pc.C() while filling with silence
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.done:
			return s.ended()
		case <-idle.C:
			pc.Restart()
			fill = pc.C()
		case <-fill:
			if err := s.silence(pc); err != nil {
				return err
			}
		case p := <-s.pkts:
			sent, err := s.echo(&p)
			if err != nil {
				return err
			}
			if sent {
				if fill != nil {
					pc.Stop()
					fill = nil
				}
				idle.Reset(echoIdle)
			}
		}
	}
}

// echo sends p back; sent is false for what is not echoed.
func (s *Session) echo(p *Packet) (sent bool, err error) {
	switch {
	case p.Event:
		err = s.m.WriteEvent(p.Payload(), p.Marker)
	case p.PT == g711.PTPCMU || p.PT == g711.PTPCMA:
		err = s.m.WriteAudio(p.Payload(), p.PT)
	default:
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("apps: echo: %w", err)
	}
	return true, nil
}
