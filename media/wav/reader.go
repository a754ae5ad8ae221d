package wav

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"

	"luapbx/media/g711"
)

// ReadPCM reads a whole WAV stream and returns its samples as 16-bit
// linear PCM, interleaved when there is more than one channel. It accepts
// 8- and 16-bit PCM and G.711 A-law/u-law (expanded to 16 bits; the
// returned Format still describes the file). A data chunk whose size field
// is zero or runs past the end of the stream (a file left by a crash) is
// read to the end of the stream.
func ReadPCM(r io.Reader) ([]int16, Format, error) {
	l, err := parseHeader(r)
	if err != nil {
		return nil, Format{}, err
	}
	if err := checkDecodable(l.format); err != nil {
		return nil, l.format, err
	}
	data, err := readData(r, l.dataSize)
	if err != nil {
		return nil, l.format, err
	}
	return decode(l.format, data), l.format, nil
}

func checkDecodable(f Format) error {
	switch {
	case f.AudioFormat == FormatPCM && (f.BitsPerSample == 16 || f.BitsPerSample == 8):
	case (f.AudioFormat == FormatALaw || f.AudioFormat == FormatULaw) && f.BitsPerSample == 8:
	default:
		return fmt.Errorf("%w: unsupported encoding %s", ErrFormat, f)
	}
	if f.Channels > 8 {
		return fmt.Errorf("%w: %d channels", ErrFormat, f.Channels)
	}
	return nil
}

// readData reads the data chunk. A size of 0 or 0xFFFFFFFF (streamed or
// crashed writers) means "until EOF"; a size past EOF is truncated.
func readData(r io.Reader, size uint32) ([]byte, error) {
	limit := int64(size)
	if size == 0 || size == 0xFFFFFFFF || limit > MaxDataBytes {
		limit = MaxDataBytes
	}
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("wav: read data: %w", err)
	}
	if int64(len(data)) > limit {
		if limit == MaxDataBytes {
			return nil, fmt.Errorf("%w: more than %d bytes of audio", ErrFormat, MaxDataBytes)
		}
		data = data[:limit] // trailing chunks after data
	}
	return data, nil
}

func decode(f Format, data []byte) []int16 {
	bps := f.BitsPerSample / 8
	block := bps * f.Channels
	data = data[:len(data)/block*block] // drop a partial trailing frame
	out := make([]int16, len(data)/bps)
	switch {
	case f.AudioFormat == FormatULaw:
		g711.DecodeUlawTo(out, data)
	case f.AudioFormat == FormatALaw:
		g711.DecodeAlawTo(out, data)
	case bps == 1:
		for i, b := range data {
			out[i] = (int16(b) - 128) << 8
		}
	default:
		for i := range out {
			out[i] = int16(binary.LittleEndian.Uint16(data[2*i:]))
		}
	}
	return out
}

// LoadPrompt reads a prompt file, which must be 8000 Hz mono 16-bit PCM
// (the only format luapbx plays, so that nothing is resampled on a call).
// Any other format is an error naming the file and what it holds, e.g.
// "prompt welcome.wav: 44100 Hz stereo 16-bit PCM, want 8000 Hz mono
// 16-bit PCM".
func LoadPrompt(path string) ([]int16, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("prompt %s: %w", path, err)
	}
	defer f.Close()
	l, err := parseHeader(f)
	if err != nil {
		return nil, fmt.Errorf("prompt %s: %w", path, err)
	}
	if l.format != Mono8k {
		return nil, &formatError{fmt.Sprintf("prompt %s: %s, want %s", path, l.format, Mono8k)}
	}
	data, err := readData(f, l.dataSize)
	if err != nil {
		return nil, fmt.Errorf("prompt %s: %w", path, err)
	}
	s := decode(l.format, data)
	if len(s) == 0 {
		return nil, fmt.Errorf("prompt %s: %w: no audio", path, ErrFormat)
	}
	return s, nil
}

// formatError is an ErrFormat whose message reads well without the
// "wav: bad format" prefix (it ends up in `luapbx check` output).
type formatError struct{ msg string }

func (e *formatError) Error() string        { return e.msg }
func (e *formatError) Is(target error) bool { return target == ErrFormat }
