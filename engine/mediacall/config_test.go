package mediacall

import (
	"path/filepath"
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
