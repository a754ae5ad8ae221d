package reload

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// changes collects what a Watcher reports.
type changes struct {
	mu    sync.Mutex
	paths []string
	c     chan struct{}
}

func newChanges() *changes { return &changes{c: make(chan struct{}, 64)} }

func (c *changes) add(paths []string) {
	c.mu.Lock()
	c.paths = append(c.paths, paths...)
	c.mu.Unlock()
	select {
	case c.c <- struct{}{}:
	default:
	}
}

func (c *changes) has(dir string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.paths {
		if filepath.Dir(p) == dir {
			return true
		}
	}
	return false
}

func (c *changes) reset() {
	c.mu.Lock()
	c.paths = nil
	c.mu.Unlock()
}

// touchUntil writes dir/name every 50 ms until seen reports the change,
// for at most 3 s.
func touchUntil(t *testing.T, dir, name string, seen func() bool) bool {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(strings.Repeat("-- x\n", i+1)), 0o644); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
		if seen() {
			return true
		}
	}
	return false
}

func TestWatcherSetDirs(t *testing.T) {
	oldDir, newDir := t.TempDir(), t.TempDir()
	got := newChanges()
	w := NewWatcher(slog.New(slog.NewTextHandler(io.Discard, nil)), []string{oldDir}, Relevant, got.add, WithDebounce(20*time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	if !touchUntil(t, oldDir, "a.lua", func() bool { return got.has(oldDir) }) {
		t.Fatal("edits in the first folder are not seen")
	}

	w.SetDirs([]string{newDir})
	if !touchUntil(t, newDir, "b.lua", func() bool { return got.has(newDir) }) {
		t.Fatal("edits in the folder set by SetDirs never seen")
	}
	if d := w.Dirs(); len(d) != 1 || d[0] != newDir {
		t.Errorf("Dirs() = %q, want [%s]", d, newDir)
	}
	got.reset()
	if err := os.WriteFile(filepath.Join(oldDir, "a.lua"), []byte("-- dropped"), 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if got.has(oldDir) {
		t.Errorf("the folder SetDirs dropped is still watched")
	}
}

// A reload that moves scripts.dir moves the watch: the next edit in the
// new folder reloads (the trial's bug: only the old folder was watched).
func TestManagerFollowMovesWatch(t *testing.T) {
	root := t.TempDir()
	cfgDir := filepath.Join(root, "conf")
	oldScripts, newScripts := filepath.Join(root, "lua1"), filepath.Join(root, "lua2")
	for _, d := range []string{cfgDir, oldScripts, newScripts} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(cfgDir, "pbx.yaml")
	withScripts := func(dir string) {
		text := strings.Replace(plan("user:201"), "companies:", "scripts: {dir: "+dir+"}\ncompanies:", 1)
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	withScripts(oldScripts)
	mgr, err := NewManager(slog.New(slog.NewTextHandler(io.Discard, nil)), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer mgr.Close()
	got := newChanges()
	w := NewWatcher(slog.New(slog.NewTextHandler(io.Discard, nil)), mgr.WatchDirs(), Relevant, func(ch []string) {
		got.add(ch)
		_ = mgr.Reload("files changed")
	}, WithDebounce(20*time.Millisecond))
	mgr.Follow(w)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() { cancel(); <-done }()

	// Seen in the config folder: reloads. Written until seen, as Run may
	// not watch yet.
	deadline := time.Now().Add(3 * time.Second)
	for mgr.Current().Config.Scripts.DirPath != newScripts && time.Now().Before(deadline) {
		withScripts(newScripts)
		time.Sleep(50 * time.Millisecond)
	}
	if d := mgr.Current().Config.Scripts.DirPath; d != newScripts {
		t.Fatalf("scripts.dir %s after the edit, want %s", d, newScripts)
	}
	gen := mgr.Current().Gen
	if !touchUntil(t, newScripts, "route.lua", func() bool { return mgr.Current().Gen > gen }) {
		t.Fatalf("an edit in the new scripts folder did not reload (watching %q)", w.Dirs())
	}
	for _, d := range w.Dirs() {
		if d == oldScripts {
			t.Errorf("still watching the old scripts folder: %q", w.Dirs())
		}
	}
}
