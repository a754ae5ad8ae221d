package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad feeds the loader arbitrary YAML: it must never panic, a failure
// must be a non-empty Errors whose every problem has a file and a line, and
// a config that loads must build a router and run its tests.
func FuzzLoad(f *testing.F) {
	dir := planDir(f)
	name := filepath.Join(dir, "pbx.yaml")
	f.Add([]byte(base))
	f.Add([]byte(runnerPlan))
	if data, err := os.ReadFile(shipped); err == nil {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := LoadBytes(name, data)
		if err != nil {
			var es Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("error %T %v, want non-empty Errors", err, err)
			}
			for _, e := range es {
				if e.File != name || e.Line < 1 || e.Msg == "" {
					t.Fatalf("problem without a place: %#v", e)
				}
			}
			if cfg != nil {
				t.Fatal("a failed load returned a config")
			}
			return
		}
		r, err := cfg.Router(1)
		if err != nil {
			t.Fatalf("a config that loads fails routing.New: %v", err)
		}
		if res := RunTests(cfg, r, nil); len(res) != len(cfg.Tests) {
			t.Fatalf("%d results for %d tests", len(res), len(cfg.Tests))
		}
	})
}
