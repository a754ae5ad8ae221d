package wav

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func ramp(n int) []int16 {
	s := make([]int16, n)
	for i := range s {
		s[i] = int16(i*37 - 20000)
	}
	return s
}

func readFile(t *testing.T, path string) ([]int16, Format) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s, fm, err := ReadPCM(f)
	if err != nil {
		t.Fatalf("ReadPCM(%s): %v", path, err)
	}
	return s, fm
}

func headerSizes(t *testing.T, path string) (riff, data uint32, fileSize int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < headerSize {
		t.Fatalf("file %d bytes", len(b))
	}
	return binary.LittleEndian.Uint32(b[4:]), binary.LittleEndian.Uint32(b[40:]), int64(len(b))
}

func TestWriterRoundTrip(t *testing.T) {
	tests := []struct {
		name   string
		format Format
		n      int
	}{
		{"mono", Mono8k, 8000*2 + 123},
		{"stereo", Stereo8k, 2 * (8000*3 + 7)},
		{"empty mono", Mono8k, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "x.wav")
			w, err := Create(path, tt.format)
			if err != nil {
				t.Fatal(err)
			}
			want := ramp(tt.n)
			// write in 20 ms frames like the recorder does
			for i := 0; i < len(want); i += 160 * tt.format.Channels {
				if err := w.WriteSamples(want[i:min(i+160*tt.format.Channels, len(want))]); err != nil {
					t.Fatal(err)
				}
			}
			if got := w.Frames(); got != int64(tt.n/tt.format.Channels) {
				t.Fatalf("Frames = %d, want %d", got, tt.n/tt.format.Channels)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
			got, fm := readFile(t, path)
			if fm != tt.format {
				t.Fatalf("format %+v, want %+v", fm, tt.format)
			}
			if !equal(got, want) {
				t.Fatalf("samples differ: got %d, want %d", len(got), len(want))
			}
			riff, data, size := headerSizes(t, path)
			if int64(riff) != size-8 || int64(data) != size-headerSize {
				t.Fatalf("riff %d data %d for file size %d", riff, data, size)
			}
		})
	}
}

func TestWriterRejects(t *testing.T) {
	dir := t.TempDir()
	bad := []Format{
		{AudioFormat: FormatPCM, Channels: 3, SampleRate: 8000, BitsPerSample: 16},
		{AudioFormat: FormatPCM, Channels: 1, SampleRate: 8000, BitsPerSample: 8},
		{AudioFormat: FormatULaw, Channels: 1, SampleRate: 8000, BitsPerSample: 8},
		{AudioFormat: FormatPCM, Channels: 1, SampleRate: 0, BitsPerSample: 16},
	}
	for _, f := range bad {
		t.Run(f.String(), func(t *testing.T) {
			if _, err := Create(filepath.Join(dir, "x.wav"), f); !errors.Is(err, ErrFormat) {
				t.Fatalf("err = %v, want ErrFormat", err)
			}
		})
	}
	w, err := Create(filepath.Join(dir, "s.wav"), Stereo8k)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.WriteSamples(make([]int16, 3)); err == nil {
		t.Fatal("odd sample count on stereo accepted")
	}
}

// TestHeaderValidWhileGrowing checks that, without Close, the header on
// disk counts the audio up to the last whole second written.
func TestHeaderValidWhileGrowing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "grow.wav")
	w, err := Create(path, Stereo8k)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	frame := make([]int16, 320) // 20 ms stereo
	for i := range frame {
		frame[i] = int16(i + 1)
	}
	for i := 0; i < 50*2+25; i++ { // 2.5 s
		if err := w.WriteSamples(frame); err != nil {
			t.Fatal(err)
		}
	}
	riff, data, size := headerSizes(t, path)
	if data != 2*32000 {
		t.Fatalf("data size on disk %d, want %d (2 s)", data, 2*32000)
	}
	if riff != data+36 {
		t.Fatalf("riff %d, data %d", riff, data)
	}
	if size < int64(data)+headerSize {
		t.Fatalf("header claims %d bytes but file is %d", data, size)
	}
	got, _ := readFile(t, path)
	if len(got) != int(data)/2 || got[0] != 1 || got[len(got)-1] != 320 {
		t.Fatalf("read %d samples while growing", len(got))
	}
}

func TestWriteSilence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.wav")
	w, err := Create(path, Stereo8k)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteSamples([]int16{5, 6}); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteSilence(3000); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteSamples([]int16{7, 8}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, _ := readFile(t, path)
	if len(got) != 2*3002 || got[0] != 5 || got[1] != 6 || got[len(got)-2] != 7 || got[len(got)-1] != 8 {
		t.Fatalf("got %d samples, ends %v %v", len(got), got[:2], got[len(got)-2:])
	}
	for _, v := range got[2 : len(got)-2] {
		if v != 0 {
			t.Fatal("silence not zero")
		}
	}
	if err := w.WriteSamples([]int16{1, 2}); err == nil {
		t.Fatal("write after close accepted")
	}
}

// crashFile leaves a file as a killed process would: samples flushed to the
// file but the header only counting the last sync.
func crashFile(t *testing.T, path string, frames int, extraBytes int) {
	t.Helper()
	w, err := Create(path, Stereo8k)
	if err != nil {
		t.Fatal(err)
	}
	s := ramp(2 * frames)
	if err := w.WriteSamples(s); err != nil {
		t.Fatal(err)
	}
	if err := w.bw.Flush(); err != nil { // data reached the file, header not updated
		t.Fatal(err)
	}
	if _, err := w.f.Write(make([]byte, extraBytes)); err != nil {
		t.Fatal(err)
	}
	w.f.Close() // no header rewrite: simulated kill
}

func TestRepair(t *testing.T) {
	tests := []struct {
		name       string
		frames     int
		extra      int
		wantFrames int
	}{
		{"whole frames", 8000 + 4000, 0, 12000},
		{"partial trailing frame", 8000 + 10, 3, 8010},
		{"under one second", 100, 0, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "crash.wav")
			crashFile(t, path, tt.frames, tt.extra)
			if err := Repair(path); err != nil {
				t.Fatal(err)
			}
			riff, data, size := headerSizes(t, path)
			if int(data) != tt.wantFrames*4 || int64(riff) != size-8 || size != int64(data)+headerSize {
				t.Fatalf("after repair riff %d data %d size %d", riff, data, size)
			}
			got, _ := readFile(t, path)
			if !equal(got, ramp(2 * tt.frames)[:2*tt.wantFrames]) {
				t.Fatal("samples changed by repair")
			}
		})
	}
}

func TestRepairLeavesGoodFileAlone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ok.wav")
	// A closed file with a trailing LIST chunk after data must not be cut.
	var b bytes.Buffer
	h := header(Mono8k, 4)
	b.Write(h[:])
	b.Write([]byte{1, 0, 2, 0})
	b.WriteString("LIST")
	b.Write([]byte{4, 0, 0, 0, 'I', 'N', 'F', 'O'})
	raw := b.Bytes()
	binary.LittleEndian.PutUint32(raw[4:], uint32(len(raw)-8))
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Repair(path); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(after, raw) {
		t.Fatal("repair modified a valid file")
	}
	got, _ := readFile(t, path)
	if !equal(got, []int16{1, 2}) {
		t.Fatalf("got %v", got)
	}
}

func TestRepairErrors(t *testing.T) {
	dir := t.TempDir()
	notWav := filepath.Join(dir, "x.wav")
	os.WriteFile(notWav, []byte("hello world, not a wav file at all........."), 0o644)
	if err := Repair(notWav); !errors.Is(err, ErrFormat) {
		t.Fatalf("err = %v", err)
	}
	if err := Repair(filepath.Join(dir, "missing.wav")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v", err)
	}
}

func TestLoadPrompt(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "welcome.wav")
	w, err := Create(good, Mono8k)
	if err != nil {
		t.Fatal(err)
	}
	w.WriteSamples(ramp(800))
	w.Close()
	s, err := LoadPrompt(good)
	if err != nil || !equal(s, ramp(800)) {
		t.Fatalf("LoadPrompt: %d samples, %v", len(s), err)
	}

	empty := filepath.Join(dir, "empty.wav")
	w, _ = Create(empty, Mono8k)
	w.Close()

	tests := []struct {
		name string
		path string
		want string
	}{
		{"stereo 44.1k", "testdata/stereo44k.wav", "prompt testdata/stereo44k.wav: 44100 Hz stereo 16-bit PCM, want 8000 Hz mono 16-bit PCM"},
		{"8 bit", "testdata/mono8k_8bit.wav", "prompt testdata/mono8k_8bit.wav: 8000 Hz mono 8-bit PCM, want 8000 Hz mono 16-bit PCM"},
		{"empty", empty, "no audio"},
		{"missing", filepath.Join(dir, "nope.wav"), "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadPrompt(tt.path)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
	if _, err := LoadPrompt("testdata/stereo44k.wav"); !errors.Is(err, ErrFormat) {
		t.Fatal("format error does not match ErrFormat")
	}
	if s, err := LoadPrompt("testdata/mono8k.wav"); err != nil || len(s) != 40 {
		t.Fatalf("python-written prompt: %d samples, %v", len(s), err)
	}
}

func equal(a, b []int16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
