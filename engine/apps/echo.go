package apps

import (
	"context"
	"fmt"

	"luapbx/media/g711"
)

// Echo sends back what the peer sends, as it arrives (the peer's own
// pacing is kept): G.711 audio in the payload type it came in (the
// Endpoint transcodes if the leg's codec differs) and RFC 4733
// telephone-events. Other payload types (comfort noise) are not echoed.
// It returns nil when ctx ends, an ErrMediaEnded error when the media ends,
// and write errors.
func Echo(ctx context.Context, s *Session) error {
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.release()
	s.flush()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.done:
			return s.ended()
		case p := <-s.pkts:
			if err := s.echo(&p); err != nil {
				return err
			}
		}
	}
}

func (s *Session) echo(p *Packet) error {
	var err error
	switch {
	case p.Event:
		err = s.m.WriteEvent(p.Payload(), p.Marker)
	case p.PT == g711.PTPCMU || p.PT == g711.PTPCMA:
		err = s.m.WriteAudio(p.Payload(), p.PT)
	default:
		return nil
	}
	if err != nil {
		return fmt.Errorf("apps: echo: %w", err)
	}
	return nil
}
