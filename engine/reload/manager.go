package reload

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"luapbx/engine"
	"luapbx/engine/config"
	"luapbx/engine/routing"
)

// PolicyLoader compiles the scripts of a config; prev is the running
// snapshot's policy (nil at start), for state that outlives a reload such as
// the key-value store. It returns a nil Policy when there is nothing to load.
// r is the config's router, for checking the targets scripts return.
type PolicyLoader func(cfg *config.Config, r *routing.Router, prev engine.Policy) (engine.Policy, error)

// Status is what GET /api/reload shows.
type Status struct {
	Generation  uint64    `json:"generation"`
	LoadedAt    time.Time `json:"loaded_at"`
	Files       []File    `json:"files"`
	LastError   string    `json:"last_error"`
	LastAttempt time.Time `json:"last_attempt"`
	LastReason  string    `json:"last_reason"`
	Reloads     uint64    `json:"reloads"`
	Failures    uint64    `json:"failures"`
	// Warnings are about the running generation: hooks that failed in the
	// plan's tests, and changed settings that wait for a restart.
	Warnings []string `json:"warnings"`
}

// Manager owns the live snapshot and replaces it, atomically, only with one
// that parsed, validated, compiled and passed its tests.
type Manager struct {
	log   *slog.Logger
	path  string
	load  PolicyLoader
	check func(running, next *config.Config) error

	cur     atomic.Pointer[Snapshot]
	started *config.Config // the start-up-only settings in effect

	mu       sync.Mutex // serializes builds; guards status
	status   Status
	onReload []func(s *Snapshot, err error)
}

// ManagerOption configures a Manager.
type ManagerOption func(*Manager)

// WithCheck adds a check every new config must pass before its tests run;
// running is the config the PBX started with (for its start-up-only
// settings, such as the admin listener), next the one being loaded. An
// error refuses the reload (or the start).
func WithCheck(check func(running, next *config.Config) error) ManagerOption {
	return func(m *Manager) { m.check = check }
}

// NewManager builds the first snapshot from the config at path; it fails
// when that snapshot is not valid.
func NewManager(log *slog.Logger, path string, load PolicyLoader, opts ...ManagerOption) (*Manager, error) {
	m := &Manager{log: log, path: path, load: load}
	for _, o := range opts {
		o(m)
	}
	s, err := m.build(1, nil)
	if err != nil {
		return nil, err
	}
	s.refs.Store(1)
	m.cur.Store(s)
	m.started = s.Config
	m.status = Status{Generation: 1, LoadedAt: s.LoadedAt, Files: s.Files, LastAttempt: s.LoadedAt,
		LastReason: "start", Warnings: nonNil(s.Warnings)}
	if len(s.Warnings) > 0 {
		m.log.Warn("loaded with warnings", "gen", s.Gen, "warnings", strings.Join(s.Warnings, "; "))
	}
	m.logWarnings(s)
	return m, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// logWarnings logs what `luapbx check` warns about (weak passwords, rules
// that can tie), so a plan edited under a running PBX shows them too.
func (m *Manager) logWarnings(s *Snapshot) {
	if s.Config == nil {
		return
	}
	for _, w := range s.Config.Warnings {
		m.log.Warn("plan warning", "gen", s.Gen, "warning", w.Error())
	}
}

// OnReload registers a function called after every reload attempt, with the
// new snapshot or the error; it runs with reloads serialized.
func (m *Manager) OnReload(f func(s *Snapshot, err error)) {
	m.mu.Lock()
	m.onReload = append(m.onReload, f)
	m.mu.Unlock()
}

// Current is the live snapshot, for a look that needs no reference.
func (m *Manager) Current() *Snapshot { return m.cur.Load() }

// Acquire returns the live snapshot with a reference the caller must
// Release; a call holds one from INVITE to its end.
func (m *Manager) Acquire() *Snapshot {
	for {
		s := m.cur.Load()
		if s.refs.Add(1) > 1 {
			return s
		}
		s.refs.Add(-1) // retired and closed meanwhile: take the new one
	}
}

// Status reports the live generation and the last reload attempt.
func (m *Manager) Status() Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.status
}

// Path is the config file.
func (m *Manager) Path() string { return m.path }

// Reload builds a new snapshot and swaps it in if it is valid. On failure
// the running snapshot stays and the error says what is wrong, file:line.
func (m *Manager) Reload(reason string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	old := m.cur.Load()
	start := time.Now()
	m.status.LastAttempt, m.status.LastReason = start, reason
	s, err := m.build(old.Gen+1, old)
	if err != nil {
		m.status.LastError = err.Error()
		m.status.Failures++
		m.log.Error("reload failed: keeping the running generation", "reason", reason, "gen", old.Gen, "err", err)
		for _, f := range m.onReload {
			f(old, err)
		}
		return err
	}
	s.refs.Store(1)
	m.cur.Store(s)
	old.Release()
	m.status.Generation, m.status.LoadedAt, m.status.Files = s.Gen, s.LoadedAt, s.Files
	m.status.LastError = ""
	m.status.Warnings = nonNil(s.Warnings)
	m.status.Reloads++
	attrs := []any{"reason", reason, "gen", s.Gen, "took", time.Since(start).Round(time.Microsecond)}
	if len(s.Warnings) == 0 {
		m.log.Info("reloaded", attrs...)
	} else {
		m.log.Warn("reloaded", append(attrs, "warnings", strings.Join(s.Warnings, "; "))...)
	}
	if len(s.restart) > 0 {
		keys := make([]string, len(s.restart))
		for i, r := range s.restart {
			keys[i] = r.Key
		}
		m.log.Warn("reloaded settings that need a restart: the running PBX keeps their start-up values",
			"gen", s.Gen, "keys", strings.Join(keys, ","))
	}
	m.logWarnings(s)
	for _, f := range m.onReload {
		f(s, nil)
	}
	return nil
}

// Close releases the live snapshot.
func (m *Manager) Close() {
	if s := m.cur.Swap(nil); s != nil {
		s.Release()
	}
}

// WatchDirs are the folders whose changes should trigger a reload.
func (m *Manager) WatchDirs() []string { return m.watchDirs(m.Current()) }

func (m *Manager) watchDirs(s *Snapshot) []string {
	dirs := []string{filepath.Dir(m.path)}
	if s != nil && s.Config != nil {
		dirs = append(dirs, s.Config.Scripts.DirPath)
	}
	return dirs
}

// Follow makes w watch the folders of each newly loaded config (a reload
// may move scripts.dir), whatever triggered the reload.
func (m *Manager) Follow(w *Watcher) {
	m.OnReload(func(s *Snapshot, err error) {
		if err == nil {
			w.SetDirs(m.watchDirs(s))
		}
	})
}

// Relevant tells whether a changed file can affect the plan.
func Relevant(path string) bool {
	base := filepath.Base(path)
	if strings.HasPrefix(base, ".") || strings.HasSuffix(base, "~") || strings.HasSuffix(base, ".swp") {
		return false
	}
	switch filepath.Ext(base) {
	case ".yaml", ".yml", ".lua", ".wav":
		return true
	}
	return false
}

// Build makes a snapshot from the config at path without running its
// tests (for `luapbx route`, which is how a failing test gets looked at).
// Release it when done.
func Build(path string, load PolicyLoader) (*Snapshot, error) {
	s, err := builder{path: path, gen: 1, load: load}.build()
	if err != nil {
		return nil, err
	}
	s.refs.Store(1)
	return s, nil
}

func (m *Manager) build(gen uint64, prev *Snapshot) (*Snapshot, error) {
	b := builder{path: m.path, gen: gen, load: m.load, prev: prev, runTests: true, running: m.started, check: m.check}
	return b.build()
}

// builder is one snapshot to build.
type builder struct {
	path     string
	gen      uint64
	load     PolicyLoader
	prev     *Snapshot
	runTests bool
	running  *config.Config                           // the start-up config; nil at start
	check    func(running, next *config.Config) error // nil: none
}

// build parses, validates, compiles and (when asked) tests a new snapshot.
func (b builder) build() (*Snapshot, error) {
	path, gen, load, prev := b.path, b.gen, b.load, b.prev
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	if b.check != nil {
		running := b.running
		if running == nil {
			running = cfg
		}
		if err := b.check(running, cfg); err != nil {
			return nil, err
		}
	}
	r, err := cfg.Router(gen)
	if err != nil {
		return nil, err
	}
	var prevPolicy engine.Policy
	if prev != nil {
		prevPolicy = prev.Policy
	}
	var pol engine.Policy
	if load != nil {
		if pol, err = load(cfg, r, prevPolicy); err != nil {
			return nil, err
		}
	}
	s := &Snapshot{Gen: gen, LoadedAt: time.Now(), Config: cfg, Router: r, Policy: pol}
	if !b.runTests {
		s.Files = hashFiles(cfg)
		return s, nil
	}
	results, hookWarnings := RunTests(cfg, r, s.Hooks())
	if failed := failures(results); failed != nil {
		if pol != nil {
			pol.Close()
		}
		return nil, failed
	}
	s.Files = hashFiles(cfg)
	s.restart = RestartChanges(b.running, cfg)
	s.Warnings = hookWarnings
	for _, rc := range s.restart {
		s.Warnings = append(s.Warnings, rc.String())
	}
	return s, nil
}

func failures(results []config.TestResult) error {
	var errs []error
	for _, r := range results {
		if !r.Pass {
			errs = append(errs, errors.New(r.Text()))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%d of %d tests failed:\n%w", len(errs), len(results), errors.Join(errs...))
}

// hashFiles lists the config and scripts with their SHA-256.
func hashFiles(cfg *config.Config) []File {
	paths := []string{filepath.Join(cfg.Dir, filepath.Base(cfg.File))}
	if matches, err := filepath.Glob(filepath.Join(cfg.Scripts.DirPath, "*.lua")); err == nil {
		paths = append(paths, matches...)
	}
	sort.Strings(paths[1:])
	var files []File
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		sum := sha256.Sum256(data)
		files = append(files, File{Path: p, SHA256: hex.EncodeToString(sum[:])})
	}
	return files
}
