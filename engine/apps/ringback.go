package apps

import (
	"context"
	"errors"
	"sync"
	"time"

	"luapbx/media/player"
)

// Ringback cadence: the European ring-back tone (425 Hz, 1 s on, 4 s off).
const (
	RingbackHz  = 425
	RingbackOn  = time.Second
	RingbackOff = 4 * time.Second
)

// ringback is one cadence, encoded once and shared by every call.
var ringback = sync.OnceValue(func() *player.Prompt {
	return player.NewPrompt("ringback", player.Pattern(
		player.Segment{Freqs: []float64{RingbackHz}, Dur: RingbackOn},
		player.Segment{Dur: RingbackOff}))
})

// Ringback plays the ring-back tone to an answered caller while the call
// layer rings its next target (after an IVR choice), until ctx ends
// (returning nil) or the media ends. The silent part of the cadence is
// sent too, so the caller's stream has no gap. Received packets are
// discarded.
func Ringback(ctx context.Context, s *Session) error {
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.release()
	s.flush()
	pt := s.Codec()
	frames, err := ringback().Frames(pt)
	if err != nil {
		return err
	}
	_, err = s.send(ctx, frames, pt, true, nil)
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	return err
}
