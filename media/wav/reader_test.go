package wav

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"testing"

	"luapbx/media/g711"
)

// build assembles a RIFF file from chunks (id, payload); pad bytes are
// added for odd payloads. dataSize overrides the data chunk's size field
// when >= 0.
type chunk struct {
	id      string
	payload []byte
}

func build(chunks []chunk, dataSize int64) []byte {
	var b bytes.Buffer
	b.WriteString("RIFF\x00\x00\x00\x00WAVE")
	for _, c := range chunks {
		b.WriteString(c.id)
		size := uint32(len(c.payload))
		if c.id == "data" && dataSize >= 0 {
			size = uint32(dataSize)
		}
		binary.Write(&b, binary.LittleEndian, size)
		b.Write(c.payload)
		if len(c.payload)%2 == 1 {
			b.WriteByte(0)
		}
	}
	raw := b.Bytes()
	binary.LittleEndian.PutUint32(raw[4:], uint32(len(raw)-8))
	return raw
}

func fmtChunk(tag uint16, ch, rate, bits int) chunk {
	p := make([]byte, 16)
	le := binary.LittleEndian
	le.PutUint16(p[0:], tag)
	le.PutUint16(p[2:], uint16(ch))
	le.PutUint32(p[4:], uint32(rate))
	le.PutUint32(p[8:], uint32(rate*ch*bits/8))
	le.PutUint16(p[12:], uint16(ch*bits/8))
	le.PutUint16(p[14:], uint16(bits))
	return chunk{"fmt ", p}
}

func extensibleChunk(sub uint16, ch, rate, bits int) chunk {
	c := fmtChunk(FormatExtensible, ch, rate, bits)
	ext := make([]byte, 24)
	binary.LittleEndian.PutUint16(ext[0:], 22)
	binary.LittleEndian.PutUint16(ext[8:], sub)
	c.payload = append(c.payload, ext...)
	return c
}

func pcm16(s ...int16) []byte {
	b := make([]byte, 2*len(s))
	for i, v := range s {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(v))
	}
	return b
}

func TestReadPCM(t *testing.T) {
	ulaw := []byte{0xFF, 0x80, 0x00, 0x7E}
	alaw := []byte{0xD5, 0xAA, 0x2A}
	tests := []struct {
		name   string
		file   []byte
		format Format
		want   []int16
	}{
		{"pcm16 mono", build([]chunk{fmtChunk(1, 1, 8000, 16), {"data", pcm16(1, -2, 3)}}, -1), Mono8k, []int16{1, -2, 3}},
		{"odd chunk before data", build([]chunk{fmtChunk(1, 1, 8000, 16), {"junk", []byte{9, 9, 9}}, {"data", pcm16(7, 8)}}, -1), Mono8k, []int16{7, 8}},
		{"trailing chunk ignored", build([]chunk{fmtChunk(1, 1, 8000, 16), {"data", pcm16(7, 8)}, {"LIST", []byte("INFOabcd")}}, -1), Mono8k, []int16{7, 8}},
		{"size zero reads to EOF", build([]chunk{fmtChunk(1, 1, 8000, 16), {"data", pcm16(4, 5, 6)}}, 0), Mono8k, []int16{4, 5, 6}},
		{"size past EOF", build([]chunk{fmtChunk(1, 1, 8000, 16), {"data", pcm16(4, 5)}}, 1000), Mono8k, []int16{4, 5}},
		{"partial frame dropped", build([]chunk{fmtChunk(1, 2, 8000, 16), {"data", pcm16(1, 2, 3)}}, -1), Stereo8k, []int16{1, 2}},
		{"8-bit unsigned", build([]chunk{fmtChunk(1, 1, 8000, 8), {"data", []byte{128, 255, 0}}}, -1),
			Format{FormatPCM, 1, 8000, 8}, []int16{0, 127 << 8, -128 << 8}},
		{"u-law", build([]chunk{fmtChunk(7, 1, 8000, 8), {"data", ulaw}}, -1),
			Format{FormatULaw, 1, 8000, 8}, decodeAll(g711.DecodeUlaw, ulaw)},
		{"a-law", build([]chunk{fmtChunk(6, 1, 8000, 8), {"data", alaw}}, -1),
			Format{FormatALaw, 1, 8000, 8}, decodeAll(g711.DecodeAlaw, alaw)},
		{"extensible pcm", build([]chunk{extensibleChunk(1, 2, 8000, 16), {"data", pcm16(1, 2, 3, 4)}}, -1), Stereo8k, []int16{1, 2, 3, 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, fm, err := ReadPCM(bytes.NewReader(tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if fm != tt.format {
				t.Fatalf("format %v, want %v", fm, tt.format)
			}
			if !equal(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestReadPCMNonSeeker(t *testing.T) {
	file := build([]chunk{fmtChunk(1, 1, 8000, 16), {"junk", make([]byte, 101)}, {"data", pcm16(7, 8)}}, -1)
	got, _, err := ReadPCM(struct{ *bytes.Reader }{bytes.NewReader(file)}) // hides Seek
	if err != nil || !equal(got, []int16{7, 8}) {
		t.Fatalf("got %v, %v", got, err)
	}
}

func TestReadPCMErrors(t *testing.T) {
	short := fmtChunk(1, 1, 8000, 16)
	short.payload = short.payload[:12]
	tests := []struct {
		name string
		file []byte
	}{
		{"empty", nil},
		{"not riff", []byte("RIFX\x00\x00\x00\x00WAVEfmt ")},
		{"not wave", []byte("RIFF\x00\x00\x00\x00AVI fmt ")},
		{"no data", build([]chunk{fmtChunk(1, 1, 8000, 16)}, -1)},
		{"data before fmt", build([]chunk{{"data", pcm16(1)}, fmtChunk(1, 1, 8000, 16)}, -1)},
		{"short fmt", build([]chunk{short, {"data", pcm16(1)}}, -1)},
		{"zero channels", build([]chunk{fmtChunk(1, 0, 8000, 16), {"data", pcm16(1)}}, -1)},
		{"24-bit", build([]chunk{fmtChunk(1, 1, 8000, 24), {"data", []byte{1, 2, 3}}}, -1)},
		{"float", build([]chunk{fmtChunk(3, 1, 8000, 32), {"data", []byte{1, 2, 3, 4}}}, -1)},
		{"truncated chunk", build([]chunk{fmtChunk(1, 1, 8000, 16)}, -1)[:30]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := ReadPCM(bytes.NewReader(tt.file))
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("err = %v, want ErrFormat", err)
			}
		})
	}
}

func decodeAll(dec func(byte) int16, b []byte) []int16 {
	out := make([]int16, len(b))
	for i, v := range b {
		out[i] = dec(v)
	}
	return out
}

func FuzzReadPCM(f *testing.F) {
	for _, name := range []string{"testdata/mono8k.wav", "testdata/stereo44k.wav", "testdata/mono8k_8bit.wav"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(build([]chunk{extensibleChunk(7, 1, 8000, 8), {"junk", []byte{1}}, {"data", []byte{1, 2, 3}}}, 0))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, fm, err := ReadPCM(bytes.NewReader(b))
		if err != nil {
			if s != nil {
				t.Fatal("samples returned with an error")
			}
			return
		}
		if fm.Channels <= 0 || len(s)%fm.Channels != 0 {
			t.Fatalf("%d samples for %d channels", len(s), fm.Channels)
		}
		if len(s) > len(b) {
			t.Fatalf("%d samples from %d bytes", len(s), len(b))
		}
	})
}
