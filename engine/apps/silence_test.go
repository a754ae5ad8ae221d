package apps

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"luapbx/media/correlate"
	"luapbx/media/g711"
	"luapbx/media/player"
)

// TestStreamHasNoGap: while an application holds the caller's leg, the
// PBX's stream never stops: prompts, the silence while an IVR waits for a
// key or voicemail records, and the joins between them are one stream of
// 20 ms frames (one SSRC, sequence numbers and timestamps running on).
func TestStreamHasNoGap(t *testing.T) {
	tests := []struct {
		name  string
		codec uint8
		// run runs the application; the phone's script is set first.
		run    func(ctx context.Context, r *rig) error
		steps  func(ph *phone) []func()
		runFor time.Duration // ctx ends then (the caller hangs up)
		// silentFrom is how much of the start may be sound: after it every
		// frame must be silence (0: no check).
		silentFrom time.Duration
	}{
		{name: "ivr waiting for a key", codec: g711.PTPCMU, runFor: 3 * time.Second,
			run: func(ctx context.Context, r *rig) error {
				_, err := IVR(ctx, r.s, IVRConfig{Prompt: testPrompt(300*time.Millisecond, 1), Timeout: 5 * time.Second,
					Options: map[string]string{"1": "user:201"}, Default: "user:202"})
				return err
			},
			steps: func(ph *phone) []func() { return nil }, silentFrom: 300 * time.Millisecond},
		{name: "ivr invalid key, prompts and waits", codec: g711.PTPCMA, runFor: 3 * time.Second,
			run: func(ctx context.Context, r *rig) error {
				_, err := IVR(ctx, r.s, IVRConfig{Prompt: testPrompt(200*time.Millisecond, 1),
					InvalidPrompt: testPrompt(200*time.Millisecond, 2), Timeout: 5 * time.Second,
					Options: map[string]string{"1": "user:201"}, Default: "user:202"})
				return err
			},
			steps: func(ph *phone) []func() { return []func(){ph.after(600 * time.Millisecond), ph.digit('9')} }},
		{name: "voicemail recording", codec: g711.PTPCMU, runFor: 3 * time.Second,
			run: func(ctx context.Context, r *rig) error {
				_, err := Voicemail(ctx, r.s, VoicemailConfig{Greeting: testPrompt(300*time.Millisecond, 3),
					Dir: r.dir, CallID: "gap"})
				return err
			},
			steps: func(ph *phone) []func() {
				return []func(){ph.after(700 * time.Millisecond), func() { ph.sendPCM(correlate.TestSignal(8000, 4)) }}
			},
			silentFrom: 300*time.Millisecond + 260*time.Millisecond},
		{name: "echo of a peer that stops sending", codec: g711.PTPCMU, runFor: 2 * time.Second,
			run: func(ctx context.Context, r *rig) error { return Echo(ctx, r.s) },
			steps: func(ph *phone) []func() {
				return []func(){func() { ph.sendPCM(correlate.TestSignal(4000, 5)) }}
			},
			silentFrom: 600 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, tc.codec)
			r.dir = t.TempDir()
			r.ph.script(tc.steps(r.ph)...)
			ctx, cancel := context.WithTimeout(context.Background(), tc.runFor)
			defer cancel()
			start := time.Now()
			err := tc.run(ctx, r)
			if err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, ErrNoMessage) {
				t.Fatalf("application: %v", err)
			}
			took := time.Since(start)
			time.Sleep(60 * time.Millisecond) // the last frames in flight
			pkts := r.ph.received()
			if r.s.pc != nil && r.s.pc.Rebased() > 0 {
				t.Logf("the sender fell behind %d times (stalled machine)", r.s.pc.Rebased())
			}
			assertContinuous(t, pkts, tc.codec, took)
			if tc.silentFrom > 0 {
				assertSilentAfter(t, pkts, tc.codec, tc.silentFrom)
			}
			if got := r.s.Stats().Silence; got == 0 {
				t.Errorf("session stats count no silence frame")
			}
		})
	}
}

// assertContinuous checks that pkts are one stream of 20 ms frames in
// codec, covering the time the application ran, with no pause.
func assertContinuous(t *testing.T, pkts []rtpPkt, codec uint8, took time.Duration) {
	t.Helper()
	want := int(took / FrameInterval)
	// A loaded machine (-race, other builds) may stall the sender past the
	// catch-up limit a few times; each loses a few frames. Without the
	// silence the count is the prompts' alone (a fifth at most here).
	if len(pkts) < want*4/5 {
		var gaps []time.Duration
		for i := 1; i < len(pkts); i++ {
			if d := pkts[i].at.Sub(pkts[i-1].at); d > 50*time.Millisecond {
				gaps = append(gaps, d)
			}
		}
		t.Fatalf("got %d packets in %v, want about %d (gaps over 50 ms: %v)", len(pkts), took, want, gaps)
	}
	var worst time.Duration
	for i := 1; i < len(pkts); i++ {
		a, b := pkts[i-1], pkts[i]
		if b.seq != a.seq+1 || b.ts != a.ts+player.FrameSamples || b.ssrc != a.ssrc || b.pt != codec ||
			len(b.payload) != player.FrameSamples {
			t.Fatalf("packet %d breaks the stream: %+v after %+v", i, b, a)
		}
		worst = max(worst, b.at.Sub(a.at))
	}
	if worst > 300*time.Millisecond {
		t.Errorf("the stream paused for %v", worst)
	}
}

// assertSilentAfter checks that every frame sent after from (by its
// timestamp) is silence, the first frame being sent at 0.
func assertSilentAfter(t *testing.T, pkts []rtpPkt, codec uint8, from time.Duration) {
	t.Helper()
	skip := int(from/FrameInterval) + 1
	if len(pkts) <= skip {
		t.Fatalf("%d packets, none after %v", len(pkts), from)
	}
	sil := silenceFrame(codec)
	for i, k := range pkts[skip:] {
		if !bytes.Equal(k.payload, sil) {
			t.Fatalf("frame %d (after %v) is not silence", skip+i, from)
		}
	}
}

// logCapture is a JSON slog handler's output, one record a line.
type logCapture struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (c *logCapture) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.Write(p)
}

func (c *logCapture) lines() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Split(strings.TrimSpace(c.buf.String()), "\n")
}

// record returns the first line whose msg starts with prefix.
func (c *logCapture) record(prefix string) (string, map[string]any) {
	for _, l := range c.lines() {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && strings.HasPrefix(m["msg"].(string), prefix) {
			return l, m
		}
	}
	return "", nil
}

// TestVoicemailLogs: the outcome lines carry the call once, and a caller
// who leaves no message is a normal end (INFO, wrapping the hang-up).
func TestVoicemailLogs(t *testing.T) {
	tests := []struct {
		name    string
		audio   time.Duration
		hash    bool
		hangup  time.Duration
		wantMsg string
		wantErr error
	}{
		{name: "message left", audio: time.Second, hash: true, wantMsg: "voicemail left"},
		{name: "hang-up after the beep without a message", audio: 200 * time.Millisecond, hangup: 1200 * time.Millisecond,
			wantMsg: "voicemail discarded", wantErr: context.Canceled},
		{name: "hang-up before the beep", hangup: 100 * time.Millisecond,
			wantMsg: "voicemail: caller left before the beep", wantErr: context.Canceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, g711.PTPCMU)
			var logs logCapture
			// As the call layer makes it: the session's logger has the call.
			r.s.log = slog.New(slog.NewJSONHandler(&logs, nil)).With("call_id", "c1")
			steps := []func(){r.ph.after(400 * time.Millisecond)}
			if tc.audio > 0 {
				steps = append(steps, func() { r.ph.sendPCM(correlate.TestSignal(int(tc.audio*8000/time.Second), 5)) })
			}
			if tc.hash {
				steps = append(steps, r.ph.digit('#'))
			}
			r.ph.script(steps...)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if tc.hangup > 0 {
				time.AfterFunc(tc.hangup, cancel)
			}
			_, err := Voicemail(ctx, r.s, VoicemailConfig{Greeting: testPrompt(200*time.Millisecond, 1),
				Dir: t.TempDir(), CallID: "c1", Extension: "201"})
			if tc.wantErr == nil && err != nil {
				t.Fatal(err)
			}
			if tc.wantErr != nil && (!errors.Is(err, ErrNoMessage) || !errors.Is(err, tc.wantErr)) {
				t.Fatalf("Voicemail: %v, want ErrNoMessage wrapping %v", err, tc.wantErr)
			}
			line, rec := logs.record(tc.wantMsg)
			if rec == nil {
				t.Fatalf("no %q line in:\n%s", tc.wantMsg, strings.Join(logs.lines(), "\n"))
			}
			if n := strings.Count(line, `"call_id"`); n != 1 {
				t.Errorf("call_id %d times in %s", n, line)
			}
			if rec["level"] != "INFO" || rec["extension"] != "201" {
				t.Errorf("line %s: want INFO with the extension", line)
			}
			for _, l := range logs.lines() {
				if strings.Contains(l, `"level":"WARN"`) || strings.Contains(l, `"level":"ERROR"`) {
					t.Errorf("a normal outcome logged %s", l)
				}
			}
		})
	}
}
