package config

import (
	"os"
	"path/filepath"
	"testing"

	"luapbx/media/wav"
)

// writePrompt writes a short WAV in format f.
func writePrompt(t testing.TB, path string, f wav.Format) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	w, err := wav.Create(path, f)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteSamples(make([]int16, 160*f.Channels)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// planDir makes a folder holding the shipped plan's prompts, so tests do
// not depend on scripts/prompts having been generated.
func planDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	for _, p := range []string{"welcome", "closed", "beep", "invalid", "voicemail"} {
		writePrompt(t, filepath.Join(dir, "prompts", p+".wav"), wav.Mono8k)
	}
	return dir
}

// writeFile writes data to dir/name and returns the path.
func writeFile(t testing.TB, dir, name, data string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
