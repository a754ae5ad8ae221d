package cdr

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
)

// spillLine is one line of the spill file. The explanation is kept as a
// string so that a malformed explanation cannot make the line unwritable.
type spillLine struct {
	Record
	Explanation string `json:"explanation,omitempty"`
}

// maxSpillLine bounds one line of the spill file when reading it back.
const maxSpillLine = 16 << 20

// spill appends recs to the spill file; without one, or when that fails,
// it logs every call id as lost. It returns the error Close reports.
func (w *Writer) spill(recs []Record) error {
	path := w.cfg.spillPath
	if path == "" {
		w.lose(recs, errors.New("no spill file configured"))
		return fmt.Errorf("cdr: %d records not stored before the close deadline (no spill file)", len(recs))
	}
	if err := appendSpill(path, recs); err != nil {
		w.lose(recs, err)
		return fmt.Errorf("cdr: %d records not stored before the close deadline: spill: %w", len(recs), err)
	}
	w.settled(recs)
	w.stats.spilled.Add(uint64(len(recs)))
	w.log.Error("cdr records not stored before the close deadline: spilled, will be replayed at next start",
		"rows", len(recs), "spill_file", path)
	return fmt.Errorf("cdr: %d records not stored before the close deadline: spilled to %s", len(recs), path)
}

func (w *Writer) lose(recs []Record, why error) {
	w.stats.lost.Add(uint64(len(recs)))
	w.stats.lostAccepted.Add(uint64(len(recs)))
	for i := range recs {
		w.log.Error("cdr record lost", "call_id", recs[i].CallID, "err", why)
	}
}

func appendSpill(path string, recs []Record) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(f)
	if err := encodeLines(bw, recs); err != nil {
		f.Close()
		return err
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// encodeLines writes recs as JSON lines (the spill and journal format).
func encodeLines(out io.Writer, recs []Record) error {
	enc := json.NewEncoder(out)
	for i := range recs {
		line := spillLine{Record: recs[i], Explanation: string(recs[i].Explanation)}
		if err := enc.Encode(&line); err != nil {
			return err
		}
	}
	return nil
}

// readSpill reads the spill file; a missing file is no records. Lines that
// do not parse (a torn last line after a crash) are skipped and logged.
func (w *Writer) readSpill(path string) ([]Record, error) {
	return readLines(w.log, path)
}

// readLines reads a file of JSON-lines records; a missing file is no
// records, a line that does not parse (torn by a crash) is logged and
// skipped.
func readLines(log *slog.Logger, path string) ([]Record, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), maxSpillLine)
	var recs []Record
	for n := 1; sc.Scan(); n++ {
		var line spillLine
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			log.Error("cdr: bad line skipped", "file", path, "line", n, "err", err)
			continue
		}
		line.Record.Explanation = []byte(line.Explanation)
		if line.Explanation == "" {
			line.Record.Explanation = nil
		}
		recs = append(recs, line.Record)
	}
	return recs, sc.Err()
}

// replay stores the records of a previous run's spill file, then those
// of its interrupted calls (WithInterruptedFile), removing each file once
// stored. The spill goes first: it holds the complete records of calls
// that ended, which an interrupted call's record (same call id) must not
// replace. It returns false when Close ended the attempt; the files then
// stay for the next start.
func (w *Writer) replay() bool {
	return w.replayFile(w.cfg.spillPath, "spill file") && w.replayFile(w.cfg.interruptedPath, "interrupted calls")
}

func (w *Writer) replayFile(path, what string) bool {
	if path == "" {
		return true
	}
	recs, err := w.readSpill(path)
	if err != nil {
		w.log.Error("cdr "+what+" unreadable; left in place", "file", path, "err", err)
		return true
	}
	if len(recs) == 0 {
		return true
	}
	w.stats.replayed.Add(uint64(len(recs)))
	w.log.Info("cdr replaying "+what, "file", path, "rows", len(recs))
	if rest := w.flushAll(recs); len(rest) > 0 {
		w.stats.spilled.Add(uint64(len(rest))) // still in the file
		return false
	}
	if err := os.Remove(path); err != nil {
		w.log.Error("cdr "+what+" replayed but not removed", "file", path, "err", err)
	}
	return true
}
