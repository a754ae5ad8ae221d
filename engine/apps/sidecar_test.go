package apps

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestSidecarPath(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/r/2026/11/23/abc.wav", "/r/2026/11/23/abc.json"},
		{"x.y@host.wav", "x.y@host.json"},
		{"noext", "noext.json"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			if got := SidecarPath(tc.in); got != tc.want {
				t.Errorf("SidecarPath(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestWriteSidecar(t *testing.T) {
	dir := t.TempDir()
	wavPath := filepath.Join(dir, "call-1.wav")
	rec := Recording{CallID: "call-1", From: "201", To: "202", Rule: "did-root",
		Explanation: map[string]any{"winner": "did-root"}, Generation: 7,
		Start: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC), DurationSeconds: 12.5, Path: wavPath}
	if err := WriteSidecar(wavPath, rec); err != nil {
		t.Fatal(err)
	}
	// Overwriting replaces the content.
	rec.Generation = 8
	if err := WriteSidecar(wavPath, rec); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "call-1.json"))
	if err != nil {
		t.Fatal(err)
	}
	var got Recording
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.Generation != 8 || got.Rule != "did-root" || got.CallID != "call-1" || !got.Start.Equal(rec.Start) ||
		got.Explanation.(map[string]any)["winner"] != "did-root" {
		t.Errorf("read back %+v", got)
	}
	files, _ := os.ReadDir(dir)
	if len(files) != 1 {
		t.Errorf("files in dir: %v, want only the sidecar (no temp files)", files)
	}
	// Readable like the WAV beside it (CreateTemp alone makes 0600).
	fi, err := os.Stat(filepath.Join(dir, "call-1.json"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != SidecarMode || SidecarMode != 0o644 {
		t.Errorf("sidecar mode %v, want 0644", fi.Mode().Perm())
	}
}

func TestWriteSidecarErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		path string
		v    any
	}{
		{"value not JSON", filepath.Join(dir, "a.wav"), map[string]any{"c": make(chan int)}},
		{"missing directory", filepath.Join(dir, "nope", "b.wav"), map[string]string{"a": "b"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := WriteSidecar(tc.path, tc.v); err == nil {
				t.Error("no error")
			}
		})
	}
	if files, _ := os.ReadDir(dir); len(files) != 0 {
		t.Errorf("left behind: %v", files)
	}
}
