package apps

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"luapbx/media/correlate"
	"luapbx/media/g711"
	"luapbx/media/wav"
)

func TestVoicemail(t *testing.T) {
	at := time.Date(2026, 11, 23, 10, 30, 5, 0, time.FixedZone("CET", 3600))
	tests := []struct {
		name       string
		codec      uint8
		audio      time.Duration // what the phone says after the beep
		hash       bool          // then presses #
		maxLength  time.Duration
		hangupAt   time.Duration // cancel ctx this long after the start; 0: never
		wantReason string
		wantDur    [2]time.Duration // bounds of Message.Duration
		wantErr    error
	}{
		// The phone starts talking 500 ms in; recording starts when the
		// 250 ms beep has been sent (its last frame at 240 ms): the message
		// starts with ~260 ms of silence and lasts until it stopped.
		{name: "hash stops", codec: g711.PTPCMU, audio: 1500 * time.Millisecond, hash: true,
			wantReason: StopHash, wantDur: [2]time.Duration{1700 * time.Millisecond, 1850 * time.Millisecond}},
		{name: "pcma caller", codec: g711.PTPCMA, audio: 1000 * time.Millisecond, hash: true,
			wantReason: StopHash, wantDur: [2]time.Duration{1200 * time.Millisecond, 1350 * time.Millisecond}},
		{name: "max length", codec: g711.PTPCMU, audio: 3 * time.Second, maxLength: time.Second,
			wantReason: StopMaxLength, wantDur: [2]time.Duration{time.Second, time.Second}},
		{name: "hangup keeps the message", codec: g711.PTPCMU, audio: 3 * time.Second, hangupAt: 2 * time.Second,
			wantReason: StopHangup, wantDur: [2]time.Duration{1700 * time.Millisecond, 1800 * time.Millisecond}},
		// The trial's case: the phone sent 1 s of audio but the caller
		// stayed until 3 s: the message lasts until the hang-up.
		{name: "caller stays after the audio stops", codec: g711.PTPCMU, audio: time.Second, hangupAt: 3 * time.Second,
			wantReason: StopHangup, wantDur: [2]time.Duration{2700 * time.Millisecond, 2800 * time.Millisecond}},
		{name: "max length with a phone that stops sending", codec: g711.PTPCMU, audio: time.Second,
			maxLength: 2 * time.Second, wantReason: StopMaxLength, wantDur: [2]time.Duration{2 * time.Second, 2 * time.Second}},
		{name: "too short is discarded", codec: g711.PTPCMU, audio: 200 * time.Millisecond, hash: true,
			wantErr: ErrNoMessage},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, tc.codec)
			dir := filepath.Join(t.TempDir(), "201")
			cfg := VoicemailConfig{
				Dir: dir, MaxLength: tc.maxLength, CallID: "abc/123@host", From: "3471234567", To: "201",
				Extension: "201", Now: func() time.Time { return at },
			}
			sentc := make(chan []int16, 1)
			steps := []func(){r.ph.after(500 * time.Millisecond),
				func() { sentc <- r.ph.sendPCM(correlate.TestSignal(int(tc.audio*8000/time.Second), 5)) }}
			if tc.hash {
				steps = append(steps, r.ph.digit('#'))
			}
			r.ph.script(steps...)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if tc.hangupAt > 0 {
				time.AfterFunc(tc.hangupAt, cancel)
			}
			msg, err := Voicemail(ctx, r.s, cfg)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Voicemail: %v, want %v", err, tc.wantErr)
				}
				if files, _ := os.ReadDir(dir); len(files) != 0 {
					t.Errorf("files left for a discarded message: %v", files)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			wantPath := filepath.Join(dir, "20261123T093005Z-abc_123@host.wav")
			if msg.Path != wantPath || msg.JSONPath != filepath.Join(dir, "20261123T093005Z-abc_123@host.json") {
				t.Errorf("paths %q %q, want %q", msg.Path, msg.JSONPath, wantPath)
			}
			if msg.Reason != tc.wantReason {
				t.Errorf("reason %q, want %q", msg.Reason, tc.wantReason)
			}
			if msg.Duration < tc.wantDur[0] || msg.Duration > tc.wantDur[1] {
				t.Errorf("duration %v, want %v-%v", msg.Duration, tc.wantDur[0], tc.wantDur[1])
			}
			checkVoicemailWAV(t, msg, <-sentc)
			checkSidecar(t, msg, at)
		})
	}
}

func checkVoicemailWAV(t *testing.T, msg Message, sent []int16) {
	t.Helper()
	f, err := os.Open(msg.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pcm, format, err := wav.ReadPCM(f)
	if err != nil {
		t.Fatal(err)
	}
	if format != wav.Mono8k {
		t.Fatalf("format %v, want %v", format, wav.Mono8k)
	}
	if got := time.Duration(len(pcm)) * time.Second / 8000; got != msg.Duration {
		t.Errorf("WAV holds %v, message says %v", got, msg.Duration)
	}
	// The recording may have missed the end of what was said (past the
	// limit): compare the part both hold.
	sent = sent[:min(len(sent), len(pcm))]
	assertCorrelates(t, sent, pcm, 4000)
	// The message is aligned to time: the phone began 500 ms after the
	// start, ~260 ms after the recording did.
	if _, lag := correlate.Best(sent, pcm, 4000); lag < 1600 || lag > 2600 {
		t.Errorf("the caller's audio starts %v into the message, want ~260 ms", time.Duration(lag)*time.Second/8000)
	}
}

func checkSidecar(t *testing.T, msg Message, at time.Time) {
	t.Helper()
	b, err := os.ReadFile(msg.JSONPath)
	if err != nil {
		t.Fatal(err)
	}
	var side map[string]any
	if err := json.Unmarshal(b, &side); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"from": "3471234567", "to": "201", "extension": "201", "call_id": "abc/123@host",
		"path": msg.Path, "reason": msg.Reason, "start": at.Format(time.RFC3339Nano)}
	for k, v := range want {
		if side[k] != v {
			t.Errorf("sidecar %s = %v, want %v", k, side[k], v)
		}
	}
	if d, _ := side["duration_seconds"].(float64); d != msg.Duration.Seconds() {
		t.Errorf("sidecar duration %v, want %v", side["duration_seconds"], msg.Duration.Seconds())
	}
}

func TestVoicemailHangupBeforeBeep(t *testing.T) {
	r := newRig(t, g711.PTPCMU)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	dir := t.TempDir()
	_, err := Voicemail(ctx, r.s, VoicemailConfig{Greeting: testPrompt(2*time.Second, 4), Dir: dir, CallID: "x"})
	if !errors.Is(err, ErrNoMessage) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Voicemail: %v, want ErrNoMessage wrapping context.Canceled", err)
	}
	if files, _ := os.ReadDir(dir); len(files) != 0 {
		t.Errorf("files left: %v", files)
	}
}

func TestVoicemailGreetingSkippedByDigit(t *testing.T) {
	r := newRig(t, g711.PTPCMU)
	greeting := testPrompt(2*time.Second, 8)
	r.ph.script(r.ph.after(300*time.Millisecond), r.ph.digit('1'), r.ph.after(600*time.Millisecond),
		func() { r.ph.sendPCM(correlate.TestSignal(8000, 9)) }, r.ph.digit('#'))
	start := time.Now()
	msg, err := Voicemail(context.Background(), r.s, VoicemailConfig{Greeting: greeting, Dir: t.TempDir(), CallID: "g"})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("took %v: greeting not skipped?", took)
	}
	if msg.Reason != StopHash || msg.Duration < 900*time.Millisecond {
		t.Errorf("message %+v", msg)
	}
	// What the phone heard: the start of the greeting, then the 250 ms
	// beep, then silence while it recorded.
	heard := trimSilence(r.ph.audio())
	if d := time.Duration(len(heard)) * time.Second / 8000; d < 450*time.Millisecond || d > 1200*time.Millisecond {
		t.Fatalf("phone heard %v of greeting and beep", d)
	}
	assertCorrelates(t, greeting.PCM[:1600], heard[:1600], 80)
	beep := heard[len(heard)-2000:]
	if c, _ := correlate.Best(defaultBeep.PCM[:1600], beep, 400); c < 0.9 {
		t.Errorf("the beep is not the last thing heard (correlation %.3f)", c)
	}
}

// trimSilence drops the trailing zero samples (silence frames).
func trimSilence(pcm []int16) []int16 {
	n := len(pcm)
	for n > 0 && pcm[n-1] == 0 {
		n--
	}
	return pcm[:n]
}
