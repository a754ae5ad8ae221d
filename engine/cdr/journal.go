package cdr

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"
)

// DefaultJournalInterval is how often a Journal rewrites its file: a call
// record made from it ends at most this late.
const DefaultJournalInterval = time.Second

// Journal keeps in a file the records the calls in progress would get if
// the process ended now, so that a PBX killed mid-call (SIGKILL, the OOM
// killer, a crash, power lost) loses no call record: at the next start
// TakeJournal moves the file aside and the Writer stores it
// (WithInterruptedFile). Such a record ends at the journal's last write.
//
// The file is rewritten whole every interval (a temporary file, synced,
// then renamed over it), and removed when no call is up. Calls that ended
// since the last write are still in it: their own records, stored first,
// win (inserts skip call ids already stored).
type Journal struct {
	log   *slog.Logger
	path  string
	every time.Duration
	live  func(now time.Time) []Record

	buf   bytes.Buffer
	wrote bool // the file holds records
}

// NewJournal returns a Journal writing the records live returns to path
// every interval (0: DefaultJournalInterval). live is called from Run's
// goroutine.
func NewJournal(log *slog.Logger, path string, every time.Duration, live func(now time.Time) []Record) *Journal {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if every <= 0 {
		every = DefaultJournalInterval
	}
	return &Journal{log: log, path: path, every: every, live: live}
}

// Run writes the journal every interval until ctx ends. It leaves the
// file as it was last written: Clear removes it once every call has its
// record.
func (j *Journal) Run(ctx context.Context) error {
	tick := time.NewTicker(j.every)
	defer tick.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-tick.C:
			err := j.Write(now)
			switch {
			case err != nil && !failing:
				j.log.Error("call journal not written: calls up now lose their record if the process dies",
					"file", j.path, "err", err)
			case err == nil && failing:
				j.log.Info("call journal written again", "file", j.path)
			}
			failing = err != nil
		}
	}
}

// Write writes the records of the calls up at now (none: removes the
// file).
func (j *Journal) Write(now time.Time) error {
	recs := j.live(now)
	if len(recs) == 0 {
		if !j.wrote {
			return nil
		}
		return j.Clear()
	}
	j.buf.Reset()
	if err := encodeLines(&j.buf, recs); err != nil {
		return err
	}
	if err := writeFileAtomic(j.path, j.buf.Bytes()); err != nil {
		return err
	}
	j.wrote = true
	if j.buf.Cap() > 4<<20 && j.buf.Len() < 1<<20 {
		j.buf = bytes.Buffer{} // a peak of calls is over: let its buffer go
	}
	return nil
}

// Clear removes the journal; a missing file is no error.
func (j *Journal) Clear() error {
	if err := os.Remove(j.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("cdr: remove call journal: %w", err)
	}
	j.wrote = false
	return nil
}

// writeFileAtomic replaces path with data: a reader (or a process killed
// meanwhile) sees the old file or the new one, never a torn one.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(path))
}

// syncDir makes a rename or removal in dir durable (power loss).
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// TakeJournal moves a previous run's journal to interrupted, where the
// Writer (WithInterruptedFile) finds it; it appends when interrupted is
// still there (its store failed last time). It returns the call ids of the
// records moved. Call it before a new Journal runs on the same path.
func TakeJournal(log *slog.Logger, journal, interrupted string) ([]string, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	recs, err := readLines(log, journal)
	if err != nil {
		return nil, fmt.Errorf("cdr: read call journal: %w", err)
	}
	if len(recs) == 0 {
		if err := os.Remove(journal); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("cdr: remove call journal: %w", err)
		}
		return nil, nil
	}
	older, err := readLines(log, interrupted)
	if err != nil {
		return nil, fmt.Errorf("cdr: read interrupted calls: %w", err)
	}
	var buf bytes.Buffer
	if err := encodeLines(&buf, append(older, recs...)); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(interrupted, buf.Bytes()); err != nil {
		return nil, fmt.Errorf("cdr: write interrupted calls: %w", err)
	}
	if err := os.Remove(journal); err != nil {
		return nil, fmt.Errorf("cdr: remove call journal: %w", err)
	}
	ids := make([]string, len(recs))
	for i := range recs {
		ids[i] = recs[i].CallID
	}
	return ids, nil
}

// ReadRecords reads a file of JSON-lines records: a journal, a spill file,
// or one WriteRecords wrote. A missing file is no records; a line that
// does not parse (torn by a crash) is logged and skipped.
func ReadRecords(log *slog.Logger, path string) ([]Record, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	recs, err := readLines(log, path)
	if err != nil {
		return nil, fmt.Errorf("cdr: read %s: %w", path, err)
	}
	return recs, nil
}

// WriteRecords replaces path with recs as JSON lines, the way the journal
// is written: synced and renamed over it, so a process killed meanwhile
// leaves the old file or the new one.
func WriteRecords(path string, recs []Record) error {
	var buf bytes.Buffer
	if err := encodeLines(&buf, recs); err != nil {
		return err
	}
	if err := writeFileAtomic(path, buf.Bytes()); err != nil {
		return fmt.Errorf("cdr: write %s: %w", path, err)
	}
	return nil
}
