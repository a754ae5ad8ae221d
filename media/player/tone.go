package player

import (
	"math"
	"time"
)

// ToneLevel is the peak amplitude of a generated tone (about -10 dBFS,
// comfortably below G.711 clipping; several frequencies share it).
const ToneLevel = 10000

// rampSamples fades tones in and out over 4 ms to avoid clicks.
const rampSamples = 32

// Tone returns dur of 8 kHz PCM: the sum of sines at freqs (Hz), peak
// amplitude ToneLevel, with short fades at both ends. No frequencies gives
// silence. Frequencies at or above the Nyquist limit (4 kHz) are skipped.
func Tone(freqs []float64, dur time.Duration) []int16 {
	n := samples(dur)
	out := make([]int16, n)
	var use []float64
	for _, f := range freqs {
		if f > 0 && f < SampleRate/2 {
			use = append(use, f)
		}
	}
	if len(use) == 0 {
		return out
	}
	amp := ToneLevel / float64(len(use))
	ramp := min(rampSamples, n/2)
	for i := range out {
		var v float64
		for _, f := range use {
			v += math.Sin(2 * math.Pi * f * float64(i) / SampleRate)
		}
		g := 1.0
		if i < ramp {
			g = float64(i) / float64(ramp)
		} else if n-1-i < ramp {
			g = float64(n-1-i) / float64(ramp)
		}
		out[i] = int16(math.Round(v * amp * g))
	}
	return out
}

// Segment is one step of a tone pattern: frequencies (none for silence)
// and a duration.
type Segment struct {
	Freqs []float64
	Dur   time.Duration
}

// Pattern concatenates segments, e.g. a beep-pause-beep or one cadence of
// a ring-back tone.
func Pattern(segs ...Segment) []int16 {
	var out []int16
	for _, s := range segs {
		out = append(out, Tone(s.Freqs, s.Dur)...)
	}
	return out
}

// Beep is the voicemail beep: 1 kHz for 250 ms.
func Beep() []int16 { return Tone([]float64{1000}, 250*time.Millisecond) }

func samples(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int(d * SampleRate / time.Second)
}
