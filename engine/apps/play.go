package apps

import (
	"context"
	"errors"
	"fmt"
	"math"

	"luapbx/media/g711"
	"luapbx/media/player"
)

// DefaultToneHz is app:tone's frequency: the European dial tone.
const DefaultToneHz = 425

// onPacket sees each packet received while frames play; true interrupts the
// playback (barge-in).
type onPacket func(p *Packet) bool

// Play sends the prompt once, paced, and returns when it has been sent
// (the call layer then hangs up), when ctx ends (ctx.Err()) or when the
// media ends (ErrMediaEnded).
func Play(ctx context.Context, s *Session, p *player.Prompt) error {
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.release()
	_, err := s.playPrompt(ctx, p, nil)
	return err
}

// Tone sends a continuous DefaultToneHz tone until ctx ends (returning
// nil) or the media ends.
func Tone(ctx context.Context, s *Session) error {
	return ToneHz(ctx, s, DefaultToneHz)
}

// ToneHz sends a continuous tone of hz (1-3999, whole Hz) until ctx ends
// or the media ends.
func ToneHz(ctx context.Context, s *Session, hz int) error {
	if hz <= 0 || hz >= player.SampleRate/2 {
		return fmt.Errorf("apps: tone of %d Hz out of range 1-3999", hz)
	}
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.release()
	frames, err := player.Frames(toneLoop(hz), s.Codec())
	if err != nil {
		return err
	}
	_, err = s.send(ctx, frames, s.Codec(), true, nil)
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	return err
}

// toneLoop returns the shortest whole number of frames holding a whole
// number of periods of hz, so that looping it is seamless: hz*k*160/8000
// cycles in k frames is whole for k = 50/gcd(hz, 50).
func toneLoop(hz int) []int16 {
	k := 50 / gcd(hz, 50)
	pcm := make([]int16, k*player.FrameSamples)
	for i := range pcm {
		pcm[i] = int16(math.Round(player.ToneLevel * math.Sin(2*math.Pi*float64(hz)*float64(i)/player.SampleRate)))
	}
	return pcm
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// playPrompt plays p in the session's codec; see send.
func (s *Session) playPrompt(ctx context.Context, p *player.Prompt, on onPacket) (bool, error) {
	if p == nil {
		return false, nil
	}
	pt := s.Codec()
	frames, err := p.Frames(pt)
	if err != nil {
		pt = g711.PTPCMU
		frames, _ = p.Frames(pt)
	}
	return s.send(ctx, frames, pt, false, on)
}

// send is the paced sender: one frame every 20 ms on the session's
// drift-free schedule (clock.go),
// looping forever when loop is set. Received packets are consumed while it
// plays and passed to on (if any); on returning true stops the playback and
// send returns true. It returns ctx.Err() when ctx ends, an ErrMediaEnded
// error when the media ends, and write errors.
func (s *Session) send(ctx context.Context, frames [][]byte, pt uint8, loop bool, on onPacket) (bool, error) {
	if len(frames) == 0 {
		return false, nil
	}
	pc := s.clock()
	for i := 0; ; {
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-s.done:
			return false, s.ended()
		case p := <-s.pkts:
			if on != nil && on(&p) {
				return true, nil
			}
		case <-pc.C():
			if err := s.write(frames[i], pt); err != nil {
				return false, err
			}
			pc.Next()
			if i++; i == len(frames) {
				if !loop {
					return false, nil
				}
				i = 0
			}
		}
	}
}
