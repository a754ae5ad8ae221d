package apps

import (
	"context"
	"errors"
	"testing"
	"time"

	"luapbx/media/g711"
)

func TestIVR(t *testing.T) {
	options := map[string]string{"1": "user:201", "2": "group:600", "3": "voicemail:201", "34": "app:echo"}
	tests := []struct {
		name     string
		prompt   time.Duration
		retries  int
		def      string
		steps    func(ph *phone) []func()
		want     string
		wantErr  error
		maxTook  time.Duration // 0: no check
		minTook  time.Duration
		minAudio time.Duration // audio the phone must have heard
	}{
		{name: "option 1 interrupts the prompt", prompt: 3 * time.Second, def: "user:202",
			steps: func(ph *phone) []func() { return []func(){ph.after(200 * time.Millisecond), ph.digit('1')} },
			want:  "user:201", maxTook: 1500 * time.Millisecond},
		{name: "option after the prompt", prompt: 200 * time.Millisecond, def: "user:202",
			steps: func(ph *phone) []func() { return []func(){ph.after(500 * time.Millisecond), ph.digit('2')} },
			want:  "group:600", minAudio: 200 * time.Millisecond},
		{name: "invalid then valid", prompt: 300 * time.Millisecond, def: "user:202",
			steps: func(ph *phone) []func() {
				return []func(){ph.after(400 * time.Millisecond), ph.digit('9'), ph.after(600 * time.Millisecond), ph.digit('1')}
			},
			// the menu, the invalid prompt and the menu again were heard
			want: "user:201", minAudio: 700 * time.Millisecond},
		{name: "timeout goes to default", prompt: 200 * time.Millisecond, def: "user:202",
			steps: func(ph *phone) []func() { return nil },
			want:  "user:202", minTook: 600 * time.Millisecond},
		{name: "retries exhausted go to default", prompt: 100 * time.Millisecond, retries: 2, def: "user:202",
			steps: func(ph *phone) []func() {
				return []func(){ph.after(300 * time.Millisecond), ph.digit('9'), ph.after(500 * time.Millisecond), ph.digit('8')}
			},
			want: "user:202", maxTook: 3 * time.Second},
		{name: "two digit option", prompt: 100 * time.Millisecond, def: "user:202",
			steps: func(ph *phone) []func() { return []func(){ph.after(300 * time.Millisecond), ph.digits("34")} },
			want:  "app:echo"},
		{name: "prefix of a longer option alone", prompt: 100 * time.Millisecond, def: "user:202",
			steps: func(ph *phone) []func() { return []func(){ph.after(300 * time.Millisecond), ph.digit('3')} },
			want:  "voicemail:201", minTook: 300*time.Millisecond + 700*time.Millisecond},
		{name: "no default", prompt: 100 * time.Millisecond,
			steps:   func(ph *phone) []func() { return nil },
			wantErr: ErrNoChoice},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, g711.PTPCMU)
			cfg := IVRConfig{
				ID: "main", Prompt: testPrompt(tc.prompt, 11), InvalidPrompt: testPrompt(200*time.Millisecond, 12),
				Timeout: 500 * time.Millisecond, InterDigit: 700 * time.Millisecond,
				Options: options, Default: tc.def, Retries: tc.retries,
			}
			r.ph.script(tc.steps(r.ph)...)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			start := time.Now()
			got, err := IVR(ctx, r.s, cfg)
			took := time.Since(start)
			if !errors.Is(err, tc.wantErr) || got != tc.want {
				t.Fatalf("IVR = %q, %v; want %q, %v", got, err, tc.want, tc.wantErr)
			}
			if tc.maxTook > 0 && took > tc.maxTook {
				t.Errorf("took %v, want at most %v", took, tc.maxTook)
			}
			if took < tc.minTook {
				t.Errorf("took %v, want at least %v", took, tc.minTook)
			}
			heard := time.Duration(len(r.ph.audio())) * time.Second / 8000
			if heard < tc.minAudio-40*time.Millisecond {
				t.Errorf("phone heard %v of prompts, want %v", heard, tc.minAudio)
			}
		})
	}
}

func TestIVRContextEnds(t *testing.T) {
	r := newRig(t, g711.PTPCMU)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	got, err := IVR(ctx, r.s, IVRConfig{Prompt: testPrompt(100*time.Millisecond, 1), Timeout: 5 * time.Second,
		Options: map[string]string{"1": "user:201"}, Default: "user:202"})
	if !errors.Is(err, context.DeadlineExceeded) || got != "" {
		t.Fatalf("IVR = %q, %v; want context deadline", got, err)
	}
}

func TestExtendable(t *testing.T) {
	opts := map[string]string{"1": "a", "12": "b", "3": "c"}
	tests := []struct {
		digits string
		want   bool
	}{
		{"1", true}, {"12", false}, {"3", false}, {"9", false}, {"123", false},
	}
	for _, tc := range tests {
		t.Run(tc.digits, func(t *testing.T) {
			if got := extendable(opts, tc.digits); got != tc.want {
				t.Errorf("extendable(%q) = %v", tc.digits, got)
			}
		})
	}
}

func TestIVRConfigValidate(t *testing.T) {
	prompt := testPrompt(20*time.Millisecond, 1)
	tests := []struct {
		name string
		cfg  IVRConfig
		ok   bool
	}{
		{"good", IVRConfig{Prompt: prompt, Options: map[string]string{"1": "user:201", "*9#": "app:echo"}}, true},
		{"no prompt", IVRConfig{Options: map[string]string{"1": "user:201"}}, false},
		{"not a digit", IVRConfig{Prompt: prompt, Options: map[string]string{"x": "user:201"}}, false},
		{"empty key", IVRConfig{Prompt: prompt, Options: map[string]string{"": "user:201"}}, false},
		{"no target", IVRConfig{Prompt: prompt, Options: map[string]string{"1": ""}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.cfg.Validate(); (err == nil) != tc.ok {
				t.Errorf("Validate: %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

// TestIVRTypeAhead: a key pressed before the menu starts (right at the
// answer, while the PBX is still setting up) is the choice, not lost.
func TestIVRTypeAhead(t *testing.T) {
	r := newRig(t, g711.PTPCMU)
	r.ph.sendDigit('2')
	if !waitFor(2*time.Second, func() bool { return r.s.Stats().Digits == 1 }) {
		t.Fatal("the session did not see the digit")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	got, err := IVR(ctx, r.s, IVRConfig{Prompt: testPrompt(2*time.Second, 1), Timeout: 3 * time.Second,
		Options: map[string]string{"1": "user:201", "2": "user:202"}})
	if err != nil || got != "user:202" {
		t.Fatalf("IVR = %q, %v; want user:202", got, err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("took %v: the menu played despite the key pressed ahead", took)
	}
}
