package mediacall

import (
	"os"
	"sync"
	"time"

	"luapbx/media/player"
)

// promptCache keeps loaded prompts (parsed and encoded WAV frames) by
// path, so a call does not read and encode its prompts from disk. An
// entry is used while the file's modification time and size are those it
// was loaded with: a prompt replaced on disk (or a reload pointing
// elsewhere) is loaded afresh. The check costs one stat per use.
type promptCache struct {
	mu sync.Mutex
	m  map[string]cachedPrompt
}

type cachedPrompt struct {
	mod  time.Time
	size int64
	p    *player.Prompt
}

func newPromptCache() *promptCache { return &promptCache{m: map[string]cachedPrompt{}} }

// load returns the prompt at path, from the cache when the file did not
// change since it was loaded.
func (pc *promptCache) load(path string) (*player.Prompt, error) {
	fi, err := os.Stat(path)
	if err != nil {
		pc.forget(path)
		return player.Load(path) // its error names the file
	}
	pc.mu.Lock()
	e, ok := pc.m[path]
	pc.mu.Unlock()
	if ok && e.size == fi.Size() && e.mod.Equal(fi.ModTime()) {
		return e.p, nil
	}
	p, err := player.Load(path)
	if err != nil {
		pc.forget(path)
		return nil, err
	}
	pc.mu.Lock()
	pc.m[path] = cachedPrompt{mod: fi.ModTime(), size: fi.Size(), p: p}
	pc.mu.Unlock()
	return p, nil
}

func (pc *promptCache) forget(path string) {
	pc.mu.Lock()
	delete(pc.m, path)
	pc.mu.Unlock()
}
