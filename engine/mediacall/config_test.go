package mediacall

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"luapbx/engine/config"
	"luapbx/media/player"
	"luapbx/media/wav"
)

func TestConfigIVR(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "menu.wav")
	w, err := wav.Create(good, wav.Mono8k)
	if err != nil {
		t.Fatal(err)
	}
	tone := player.Tone([]float64{440}, 100*time.Millisecond)
	if err := w.WriteSamples(tone); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{Companies: []config.Company{{ID: "acme", IVRs: []config.IVR{
		{ID: "main", PromptPath: good, TimeoutSeconds: 3, Default: "user:201",
			Options: config.Entries{{Key: "1", Value: "user:202"}}},
		{ID: "broken", PromptPath: filepath.Join(dir, "missing.wav")},
	}}}}
	ivr := ConfigIVR(func() *config.Config { return cfg })
	tests := []struct {
		company, id string
		ok          bool
	}{{"acme", "main", true}, {"acme", "broken", false}, {"other", "main", false}, {"acme", "none", false}}
	for _, tc := range tests {
		t.Run(tc.company+"/"+tc.id, func(t *testing.T) {
			got, ok := ivr(tc.company, tc.id)
			if ok != tc.ok {
				t.Fatalf("ok %v", ok)
			}
			if ok && (got.Options["1"] != "user:202" || got.Default != "user:201" || got.Timeout != 3*time.Second ||
				got.Prompt == nil || got.Validate() != nil) {
				t.Errorf("ivr %+v", got)
			}
		})
	}
}

func writePrompt(t *testing.T, path string, d time.Duration) {
	t.Helper()
	w, err := wav.Create(path, wav.Mono8k)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteSamples(player.Tone([]float64{440}, d)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestPromptCache(t *testing.T) {
	dir := t.TempDir()
	cfg := &config.Config{}
	load := ConfigPrompt(func() *config.Config { return cfg })
	path := filepath.Join(dir, "hello.wav")
	writePrompt(t, path, 100*time.Millisecond)
	first, err := load(path)
	if err != nil {
		t.Fatal(err)
	}
	again, err := load(path)
	if err != nil || again != first {
		t.Fatalf("second load: %p %v, want the cached %p", again, err, first)
	}
	// Replaced on disk: loaded afresh.
	writePrompt(t, path, 200*time.Millisecond)
	changed, err := load(path)
	if err != nil || changed == first || changed.Duration() != 200*time.Millisecond {
		t.Fatalf("after a change: %v %v", changed, err)
	}
	// Gone: an error, and no stale prompt.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if p, err := load(path); err == nil || p != nil {
		t.Fatalf("removed prompt loaded: %v", p)
	}
	// Not a prompt: an error naming the file.
	bad := filepath.Join(dir, "bad.wav")
	if err := os.WriteFile(bad, []byte("not a wav"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := load(bad); err == nil || !strings.Contains(err.Error(), "bad.wav") {
		t.Fatalf("bad prompt: %v", err)
	}
}

func BenchmarkPromptCache(b *testing.B) {
	path := filepath.Join(b.TempDir(), "menu.wav")
	w, err := wav.Create(path, wav.Mono8k)
	if err != nil {
		b.Fatal(err)
	}
	if err := w.WriteSamples(player.Tone([]float64{440}, 3*time.Second)); err != nil {
		b.Fatal(err)
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		load func(string) (*player.Prompt, error)
	}{{"cached", newPromptCache().load}, {"uncached", player.Load}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bc.load(path); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
