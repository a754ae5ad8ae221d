package dashboard

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"luapbx/engine/admin"
	"luapbx/engine/cdr"
)

// Records finds the call record of a call id; cdr.Store satisfies it.
type Records interface {
	// Get returns an error wrapping cdr.ErrNotFound for an unknown id.
	Get(ctx context.Context, callID string) (cdr.Record, error)
}

// ErrOutsideRoot is why a recording path is refused: it does not lie under
// the recordings root (after cleaning, and following symbolic links).
var ErrOutsideRoot = errors.New("recording path is outside the recordings root")

// RecordingHandler serves GET /api/recordings/{id}: the WAV file at the
// call record's RecordingPath, as audio/wav with range support. It answers
// 404 when the call, its recording or the file does not exist, and 403 for
// a path outside root (storage.recordings): such a path is never opened. A
// relative RecordingPath is taken relative to root. The {id} path value
// must be named "id".
func RecordingHandler(log *slog.Logger, root string, records Records) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		rec, err := records.Get(r.Context(), id)
		switch {
		case errors.Is(err, cdr.ErrNotFound):
			admin.WriteError(w, http.StatusNotFound, fmt.Errorf("no call %q", id))
			return
		case err != nil:
			admin.WriteError(w, http.StatusInternalServerError, err)
			return
		case rec.RecordingPath == "":
			admin.WriteError(w, http.StatusNotFound, fmt.Errorf("call %q has no recording", id))
			return
		}
		f, info, err := openInRoot(root, rec.RecordingPath)
		switch {
		case errors.Is(err, ErrOutsideRoot):
			log.Warn("recording path refused", "call_id", id, "path", rec.RecordingPath, "root", root)
			admin.WriteError(w, http.StatusForbidden, ErrOutsideRoot)
			return
		case errors.Is(err, fs.ErrNotExist):
			admin.WriteError(w, http.StatusNotFound, fmt.Errorf("recording of call %q is gone", id))
			return
		case err != nil:
			log.Error("recording open", "call_id", id, "path", rec.RecordingPath, "err", err)
			admin.WriteError(w, http.StatusInternalServerError, errors.New("cannot open the recording"))
			return
		}
		defer f.Close()
		w.Header().Set("Content-Type", "audio/wav")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "private, max-age=3600")
		http.ServeContent(w, r, info.Name(), info.ModTime(), f)
	})
}

// openInRoot opens the regular file at path, which must lie under root.
// The lexical check refuses "..", other absolute trees and prefixes
// ("/rec" vs "/recordings"); os.Root then refuses symbolic links that
// lead out of root.
func openInRoot(root, path string) (*os.File, fs.FileInfo, error) {
	rel, err := relInRoot(root, path)
	if err != nil {
		return nil, nil, err
	}
	rt, err := os.OpenRoot(root)
	if err != nil {
		return nil, nil, fmt.Errorf("recordings root: %w", err)
	}
	defer rt.Close()
	f, err := rt.Open(rel)
	if err != nil {
		switch {
		case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
			return nil, nil, fmt.Errorf("%w: %w", fs.ErrNotExist, err)
		case errors.Is(err, fs.ErrPermission):
			return nil, nil, err
		}
		// Anything else, notably os.Root's "path escapes from parent" for
		// a symbolic link leading out, is refused.
		return nil, nil, fmt.Errorf("%w: %w", ErrOutsideRoot, err)
	}
	info, err := f.Stat()
	if err == nil && !info.Mode().IsRegular() {
		err = fmt.Errorf("%w: not a regular file", ErrOutsideRoot)
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, info, nil
}

// relInRoot returns path relative to root (a local path: no "..", not
// absolute), or ErrOutsideRoot.
func relInRoot(root, path string) (string, error) {
	if root == "" || path == "" || strings.ContainsRune(path, 0) {
		return "", ErrOutsideRoot
	}
	absRoot, err := filepath.Abs(root)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrOutsideRoot, err)
	}
	p := path
	if !filepath.IsAbs(p) {
		p = filepath.Join(absRoot, p)
	}
	rel, err := filepath.Rel(absRoot, filepath.Clean(p))
	if err != nil || rel == "." || !filepath.IsLocal(rel) {
		return "", ErrOutsideRoot
	}
	return rel, nil
}
