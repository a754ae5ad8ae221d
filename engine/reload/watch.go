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
}

// Option configures a Watcher.
type Option func(*Watcher)

// WithDebounce sets the quiet time before a reload.
func WithDebounce(d time.Duration) Option { return func(w *Watcher) { w.debounce = d } }

// NewWatcher watches dirs; match picks the files that matter (nil: all).
func NewWatcher(log *slog.Logger, dirs []string, match func(path string) bool, onChange func(changed []string), opts ...Option) *Watcher {
	w := &Watcher{log: log, dirs: dedupe(dirs), match: match, debounce: DefaultDebounce, onChange: onChange}
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

// Run watches until ctx ends. It returns an error only when watching could
// not start.
func (w *Watcher) Run(ctx context.Context) error {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	defer fw.Close()
	for _, d := range w.dirs {
		if err := fw.Add(d); err != nil {
			return fmt.Errorf("watch %s: %w", d, err)
		}
	}
	w.log.Info("watching for changes", "dirs", w.dirs)
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
