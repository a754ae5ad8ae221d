package reload

import (
	"sync/atomic"
	"time"

	"luapbx/engine"
	"luapbx/engine/config"
	"luapbx/engine/routing"
)

// Snapshot is one accepted version of the dial plan: the config, its
// routing index, its compiled scripts, and the hashes of the files it came
// from. It never changes; a call takes one at its INVITE and keeps it.
type Snapshot struct {
	Gen      uint64
	LoadedAt time.Time
	Config   *config.Config
	Router   *routing.Router
	Policy   engine.Policy // nil when there are no scripts or Lua is off
	Files    []File
	// Warnings are what the reload that made it warns about: hooks that
	// failed in the plan's tests, settings that wait for a restart.
	Warnings []string

	restart []Restart    // the settings that wait for a restart
	refs    atomic.Int64 // the manager's reference plus one per Acquire
}

// File is a file a snapshot was built from.
type File struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
}

// Hooks returns the snapshot's hooks, or a nil interface without scripts.
func (s *Snapshot) Hooks() routing.Hooks {
	if s.Policy == nil {
		return nil
	}
	return s.Policy
}

// Emit hands an event to the scripts, if any.
func (s *Snapshot) Emit(ev engine.Event) {
	if s.Policy != nil {
		s.Policy.Emit(ev)
	}
}

// Release gives back a reference taken by Manager.Acquire; the last one
// closes the snapshot's scripts (their event queue drains first).
func (s *Snapshot) Release() {
	if s.refs.Add(-1) == 0 && s.Policy != nil {
		s.Policy.Close()
	}
}
