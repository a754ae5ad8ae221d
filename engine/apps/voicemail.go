package apps

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"luapbx/media/g711"
	"luapbx/media/player"
	"luapbx/media/recorder"
)

// Voicemail defaults.
const (
	DefaultMaxLength = 120 * time.Second
	// MinMessageAudio is the least caller audio (received G.711, not
	// silence padding) a message must hold to be kept: shorter ones are a
	// hang-up right after the beep and are deleted.
	MinMessageAudio = 500 * time.Millisecond
)

// ErrNoMessage is returned by Voicemail when there is nothing to keep: the
// caller hung up before the beep, or left less than MinMessageAudio.
var ErrNoMessage = errors.New("apps: voicemail: no message left")

// Why a recording stopped (Message.Reason).
const (
	StopHangup    = "hangup"     // ctx ended
	StopHash      = "hash"       // the caller pressed #
	StopMaxLength = "max_length" // MaxLength reached
	StopMediaEnd  = "media_end"  // the media ended (rtp timeout, closed)
)

// VoicemailConfig is one mailbox's recording.
type VoicemailConfig struct {
	Greeting  *player.Prompt // optional; any digit skips it
	Beep      *player.Prompt // played before recording; nil plays player.Beep()
	Dir       string         // storage.voicemail/<extension>; created if missing
	MaxLength time.Duration  // default 120 s
	CallID    string
	From      string
	To        string
	Extension string
	// Now names the file and stamps Start (default time.Now). The
	// recording's own timeline is the caller's RTP timestamps.
	Now func() time.Time
}

// Message is a voicemail left: what the `voicemail.new` event carries. It
// is also the sidecar's content.
type Message struct {
	Path            string        `json:"path"`
	JSONPath        string        `json:"-"`
	Duration        time.Duration `json:"-"`
	DurationSeconds float64       `json:"duration_seconds"`
	Start           time.Time     `json:"start"`
	CallID          string        `json:"call_id"`
	From            string        `json:"from"`
	To              string        `json:"to"`
	Extension       string        `json:"extension"`
	Reason          string        `json:"reason"`
}

var defaultBeep = player.NewPrompt("beep", player.Beep())

// Voicemail plays the greeting (if any) and the beep, then records the
// caller into a mono 8 kHz 16-bit WAV until ctx ends (hang-up), the caller
// presses #, MaxLength of audio is recorded or the media ends; the caller
// hears silence meanwhile. The audio is laid out by RTP timestamps (see
// vmWriter), silence for lost packets included, and the message is aligned
// to time (see record): its Duration runs from the beep to the stop. The file is
// Dir/<UTC timestamp>-<call-id>.wav with a .json sidecar (the Message).
// A hang-up ends a message normally (nil error). Nothing to keep returns
// ErrNoMessage and leaves no file.
func Voicemail(ctx context.Context, s *Session, cfg VoicemailConfig) (Message, error) {
	if cfg.Dir == "" {
		return Message{}, errors.New("apps: voicemail: no directory")
	}
	if err := s.acquire(); err != nil {
		return Message{}, err
	}
	defer s.release()
	if cfg.MaxLength <= 0 {
		cfg.MaxLength = DefaultMaxLength
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Beep == nil {
		cfg.Beep = defaultBeep
	}
	// The Session's logger carries the call (call_id).
	log := s.log.With("extension", cfg.Extension)
	s.flush()
	skip := func(p *Packet) bool { return p.Digit != 0 }
	if _, err := s.playPrompt(ctx, cfg.Greeting, skip); err != nil {
		return Message{}, noMessage(log, err)
	}
	if _, err := s.playPrompt(ctx, cfg.Beep, nil); err != nil {
		return Message{}, noMessage(log, err)
	}
	msg := Message{Start: cfg.Now(), CallID: cfg.CallID, From: cfg.From, To: cfg.To, Extension: cfg.Extension}
	msg.Path = filepath.Join(cfg.Dir, msg.Start.UTC().Format("20060102T150405Z")+"-"+recorder.SafeName(cfg.CallID)+".wav")
	vw, err := newVMWriter(msg.Path, int64(cfg.MaxLength)*player.SampleRate/int64(time.Second))
	if err != nil {
		return Message{}, fmt.Errorf("apps: voicemail: %w", err)
	}
	s.flush()
	reason, err := s.record(ctx, vw, cfg.MaxLength)
	return keep(log, msg, vw, reason, stopCause(ctx, s, reason), err)
}

// keep closes the file and keeps it with its sidecar, or deletes it when
// writing failed or it holds too little audio.
func keep(log *slog.Logger, msg Message, vw *vmWriter, reason string, cause, err error) (Message, error) {
	if cerr := vw.close(); err == nil && cerr != nil {
		err = fmt.Errorf("apps: voicemail: %w", cerr)
	}
	if err != nil {
		log.Error("voicemail: write failed", "path", msg.Path, "error", err)
		_ = os.Remove(msg.Path)
		return Message{}, err
	}
	if audio := samplesDuration(vw.received); audio < MinMessageAudio {
		log.Info("voicemail discarded: too short, no message left", "audio_ms", audio.Milliseconds(),
			"min_ms", MinMessageAudio.Milliseconds(), "reason", reason, "path", msg.Path)
		if err := os.Remove(msg.Path); err != nil {
			log.Warn("voicemail: remove short message", "path", msg.Path, "error", err)
		}
		if cause != nil {
			return Message{}, fmt.Errorf("%w: %w", ErrNoMessage, cause)
		}
		return Message{}, ErrNoMessage
	}
	dur := samplesDuration(vw.written)
	msg.Duration, msg.DurationSeconds, msg.Reason = dur, dur.Seconds(), reason
	msg.JSONPath = SidecarPath(msg.Path)
	if err := WriteSidecar(msg.Path, msg); err != nil {
		return msg, fmt.Errorf("apps: voicemail: %w", err)
	}
	log.Info("voicemail left", "path", msg.Path, "duration_ms", dur.Milliseconds(), "reason", reason)
	return msg, nil
}

// noMessage maps an end before the beep finished to ErrNoMessage (a
// normal outcome: the caller hung up, logged at INFO).
func noMessage(log *slog.Logger, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrMediaEnded) {
		log.Info("voicemail: caller left before the beep, no message left", "error", err)
		return fmt.Errorf("%w: %w", ErrNoMessage, err)
	}
	return err
}

// stopCause is what a message too short to keep wraps with ErrNoMessage,
// so that callers see a hang-up (the context's error) or the media ending
// as the normal end it is; nil for "#" and the length limit.
func stopCause(ctx context.Context, s *Session, reason string) error {
	switch reason {
	case StopHangup:
		return ctx.Err()
	case StopMediaEnd:
		return s.ended()
	}
	return nil
}

// maxLengthSlack lets the sample count, not the wall clock, end a message
// at MaxLength while the caller sends audio; the clock ends it for a
// caller who sends nothing.
const maxLengthSlack = 500 * time.Millisecond

// record writes the caller's audio until a stop condition and returns why
// it stopped; an error is a failed write. The caller hears silence
// meanwhile. The message is aligned to time, as the call recorder is: it
// starts when recording starts (a caller silent at first gets leading
// silence) and ends when recording stopped (hang-up, "#", MaxLength),
// however much audio the phone sent; between, the caller's RTP timestamps
// place the audio. When the media ends (rtp_timeout) it ends at the last
// audio: the silent wait for the timeout is not the caller's.
func (s *Session) record(ctx context.Context, vw *vmWriter, maxLen time.Duration) (string, error) {
	start := time.Now()
	limit := time.NewTimer(maxLen + maxLengthSlack)
	defer limit.Stop()
	pc := s.clock()
	for {
		select {
		case <-ctx.Done():
			return StopHangup, vw.padTo(samplesSince(start, time.Now()))
		case <-s.done:
			if ctx.Err() != nil {
				// Run saw the same hang-up first.
				return StopHangup, vw.padTo(samplesSince(start, time.Now()))
			}
			return StopMediaEnd, nil
		case <-limit.C:
			return StopMaxLength, vw.padTo(vw.limit)
		case <-pc.C():
			if err := s.silence(pc); err != nil {
				if errors.Is(err, ErrMediaEnded) {
					continue // the reader reports the end (s.done)
				}
				return "", err
			}
		case p := <-s.pkts:
			switch {
			case p.Digit == '#':
				return StopHash, vw.padTo(samplesSince(start, p.At))
			case !p.Event && (p.PT == g711.PTPCMU || p.PT == g711.PTPCMA):
				if !vw.started {
					// The caller's first audio: silence before it.
					if err := vw.padTo(samplesSince(start, p.At) - int64(p.n)); err != nil {
						return "", err
					}
				}
				full, err := vw.write(&p)
				if err != nil {
					return "", err
				}
				if full {
					return StopMaxLength, nil
				}
			}
		}
	}
}

// samplesSince is the number of 8 kHz samples from start to t (0 if t is
// before start or unset).
func samplesSince(start, t time.Time) int64 {
	if t.Before(start) {
		return 0
	}
	return int64(t.Sub(start) * player.SampleRate / time.Second)
}

func samplesDuration(n int64) time.Duration {
	return time.Duration(n) * time.Second / player.SampleRate
}
