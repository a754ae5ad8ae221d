// Package player turns prompts and tones into the 20 ms G.711 frames a
// call sends. Prompts are encoded once when loaded and shared read-only by
// every call that plays them; the sender paces the frames (one every
// FrameDuration) and owns RTP sequence numbers and timestamps.
package player

import (
	"fmt"
	"time"

	"luapbx/media/g711"
	"luapbx/media/wav"
)

// Frame geometry: 20 ms of 8 kHz audio, one byte per G.711 sample.
const (
	SampleRate    = 8000
	FrameSamples  = 160
	FrameDuration = 20 * time.Millisecond
)

// Prompt is a loaded prompt: 8 kHz mono PCM and its G.711 frames for both
// laws. It is immutable after Load; share it between calls.
type Prompt struct {
	Name string
	PCM  []int16
	pcmu [][]byte
	pcma [][]byte
}

// Load reads an 8 kHz mono 16-bit PCM WAV (anything else is an error
// naming the file) and encodes it for both laws.
func Load(path string) (*Prompt, error) {
	pcm, err := wav.LoadPrompt(path)
	if err != nil {
		return nil, err
	}
	return NewPrompt(path, pcm), nil
}

// NewPrompt wraps PCM samples (8 kHz mono) as a prompt, e.g. a tone.
func NewPrompt(name string, pcm []int16) *Prompt {
	u, _ := Frames(pcm, g711.PTPCMU)
	a, _ := Frames(pcm, g711.PTPCMA)
	return &Prompt{Name: name, PCM: pcm, pcmu: u, pcma: a}
}

// Frames returns the prompt's frames for payload type pt (PCMU or PCMA).
// The frames must not be modified.
func (p *Prompt) Frames(pt uint8) ([][]byte, error) {
	switch pt {
	case g711.PTPCMU:
		return p.pcmu, nil
	case g711.PTPCMA:
		return p.pcma, nil
	}
	return nil, fmt.Errorf("player: payload type %d is not G.711", pt)
}

// Duration is the prompt's playing time (whole frames).
func (p *Prompt) Duration() time.Duration {
	return time.Duration(len(p.pcmu)) * FrameDuration
}

// Frames encodes 8 kHz PCM into 20 ms frames of payload type pt (0 PCMU,
// 8 PCMA). The last frame is padded with silence. All frames share one
// backing array.
func Frames(pcm []int16, pt uint8) ([][]byte, error) {
	var enc func(dst []byte, src []int16)
	var silence byte
	switch pt {
	case g711.PTPCMU:
		enc, silence = g711.EncodeUlawFrom, g711.SilenceUlaw
	case g711.PTPCMA:
		enc, silence = g711.EncodeAlawFrom, g711.SilenceAlaw
	default:
		return nil, fmt.Errorf("player: payload type %d is not G.711", pt)
	}
	n := (len(pcm) + FrameSamples - 1) / FrameSamples
	buf := make([]byte, n*FrameSamples)
	enc(buf, pcm)
	for i := len(pcm); i < len(buf); i++ {
		buf[i] = silence
	}
	frames := make([][]byte, n)
	for i := range frames {
		frames[i] = buf[i*FrameSamples : (i+1)*FrameSamples : (i+1)*FrameSamples]
	}
	return frames, nil
}
