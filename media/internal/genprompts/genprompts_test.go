package main

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"luapbx/media/player"
	"luapbx/media/wav"
)

func sine(freq float64, rate, n int) []int16 {
	s := make([]int16, n)
	for i := range s {
		s[i] = int16(10000 * math.Sin(2*math.Pi*freq*float64(i)/float64(rate)))
	}
	return s
}

func rms(s []int16) float64 {
	var sum float64
	for _, v := range s {
		sum += float64(v) * float64(v)
	}
	return math.Sqrt(sum / float64(len(s)))
}

func TestResample(t *testing.T) {
	tests := []struct {
		name    string
		freq    float64
		wantRMS [2]float64 // bounds on output RMS (input RMS ~7071)
	}{
		{"passband 1 kHz kept", 1000, [2]float64{6800, 7300}},
		{"passband 3 kHz kept", 3000, [2]float64{6500, 7300}},
		{"above 4 kHz removed", 6000, [2]float64{0, 150}},
		{"10 kHz removed", 10000, [2]float64{0, 150}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := sine(tt.freq, 22050, 22050)
			out := resample(in, 22050, 8000)
			if len(out) != 8000 {
				t.Fatalf("%d samples", len(out))
			}
			r := rms(out[200 : len(out)-200]) // skip filter edges
			if r < tt.wantRMS[0] || r > tt.wantRMS[1] {
				t.Fatalf("rms %.0f, want %v", r, tt.wantRMS)
			}
		})
	}
	// The resampled 1 kHz tone has the right frequency: compare with a
	// sine generated at 8 kHz directly.
	out := resample(sine(1000, 22050, 22050), 22050, 8000)
	ref := sine(1000, 8000, 8000)
	var dot, aa, bb float64
	for i := 200; i < 7800; i++ {
		dot += float64(out[i]) * float64(ref[i])
		aa += float64(out[i]) * float64(out[i])
		bb += float64(ref[i]) * float64(ref[i])
	}
	if c := dot / math.Sqrt(aa*bb); c < 0.99 {
		t.Fatalf("correlation with an 8 kHz reference %.3f", c)
	}
}

func TestTrimAndNormalise(t *testing.T) {
	s := append(append(make([]int16, 5000), sine(440, 8000, 800)...), make([]int16, 5000)...)
	tr := trim(s, 200, 100)
	if len(tr) < 800 || len(tr) > 1000 {
		t.Fatalf("trimmed to %d samples", len(tr))
	}
	n := normalise(tr, 20000)
	peak := 0
	for _, v := range n {
		peak = max(peak, int(v), -int(v))
	}
	if peak != 20000 {
		t.Fatalf("peak %d", peak)
	}
}

func TestRenderTonesAndSave(t *testing.T) {
	dir := t.TempDir()
	for _, p := range prompts {
		pcm, _, err := render(p, false, "en-us")
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, p.file)
		if err := save(path, pcm); err != nil {
			t.Fatal(err)
		}
		got, err := wav.LoadPrompt(path)
		if err != nil {
			t.Fatal(err)
		}
		if d := float64(len(got)) / player.SampleRate; d < 0.2 || d > 3 {
			t.Fatalf("%s: %.2f s", p.file, d)
		}
	}
}

// TestShippedPrompts checks the committed prompts: each loads as a prompt
// (8 kHz mono 16-bit), is short, and is not silent.
func TestShippedPrompts(t *testing.T) {
	dir := filepath.Join("..", "..", "..", "scripts", "prompts")
	for _, p := range prompts {
		t.Run(p.file, func(t *testing.T) {
			path := filepath.Join(dir, p.file)
			if _, err := os.Stat(path); err != nil {
				t.Fatalf("shipped prompt missing: %v", err)
			}
			pcm, err := wav.LoadPrompt(path)
			if err != nil {
				t.Fatal(err)
			}
			if d := float64(len(pcm)) / player.SampleRate; d < 0.2 || d > 3.5 {
				t.Fatalf("%.2f s long", d)
			}
			if r := rms(pcm); r < 500 {
				t.Fatalf("rms %.0f: nearly silent", r)
			}
		})
	}
}
