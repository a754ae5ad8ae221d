package cdr

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// interruptedRecord is sampleRecord(i) as a journal writes it for a call
// still up at now.
func interruptedRecord(i int, now time.Time) Record {
	r := sampleRecord(i)
	r.End, r.Duration, r.HangupBy = now, now.Sub(r.Start), System
	return r
}

func readAll(t *testing.T, path string) []Record {
	t.Helper()
	recs, err := readLines(testLogger(t), path)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func TestJournalWriteAndClear(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cdr.journal.jsonl")
	var live []Record
	j := NewJournal(testLogger(t), path, 0, func(time.Time) []Record { return live })
	now := baseTime.Add(time.Hour)

	// No call up, nothing written yet: no file.
	if err := j.Write(now); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("journal without calls: %v", err)
	}
	for _, tc := range []struct {
		name  string
		calls []int
	}{
		{"two calls up", []int{1, 2}},
		{"one ended, one new", []int{2, 3}},
	} {
		live = nil
		for _, i := range tc.calls {
			live = append(live, interruptedRecord(i, now))
		}
		if err := j.Write(now); err != nil {
			t.Fatal(err)
		}
		got := readAll(t, path)
		if len(got) != len(tc.calls) {
			t.Fatalf("%s: %d records, want %d", tc.name, len(got), len(tc.calls))
		}
		for k, i := range tc.calls {
			if got[k].CallID != sampleRecord(i).CallID || !got[k].End.Equal(now) ||
				string(got[k].Explanation) != string(sampleRecord(i).Explanation) {
				t.Errorf("%s: record %d = %+v", tc.name, k, got[k])
			}
		}
		if _, err := os.Stat(path + ".tmp"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: temporary file left: %v", tc.name, err)
		}
	}
	// The last call ended: the file goes.
	live = nil
	if err := j.Write(now); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("journal after the last call: %v", err)
	}
}

func TestJournalRunWritesEveryInterval(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cdr.journal.jsonl")
	live := func(now time.Time) []Record { return []Record{interruptedRecord(1, now)} }
	j := NewJournal(testLogger(t), path, 20*time.Millisecond, live)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- j.Run(ctx) }()
	var first time.Time
	for range 200 {
		if recs, err := readLines(testLogger(t), path); err == nil && len(recs) == 1 {
			if first.IsZero() {
				first = recs[0].End
			} else if recs[0].End.After(first) {
				break // rewritten with a later end
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	recs := readAll(t, path)
	if first.IsZero() || len(recs) != 1 || !recs[0].End.After(first) {
		t.Fatalf("journal not rewritten: first end %v, now %+v", first, recs)
	}
}

func TestTakeJournal(t *testing.T) {
	dir := t.TempDir()
	journal, interrupted := filepath.Join(dir, "j.jsonl"), filepath.Join(dir, "i.jsonl")
	now := baseTime.Add(time.Hour)
	write := func(path string, ids ...int) {
		var recs []Record
		for _, i := range ids {
			recs = append(recs, interruptedRecord(i, now))
		}
		j := NewJournal(testLogger(t), path, 0, func(time.Time) []Record { return recs })
		if err := j.Write(now); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(path string) []string {
		var out []string
		for _, r := range readAll(t, path) {
			out = append(out, r.CallID)
		}
		return out
	}

	// No journal: nothing to take.
	if n, err := TakeJournal(testLogger(t), journal, interrupted); len(n) != 0 || err != nil {
		t.Fatalf("no journal: %q, %v", n, err)
	}
	if _, err := os.Stat(interrupted); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("interrupted file made from nothing: %v", err)
	}
	// A journal moves aside.
	write(journal, 1, 2)
	if n, err := TakeJournal(testLogger(t), journal, interrupted); len(n) != 2 || err != nil {
		t.Fatalf("take: %q, %v", n, err)
	}
	if _, err := os.Stat(journal); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("journal still there: %v", err)
	}
	// Another before the first was stored: appended.
	write(journal, 3)
	if n, err := TakeJournal(testLogger(t), journal, interrupted); len(n) != 1 || err != nil {
		t.Fatalf("second take: %q, %v", n, err)
	}
	want := []string{sampleRecord(1).CallID, sampleRecord(2).CallID, sampleRecord(3).CallID}
	if got := ids(interrupted); len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("interrupted calls %v, want %v", got, want)
	}
}

// TestWriterStoresInterruptedAfterSpill: a call whose complete record was
// spilled at the last stop keeps it; the journal's version of it (also
// there when the process died between the two) is skipped, the other
// interrupted calls are stored, and both files go.
func TestWriterStoresInterruptedAfterSpill(t *testing.T) {
	dir := t.TempDir()
	spill, interrupted := filepath.Join(dir, "s.jsonl"), filepath.Join(dir, "i.jsonl")
	now := baseTime.Add(time.Hour)
	complete := sampleRecord(4)
	complete.HangupBy = Caller
	if err := appendSpill(spill, []Record{complete}); err != nil {
		t.Fatal(err)
	}
	recs := []Record{interruptedRecord(4, now), interruptedRecord(5, now)}
	j := NewJournal(testLogger(t), interrupted, 0, func(time.Time) []Record { return recs })
	if err := j.Write(now); err != nil {
		t.Fatal(err)
	}

	s := openTestSQLite(t)
	w := NewWriter(testLogger(t), s, WithSpillFile(spill), WithInterruptedFile(interrupted))
	if err := closeWithin(t, w, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if got, _ := s.Count(ctx, Filter{}); got != 2 {
		t.Fatalf("stored %d rows, want 2", got)
	}
	if r, err := s.Get(ctx, complete.CallID); err != nil || r.HangupBy != Caller || !r.End.Equal(complete.End) {
		t.Errorf("spilled call: %+v, %v; want its complete record", r, err)
	}
	if r, err := s.Get(ctx, sampleRecord(5).CallID); err != nil || r.HangupBy != System || !r.End.Equal(now) {
		t.Errorf("interrupted call: %+v, %v", r, err)
	}
	for _, p := range []string{spill, interrupted} {
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s left after replay: %v", p, err)
		}
	}
}

// TestJournalKeepsUnstoredRecords: a call that ended while the database
// was down has its complete record only in the writer; a journal that
// adds Unstored keeps it through a kill, and the next start stores it.
func TestJournalKeepsUnstoredRecords(t *testing.T) {
	dir := t.TempDir()
	journal, interrupted := filepath.Join(dir, "j.jsonl"), filepath.Join(dir, "i.jsonl")
	now := baseTime.Add(time.Hour)

	// Run 1: the database is down; call 1 ends, call 2 is still up.
	down := newFake(func(int) error { return errors.New("database down") })
	w1 := NewWriter(testLogger(t), down, WithUnstored(), WithRetryBackoff(5*time.Millisecond, 5*time.Millisecond))
	ended := sampleRecord(1)
	w1.Add(ended)
	if got := w1.Unstored(); len(got) != 1 || got[0].CallID != ended.CallID {
		t.Fatalf("unstored %+v, want call 1", got)
	}
	j := NewJournal(testLogger(t), journal, 0, func(now time.Time) []Record {
		return append(w1.Unstored(), interruptedRecord(2, now))
	})
	if err := j.Write(now); err != nil {
		t.Fatal(err)
	}
	// SIGKILL here: w1 never stores call 1 (stopped only so the test
	// leaks nothing; without a spill file its records are lost).
	cctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = w1.Close(cctx)

	// Run 2: the database is back.
	if n, err := TakeJournal(testLogger(t), journal, interrupted); len(n) != 2 || err != nil {
		t.Fatalf("take: %q, %v", n, err)
	}
	s := openTestSQLite(t)
	w2 := NewWriter(testLogger(t), s, WithInterruptedFile(interrupted))
	if err := closeWithin(t, w2, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if r, err := s.Get(ctx, ended.CallID); err != nil || r.HangupBy != ended.HangupBy || !r.End.Equal(ended.End) {
		t.Errorf("ended call: %+v, %v; want its complete record", r, err)
	}
	if r, err := s.Get(ctx, sampleRecord(2).CallID); err != nil || !r.End.Equal(now) {
		t.Errorf("call up at the kill: %+v, %v", r, err)
	}
}

// TestWriterUnstoredEmptiesWhenStored: stored or spilled records leave
// Unstored.
func TestWriterUnstoredEmptiesWhenStored(t *testing.T) {
	s := openTestSQLite(t)
	w := NewWriter(testLogger(t), s, WithUnstored(), WithFlushInterval(5*time.Millisecond))
	for i := range 3 {
		w.Add(sampleRecord(i))
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(w.Unstored()) > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := w.Unstored(); len(got) != 0 {
		t.Errorf("%d records still unstored after the flush", len(got))
	}
	if err := closeWithin(t, w, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Count(context.Background(), Filter{}); n != 3 {
		t.Errorf("stored %d, want 3", n)
	}
}
