package wav

import (
	"encoding/binary"
	"fmt"
	"io"
)

// header returns the canonical 44-byte header for f with dataBytes of data.
func header(f Format, dataBytes uint32) [headerSize]byte {
	var h [headerSize]byte
	le := binary.LittleEndian
	copy(h[0:4], "RIFF")
	le.PutUint32(h[4:8], riffSize(dataBytes))
	copy(h[8:12], "WAVE")
	copy(h[12:16], "fmt ")
	le.PutUint32(h[16:20], 16)
	le.PutUint16(h[20:22], f.AudioFormat)
	le.PutUint16(h[22:24], uint16(f.Channels))
	le.PutUint32(h[24:28], uint32(f.SampleRate))
	le.PutUint32(h[28:32], uint32(f.ByteRate()))
	le.PutUint16(h[32:34], uint16(f.BlockAlign()))
	le.PutUint16(h[34:36], uint16(f.BitsPerSample))
	copy(h[36:40], "data")
	le.PutUint32(h[40:44], dataBytes)
	return h
}

func riffSize(dataBytes uint32) uint32 {
	return headerSize - 8 + dataBytes + dataBytes&1
}

// layout is what parsing a header finds: the format, where the data chunk's
// payload starts and how long its header says it is.
type layout struct {
	format      Format
	dataOffset  int64  // offset of the first sample byte
	dataSize    uint32 // size field of the data chunk, as written
	sizeFieldAt int64  // offset of the data chunk's size field
	riffSize    uint32 // size field of the RIFF header, as written
}

// maxChunksBeforeData bounds the chunk walk on hostile input.
const maxChunksBeforeData = 64

// parseHeader reads the RIFF header and chunks up to and including the data
// chunk header, leaving r positioned at the first sample byte.
func parseHeader(r io.Reader) (layout, error) {
	var l layout
	var riff [12]byte
	if _, err := io.ReadFull(r, riff[:]); err != nil {
		return l, fmt.Errorf("%w: short RIFF header: %w", ErrFormat, err)
	}
	if string(riff[0:4]) != "RIFF" || string(riff[8:12]) != "WAVE" {
		return l, fmt.Errorf("%w: not a RIFF/WAVE file", ErrFormat)
	}
	l.riffSize = binary.LittleEndian.Uint32(riff[4:8])
	off := int64(12)
	haveFmt := false
	for range maxChunksBeforeData {
		var ch [8]byte
		if _, err := io.ReadFull(r, ch[:]); err != nil {
			return l, fmt.Errorf("%w: no data chunk: %w", ErrFormat, err)
		}
		id, size := string(ch[0:4]), binary.LittleEndian.Uint32(ch[4:8])
		off += 8
		switch id {
		case "fmt ":
			f, err := parseFmt(r, size)
			if err != nil {
				return l, err
			}
			l.format, haveFmt = f, true
		case "data":
			if !haveFmt {
				return l, fmt.Errorf("%w: data chunk before fmt chunk", ErrFormat)
			}
			l.dataOffset, l.dataSize, l.sizeFieldAt = off, size, off-4
			return l, nil
		default:
			if err := skip(r, int64(size)+int64(size&1)); err != nil {
				return l, fmt.Errorf("%w: chunk %q: %w", ErrFormat, sanitize(id), err)
			}
		}
		off += int64(size) + int64(size&1)
	}
	return l, fmt.Errorf("%w: too many chunks before data", ErrFormat)
}

// parseFmt decodes a fmt chunk of the given size (r is at its payload) and
// consumes it, including the pad byte.
func parseFmt(r io.Reader, size uint32) (Format, error) {
	var f Format
	if size < 16 || size > 1024 {
		return f, fmt.Errorf("%w: fmt chunk size %d", ErrFormat, size)
	}
	buf := make([]byte, int(size)+int(size&1))
	if _, err := io.ReadFull(r, buf); err != nil {
		return f, fmt.Errorf("%w: short fmt chunk: %w", ErrFormat, err)
	}
	le := binary.LittleEndian
	f.AudioFormat = le.Uint16(buf[0:2])
	f.Channels = int(le.Uint16(buf[2:4]))
	f.SampleRate = int(le.Uint32(buf[4:8]))
	f.BitsPerSample = int(le.Uint16(buf[14:16]))
	if f.AudioFormat == FormatExtensible && size >= 40 {
		// WAVEFORMATEXTENSIBLE: the sub-format GUID starts at byte 24;
		// its first two bytes are the plain format tag.
		f.AudioFormat = le.Uint16(buf[24:26])
	}
	if f.Channels == 0 || f.SampleRate == 0 || f.BitsPerSample == 0 {
		return f, fmt.Errorf("%w: fmt chunk has zero channels, rate or sample size", ErrFormat)
	}
	return f, nil
}

func skip(r io.Reader, n int64) error {
	if s, ok := r.(io.Seeker); ok {
		_, err := s.Seek(n, io.SeekCurrent)
		return err
	}
	got, err := io.CopyN(io.Discard, r, n)
	if err == io.EOF && got < n {
		return io.ErrUnexpectedEOF
	}
	return err
}

// sanitize keeps chunk ids printable in error messages.
func sanitize(id string) string {
	b := []byte(id)
	for i, c := range b {
		if c < 0x20 || c > 0x7E {
			b[i] = '?'
		}
	}
	return string(b)
}
