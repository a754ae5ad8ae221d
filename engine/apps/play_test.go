package apps

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"luapbx/media/correlate"
	"luapbx/media/g711"
	"luapbx/media/player"
)

func TestPlayDeliversPrompt(t *testing.T) {
	tests := []struct {
		name  string
		codec uint8
	}{
		{"pcmu leg", g711.PTPCMU},
		{"pcma leg", g711.PTPCMA},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, tc.codec)
			p := testPrompt(time.Second, 7)
			start := time.Now()
			if err := Play(context.Background(), r.s, p); err != nil {
				t.Fatal(err)
			}
			took := time.Since(start)
			// 50 frames, the first at once: 49 intervals.
			if took < 950*time.Millisecond || took > 1500*time.Millisecond {
				t.Errorf("playing 1 s took %v", took)
			}
			frames, _ := p.Frames(g711.PTPCMU)
			if !waitFor(time.Second, func() bool { return len(r.ph.received()) >= len(frames) }) {
				t.Fatalf("phone got %d packets, want %d", len(r.ph.received()), len(frames))
			}
			got := r.ph.received()
			for i, k := range got {
				if k.pt != tc.codec {
					t.Fatalf("packet %d has pt %d, want %d", i, k.pt, tc.codec)
				}
				if i > 0 && (k.seq != got[i-1].seq+1 || k.ts != got[i-1].ts+player.FrameSamples) {
					t.Fatalf("packet %d: seq %d ts %d after seq %d ts %d", i, k.seq, k.ts, got[i-1].seq, got[i-1].ts)
				}
			}
			if !got[0].marker {
				t.Error("first packet lacks the marker bit")
			}
			assertCorrelates(t, p.PCM, r.ph.audio(), 400)
		})
	}
}

func TestPlayStops(t *testing.T) {
	tests := []struct {
		name    string
		stop    func(r *rig, cancel context.CancelFunc)
		wantErr error
	}{
		{"context ends", func(_ *rig, cancel context.CancelFunc) { cancel() }, context.Canceled},
		{"media ends", func(r *rig, _ context.CancelFunc) { r.ep.Close() }, ErrMediaEnded},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, g711.PTPCMU)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			time.AfterFunc(200*time.Millisecond, func() { tc.stop(r, cancel) })
			start := time.Now()
			err := Play(ctx, r.s, testPrompt(5*time.Second, 1))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Play: %v, want %v", err, tc.wantErr)
			}
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("Play returned after %v", took)
			}
		})
	}
}

func TestToneIsContinuous(t *testing.T) {
	r := newRig(t, g711.PTPCMU)
	ctx, cancel := context.WithTimeout(context.Background(), 600*time.Millisecond)
	defer cancel()
	if err := Tone(ctx, r.s); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // the last frames in flight
	pcm := r.ph.audio()
	if len(pcm) < 20*player.FrameSamples {
		t.Fatalf("got %d samples in 600 ms", len(pcm))
	}
	// A continuous 425 Hz sine: compare with a reference sine at the
	// best phase (lag within one period).
	ref := make([]int16, len(pcm)+40)
	for i := range ref {
		ref[i] = int16(10000 * math.Sin(2*math.Pi*DefaultToneHz*float64(i)/player.SampleRate))
	}
	if c, _ := correlate.Best(pcm, ref, 20); c < 0.99 {
		t.Errorf("tone correlates %.4f with a pure 425 Hz sine", c)
	}
	if err := ToneHz(ctx, r.s, 5000); err == nil {
		t.Error("5 kHz tone accepted")
	}
}

func TestToneLoopIsSeamless(t *testing.T) {
	for _, hz := range []int{425, 1000, 440, 350, 3999} {
		pcm := toneLoop(hz)
		if len(pcm)%player.FrameSamples != 0 {
			t.Fatalf("%d Hz: %d samples, not whole frames", hz, len(pcm))
		}
		// The sample after the loop's end must be where it starts again.
		next := math.Sin(2 * math.Pi * float64(hz) * float64(len(pcm)) / player.SampleRate)
		if math.Abs(next) > 1e-6 {
			t.Errorf("%d Hz: loop of %d samples does not end on a whole period (%.6f)", hz, len(pcm), next)
		}
	}
}

func TestSessionBusy(t *testing.T) {
	r := newRig(t, g711.PTPCMU)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Tone(ctx, r.s) }()
	if !waitFor(time.Second, func() bool { return r.s.busy.Load() }) {
		t.Fatal("tone did not start")
	}
	if err := Play(context.Background(), r.s, testPrompt(100*time.Millisecond, 2)); !errors.Is(err, ErrBusy) {
		t.Errorf("second application: %v, want ErrBusy", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Tone: %v", err)
	}
	if err := Play(context.Background(), r.s, testPrompt(40*time.Millisecond, 2)); err != nil {
		t.Errorf("Play after Tone: %v", err)
	}
}
