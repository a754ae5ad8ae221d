// Package reload rebuilds the PBX's snapshot when its files change: it
// watches folders (editors save by writing a new file and renaming it, so
// folders, not files, are watched), waits for the writes to settle, and asks
// for a reload.
package reload

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// DefaultDebounce is how long the files must stay quiet before a reload.
const DefaultDebounce = 150 * time.Millisecond

// Watcher calls OnChange once the watched files stop changing.
type Watcher struct {
	log      *slog.Logger
	dirs     []string
	match    func(path string) bool
	debounce time.Duration
	onChange func(changed []string)

	mu   sync.Mutex
	want []string      // set by SetDirs, applied by Run
	kick chan struct{} // SetDirs was called
}

// Option configures a Watcher.
type Option func(*Watcher)

// WithDebounce sets the quiet time before a reload.
func WithDebounce(d time.Duration) Option { return func(w *Watcher) { w.debounce = d } }

// NewWatcher watches dirs; match picks the files that matter (nil: all).
func NewWatcher(log *slog.Logger, dirs []string, match func(path string) bool, onChange func(changed []string), opts ...Option) *Watcher {
	w := &Watcher{log: log, dirs: dedupe(dirs), match: match, debounce: DefaultDebounce, onChange: onChange,
		kick: make(chan struct{}, 1)}
	for _, o := range opts {
		o(w)
	}
	return w
}

func dedupe(dirs []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, d := range dirs {
		abs, err := filepath.Abs(d)
		if err != nil {
			abs = d
		}
		if !seen[abs] {
			seen[abs] = true
			out = append(out, abs)
		}
	}
	return out
}

// SetDirs makes Run watch dirs instead of the folders it watches now (a
// reload moved scripts.dir, say). It does not block; safe from any
// goroutine, including onChange.
func (w *Watcher) SetDirs(dirs []string) {
	w.mu.Lock()
	w.want = dedupe(dirs)
	w.mu.Unlock()
	select {
	case w.kick <- struct{}{}:
	default: // Run has not read the last one yet; it will see these dirs
	}
}

// Dirs are the folders Run watches now.
func (w *Watcher) Dirs() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.dirs)
}

// follow adds the folders SetDirs asked for and removes those it dropped.
// A folder that cannot be watched is logged and left out; the rest stay.
func (w *Watcher) follow(fw *fsnotify.Watcher) {
	w.mu.Lock()
	want, have := w.want, w.dirs
	w.mu.Unlock()
	var now []string
	for _, d := range have {
		if slices.Contains(want, d) {
			now = append(now, d)
			continue
		}
		if err := fw.Remove(d); err != nil { // a deleted folder's watch is gone already
			w.log.Debug("file watcher: stop watching", "dir", d, "err", err)
		}
	}
	for _, d := range want {
		if slices.Contains(have, d) {
			continue
		}
		if err := fw.Add(d); err != nil {
			w.log.Warn("file watcher: cannot watch: edits there will not reload", "dir", d, "err", err)
			continue
		}
		now = append(now, d)
	}
	w.mu.Lock()
	changed := !slices.Equal(now, w.dirs)
	w.dirs = now
	w.mu.Unlock()
	if changed {
		w.log.Info("watching for changes", "dirs", now)
	}
}

// Run watches until ctx ends. It returns an error only when watching could
// not start.
func (w *Watcher) Run(ctx context.Context) error {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	defer fw.Close()
	for _, d := range w.Dirs() {
		if err := fw.Add(d); err != nil {
			return fmt.Errorf("watch %s: %w", d, err)
		}
	}
	w.log.Info("watching for changes", "dirs", w.Dirs())
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	pending := map[string]bool{}
	for {
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case ev, ok := <-fw.Events:
			if !ok {
				return nil
			}
			if ev.Op == fsnotify.Chmod || (w.match != nil && !w.match(ev.Name)) {
				continue
			}
			pending[ev.Name] = true
			timer.Reset(w.debounce)
		case err, ok := <-fw.Errors:
			if !ok {
				return nil
			}
			w.log.Warn("file watcher error", "err", err)
		case <-w.kick:
			w.follow(fw)
		case <-timer.C:
			changed := make([]string, 0, len(pending))
			for p := range pending {
				changed = append(changed, p)
			}
			clear(pending)
			w.onChange(changed)
		}
	}
}
