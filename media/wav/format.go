// Package wav reads and writes RIFF/WAVE files of 16-bit linear PCM, the
// format luapbx uses for prompts, recordings and voicemail.
//
// The Writer keeps the header valid while the file grows: it rewrites the
// RIFF and data chunk sizes about once per second of audio and on Close, so
// a process killed in the middle of a call leaves a file that plays (at
// most the last second is missing from the header's count; Repair recovers
// it from the file size).
package wav

import (
	"errors"
	"fmt"
)

// WAVE format tags (the fmt chunk's audio format field).
const (
	FormatPCM        uint16 = 1
	FormatALaw       uint16 = 6
	FormatULaw       uint16 = 7
	FormatExtensible uint16 = 0xFFFE
)

// headerSize is the size of the canonical header the Writer produces:
// RIFF(12) + fmt chunk (8+16) + data chunk header (8).
const headerSize = 44

// MaxDataBytes bounds how much sample data the reader accepts (about
// 2.3 hours of 8 kHz stereo 16-bit audio); larger files are rejected
// instead of exhausting memory.
const MaxDataBytes = 1 << 28

// ErrFormat is wrapped by every error about a malformed or unsupported file.
var ErrFormat = errors.New("wav: bad format")

// Format describes the sample layout of a WAV file.
type Format struct {
	AudioFormat   uint16 // FormatPCM, FormatALaw, FormatULaw (extensible is resolved to its sub-format)
	Channels      int
	SampleRate    int
	BitsPerSample int
}

// Mono8k and Stereo8k are the formats luapbx writes.
var (
	Mono8k   = Format{AudioFormat: FormatPCM, Channels: 1, SampleRate: 8000, BitsPerSample: 16}
	Stereo8k = Format{AudioFormat: FormatPCM, Channels: 2, SampleRate: 8000, BitsPerSample: 16}
)

// BlockAlign is the size in bytes of one sample frame (all channels).
func (f Format) BlockAlign() int { return f.Channels * f.BitsPerSample / 8 }

// ByteRate is the number of data bytes per second of audio.
func (f Format) ByteRate() int { return f.SampleRate * f.BlockAlign() }

// String renders the format for messages, e.g. "44100 Hz stereo 16-bit PCM".
func (f Format) String() string {
	var ch string
	switch f.Channels {
	case 1:
		ch = "mono"
	case 2:
		ch = "stereo"
	default:
		ch = fmt.Sprintf("%d-channel", f.Channels)
	}
	var enc string
	switch f.AudioFormat {
	case FormatPCM:
		enc = fmt.Sprintf("%d-bit PCM", f.BitsPerSample)
	case FormatALaw:
		enc = "A-law"
	case FormatULaw:
		enc = "u-law"
	default:
		enc = fmt.Sprintf("format 0x%04x %d-bit", f.AudioFormat, f.BitsPerSample)
	}
	return fmt.Sprintf("%d Hz %s %s", f.SampleRate, ch, enc)
}

// validate checks that the writer can produce f.
func (f Format) validateForWrite() error {
	if f.AudioFormat != FormatPCM || f.BitsPerSample != 16 {
		return fmt.Errorf("%w: writer supports 16-bit PCM only, got %s", ErrFormat, f)
	}
	if f.Channels < 1 || f.Channels > 2 {
		return fmt.Errorf("%w: writer supports 1 or 2 channels, got %d", ErrFormat, f.Channels)
	}
	if f.SampleRate <= 0 || f.SampleRate > 192000 {
		return fmt.Errorf("%w: sample rate %d", ErrFormat, f.SampleRate)
	}
	return nil
}
