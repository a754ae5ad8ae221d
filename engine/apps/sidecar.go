package apps

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// SidecarPath is the JSON file that describes a WAV: the same name with
// ".json" in place of the extension.
func SidecarPath(wavPath string) string {
	return strings.TrimSuffix(wavPath, filepath.Ext(wavPath)) + ".json"
}

// SidecarMode is the permission of sidecar files: that of the WAVs beside
// them (created 0666 less the usual umask 022).
const SidecarMode os.FileMode = 0o644

// WriteSidecar writes v as indented JSON to SidecarPath(wavPath)
// atomically: to a temporary file in the same directory, synced, then
// renamed over the target, so a reader (or a crash) never sees half a
// file. The file is SidecarMode (0644).
func WriteSidecar(wavPath string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("sidecar %s: %w", wavPath, err)
	}
	data = append(data, '\n')
	dst := SidecarPath(wavPath)
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".*.tmp")
	if err != nil {
		return fmt.Errorf("sidecar: %w", err)
	}
	// CreateTemp makes the file 0600; a sidecar is as readable as its WAV.
	if err := tmp.Chmod(SidecarMode); err != nil {
		_ = tmp.Close()
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("sidecar: %w", err)
	}
	if err := writeSynced(tmp, data); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("sidecar: %w", err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("sidecar: %w", err)
	}
	return nil
}

func writeSynced(f *os.File, data []byte) error {
	_, err := f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Recording is the sidecar of a call recording
// (storage.recordings/YYYY/MM/DD/<call-id>.json): the call, the rule that
// decided it, the decision's explanation and the config generation.
type Recording struct {
	CallID          string    `json:"call_id"`
	From            string    `json:"from"`
	To              string    `json:"to"`
	Company         string    `json:"company,omitempty"`
	Target          string    `json:"target,omitempty"`
	Rule            string    `json:"rule"`
	Explanation     any       `json:"explanation,omitempty"`
	Generation      uint64    `json:"generation"`
	Start           time.Time `json:"start"`
	DurationSeconds float64   `json:"duration_seconds"`
	Path            string    `json:"path"`
}
