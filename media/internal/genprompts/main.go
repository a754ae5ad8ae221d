// Command genprompts writes the prompts shipped in scripts/prompts: 8 kHz
// mono 16-bit PCM WAVs. Speech comes from espeak-ng when it is installed
// (resampled from its 22.05 kHz output here, in Go); without it, or with
// -tones, each prompt is a tone pattern instead. The beep is always a
// tone.
//
//	go run ./media/internal/genprompts -out scripts/prompts
package main

import (
	"bytes"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"luapbx/media/player"
	"luapbx/media/wav"
)

// prompt is one shipped prompt: the words spoken and the tone pattern used
// when speech is not available.
type prompt struct {
	file  string
	text  string // empty: always the tone
	tones []player.Segment
}

const (
	c5, e5, g5, c6 = 523.25, 659.25, 783.99, 1046.50
	low, lower     = 392.0, 311.13
)

func note(f float64, ms int) player.Segment {
	return player.Segment{Freqs: []float64{f}, Dur: time.Duration(ms) * time.Millisecond}
}

func pause(ms int) player.Segment { return player.Segment{Dur: time.Duration(ms) * time.Millisecond} }

var prompts = []prompt{
	{file: "welcome.wav", text: "Welcome to lua P B X.",
		tones: []player.Segment{note(c5, 150), note(e5, 150), note(g5, 150), note(c6, 300), pause(200)}},
	{file: "closed.wav", text: "We are closed, please call again later.",
		tones: []player.Segment{note(g5, 200), note(e5, 200), note(c5, 400), pause(300), note(c5, 400), pause(200)}},
	{file: "invalid.wav", text: "Invalid option, please try again.",
		tones: []player.Segment{note(low, 150), pause(50), note(lower, 300), pause(200)}},
	{file: "voicemail.wav", text: "Please leave a message after the tone.",
		tones: []player.Segment{note(e5, 200), note(c5, 200), pause(100), note(e5, 200), note(c5, 200), pause(300)}},
	{file: "beep.wav"}, // the voicemail beep
}

func main() {
	out := flag.String("out", "scripts/prompts", "directory to write the prompts to")
	tones := flag.Bool("tones", false, "use tone patterns even if espeak-ng is installed")
	voice := flag.String("voice", "en-us", "espeak-ng voice")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	speak := !*tones
	if _, err := exec.LookPath("espeak-ng"); speak && err != nil {
		log.Warn("espeak-ng not found, writing tone prompts")
		speak = false
	}
	for _, p := range prompts {
		pcm, how, err := render(p, speak, *voice)
		if err != nil {
			log.Error("prompt failed", "file", p.file, "err", err)
			os.Exit(1)
		}
		path := filepath.Join(*out, p.file)
		if err := save(path, pcm); err != nil {
			log.Error("prompt failed", "file", p.file, "err", err)
			os.Exit(1)
		}
		log.Info("prompt written", "path", path, "source", how, "seconds", float64(len(pcm))/player.SampleRate)
	}
}

func render(p prompt, speak bool, voice string) ([]int16, string, error) {
	switch {
	case p.text == "" && p.tones == nil:
		return player.Beep(), "tone 1000 Hz 250 ms", nil
	case speak && p.text != "":
		pcm, err := espeak(p.text, voice)
		return pcm, "espeak-ng " + voice, err
	default:
		return player.Pattern(p.tones...), "tone pattern", nil
	}
}

// espeak speaks text and returns it as 8 kHz PCM, trimmed and normalised.
func espeak(text, voice string) ([]int16, error) {
	cmd := exec.Command("espeak-ng", "-v", voice, "-s", "165", "--stdout", text)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	raw, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("espeak-ng: %w: %s", err, stderr.String())
	}
	pcm, f, err := wav.ReadPCM(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("espeak-ng output: %w", err)
	}
	if f.Channels != 1 {
		return nil, fmt.Errorf("espeak-ng output is %s", f)
	}
	pcm = resample(pcm, f.SampleRate, player.SampleRate)
	return normalise(trim(pcm, 200, 1200), 22000), nil
}

// trim removes leading and trailing samples quieter than threshold,
// keeping pad samples of margin on each side.
func trim(s []int16, threshold int16, pad int) []int16 {
	loud := func(v int16) bool { return v > threshold || v < -threshold }
	first, last := -1, -1
	for i, v := range s {
		if loud(v) {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	if first < 0 {
		return s
	}
	return s[max(0, first-pad):min(len(s), last+pad)]
}

// normalise scales s so that its peak is peak.
func normalise(s []int16, peak int) []int16 {
	m := 1
	for _, v := range s {
		m = max(m, int(v), -int(v))
	}
	out := make([]int16, len(s))
	for i, v := range s {
		out[i] = int16(int(v) * peak / m)
	}
	return out
}

func save(path string, pcm []int16) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	w, err := wav.Create(path, wav.Mono8k)
	if err != nil {
		return err
	}
	if err := w.WriteSamples(pcm); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}
