package player

import (
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"luapbx/media/correlate"
	"luapbx/media/g711"
	"luapbx/media/wav"
)

func TestFrames(t *testing.T) {
	pcm := correlate.TestSignal(1000, 1) // 6.25 frames
	tests := []struct {
		name    string
		pt      uint8
		dec     func([]int16, []byte)
		silence byte
	}{
		{"pcmu", g711.PTPCMU, g711.DecodeUlawTo, g711.SilenceUlaw},
		{"pcma", g711.PTPCMA, g711.DecodeAlawTo, g711.SilenceAlaw},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fr, err := Frames(pcm, tt.pt)
			if err != nil {
				t.Fatal(err)
			}
			if len(fr) != 7 {
				t.Fatalf("%d frames, want 7", len(fr))
			}
			var back []int16
			for _, f := range fr {
				if len(f) != FrameSamples || cap(f) != FrameSamples {
					t.Fatalf("frame len %d cap %d", len(f), cap(f))
				}
				s := make([]int16, len(f))
				tt.dec(s, f)
				back = append(back, s...)
			}
			for _, b := range fr[6][1000-960:] {
				if b != tt.silence {
					t.Fatalf("padding %#x, want silence %#x", b, tt.silence)
				}
			}
			if c := correlate.At(pcm, back[:1000], 0); c < 0.99 {
				t.Fatalf("decoded frames correlate %.3f with the source", c)
			}
		})
	}
	if _, err := Frames(pcm, 18); err == nil {
		t.Fatal("G.729 accepted")
	}
	if fr, err := Frames(nil, 0); err != nil || len(fr) != 0 {
		t.Fatalf("empty: %d frames, %v", len(fr), err)
	}
}

func TestLoadPrompt(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "p.wav")
	w, err := wav.Create(path, wav.Mono8k)
	if err != nil {
		t.Fatal(err)
	}
	src := correlate.TestSignal(8000, 2)
	w.WriteSamples(src)
	w.Close()
	p, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if p.Duration() != time.Second || len(p.PCM) != 8000 {
		t.Fatalf("duration %v, %d samples", p.Duration(), len(p.PCM))
	}
	u, err := p.Frames(g711.PTPCMU)
	if err != nil || len(u) != 50 || u[3][7] != g711.EncodeUlaw(src[3*160+7]) {
		t.Fatalf("pcmu frames: %d, %v", len(u), err)
	}
	a, err := p.Frames(g711.PTPCMA)
	if err != nil || len(a) != 50 || a[49][159] != g711.EncodeAlaw(src[7999]) {
		t.Fatalf("pcma frames: %d, %v", len(a), err)
	}
	if _, err := p.Frames(9); err == nil {
		t.Fatal("G.722 accepted")
	}

	stereo := filepath.Join(dir, "s.wav")
	w, _ = wav.Create(stereo, wav.Stereo8k)
	w.WriteSamples(make([]int16, 320))
	w.Close()
	if _, err := Load(stereo); err == nil || !strings.Contains(err.Error(), "stereo") {
		t.Fatalf("stereo prompt: %v", err)
	}
}

// power returns the signal's power at freq (Goertzel), relative to its
// total energy.
func power(s []int16, freq float64) float64 {
	k := 2 * math.Cos(2*math.Pi*freq/SampleRate)
	var s1, s2, total float64
	for _, v := range s {
		x := float64(v)
		s0 := x + k*s1 - s2
		s2, s1 = s1, s0
		total += x * x
	}
	p := s1*s1 + s2*s2 - k*s1*s2
	return p / (total * float64(len(s)) / 2)
}

func TestTone(t *testing.T) {
	tests := []struct {
		name  string
		freqs []float64
		in    []float64 // must be present
		out   []float64 // must be absent
	}{
		{"1 kHz", []float64{1000}, []float64{1000}, []float64{440, 2000}},
		{"dial tone", []float64{350, 440}, []float64{350, 440}, []float64{1000}},
		{"above nyquist dropped", []float64{440, 5000}, []float64{440}, []float64{3000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Tone(tt.freqs, 500*time.Millisecond)
			if len(s) != 4000 {
				t.Fatalf("%d samples", len(s))
			}
			peak := 0
			for _, v := range s {
				peak = max(peak, int(v), -int(v))
			}
			if peak > ToneLevel || peak < ToneLevel/2 {
				t.Fatalf("peak %d", peak)
			}
			if s[0] != 0 || s[len(s)-1] != 0 {
				t.Fatalf("no fade: ends %d %d", s[0], s[len(s)-1])
			}
			for _, f := range tt.in {
				if p := power(s, f); p < 0.3 {
					t.Fatalf("%v Hz power %.3f", f, p)
				}
			}
			for _, f := range tt.out {
				if p := power(s, f); p > 0.01 {
					t.Fatalf("%v Hz power %.3f", f, p)
				}
			}
		})
	}
	for _, s := range [][]int16{Tone(nil, time.Second), Tone([]float64{9000}, time.Second)} {
		for _, v := range s {
			if v != 0 {
				t.Fatal("silence expected")
			}
		}
	}
	if len(Tone([]float64{440}, -time.Second)) != 0 {
		t.Fatal("negative duration")
	}
}

func TestPatternAndBeep(t *testing.T) {
	p := Pattern(
		Segment{Freqs: []float64{1000}, Dur: 100 * time.Millisecond},
		Segment{Dur: 50 * time.Millisecond},
		Segment{Freqs: []float64{1000}, Dur: 100 * time.Millisecond},
	)
	if len(p) != 2000 {
		t.Fatalf("%d samples", len(p))
	}
	for _, v := range p[800:1200] {
		if v != 0 {
			t.Fatal("gap not silent")
		}
	}
	b := Beep()
	if len(b) != 2000 || power(b, 1000) < 0.3 {
		t.Fatalf("beep: %d samples", len(b))
	}
}

func BenchmarkFramesPCMA1s(b *testing.B) {
	pcm := correlate.TestSignal(8000, 1)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Frames(pcm, g711.PTPCMA); err != nil {
			b.Fatal(err)
		}
	}
}
