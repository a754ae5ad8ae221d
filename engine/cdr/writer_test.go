package cdr

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

// fakeInserter stores into memory; fail decides whether an attempt fails.
type fakeInserter struct {
	mu       sync.Mutex
	rows     map[string]Record
	attempts int
	batches  []int
	fail     func(attempt int) error
	gate     chan struct{} // when set, inserts wait until it is closed
}

func newFake(fail func(attempt int) error) *fakeInserter {
	return &fakeInserter{rows: map[string]Record{}, fail: fail}
}

func (f *fakeInserter) Insert(ctx context.Context, recs []Record) (int, error) {
	f.mu.Lock()
	f.attempts++
	attempt := f.attempts
	f.mu.Unlock()
	if f.gate != nil {
		select {
		case <-f.gate:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	if f.fail != nil {
		if err := f.fail(attempt); err != nil {
			return 0, err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, r := range recs {
		if _, dup := f.rows[r.CallID]; !dup {
			f.rows[r.CallID] = r
			n++
		}
	}
	f.batches = append(f.batches, len(recs))
	return n, nil
}

func (f *fakeInserter) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.rows)
}

var errDown = errors.New("database down")

func closeWithin(t *testing.T, w *Writer, d time.Duration) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return w.Close(ctx)
}

// TestWriterCloseFlushesEverything adds thousands of records through real
// stores and checks that Close leaves every one of them stored.
func TestWriterCloseFlushesEverything(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t testing.TB) Store) {
		s := open(t)
		// A small queue forces the overflow path too.
		w := NewWriter(testLogger(t), s, WithQueueSize(256), WithBatchSize(300),
			WithFlushInterval(time.Hour)) // only size triggers and Close flush
		const n = 5000
		for i := range n {
			w.Add(sampleRecord(i))
		}
		if err := closeWithin(t, w, 30*time.Second); err != nil {
			t.Fatalf("Close: %v", err)
		}
		got, err := s.Count(context.Background(), Filter{})
		if err != nil || got != n {
			t.Fatalf("stored %d rows (%v), want %d", got, err, n)
		}
		st := w.Stats()
		if st.Added != n || st.Written != n || st.Pending != 0 || st.Lost != 0 {
			t.Fatalf("stats after close = %+v", st)
		}
	})
}

// TestWriterConcurrentBurst has many goroutines add at once, as calls ending
// together do, with a queue too small to hold the burst.
func TestWriterConcurrentBurst(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t testing.TB) Store) {
		s := open(t)
		w := NewWriter(testLogger(t), s, WithQueueSize(64), WithBatchSize(128),
			WithFlushInterval(20*time.Millisecond))
		const goroutines, each = 64, 100
		var wg sync.WaitGroup
		for g := range goroutines {
			wg.Go(func() {
				for i := range each {
					w.Add(sampleRecord(g*each + i))
				}
			})
		}
		// The admin API reads while the writer writes.
		stop := make(chan struct{})
		readErr := make(chan error, 1)
		go func() {
			defer close(readErr)
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := s.List(context.Background(), Filter{Company: "acme", Limit: 50}); err != nil {
					readErr <- err
					return
				}
			}
		}()
		wg.Wait()
		close(stop)
		if err := <-readErr; err != nil {
			t.Fatalf("List during writes: %v", err)
		}
		if err := closeWithin(t, w, 30*time.Second); err != nil {
			t.Fatalf("Close: %v", err)
		}
		got, err := s.Count(context.Background(), Filter{})
		if err != nil || got != goroutines*each {
			t.Fatalf("stored %d rows (%v), want %d", got, err, goroutines*each)
		}
	})
}

func TestWriterFlushesOnIntervalAndBatchSize(t *testing.T) {
	tests := []struct {
		name string
		opts []WriterOption
		add  int
		// wantRows must be stored before Close: all of a partial batch
		// after an interval; at least one full batch without one.
		wantRows int
	}{
		{name: "interval flushes a partial batch", opts: []WriterOption{WithBatchSize(1000), WithFlushInterval(30 * time.Millisecond)}, add: 5, wantRows: 5},
		{name: "batch size flushes before the interval", opts: []WriterOption{WithBatchSize(10), WithFlushInterval(time.Hour)}, add: 30, wantRows: 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(nil)
			w := NewWriter(testLogger(t), f, tt.opts...)
			for i := range tt.add {
				w.Add(sampleRecord(i))
			}
			deadline := time.Now().Add(5 * time.Second)
			for f.count() < tt.wantRows && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			if got := f.count(); got < tt.wantRows {
				t.Fatalf("stored %d rows before Close, want >= %d", got, tt.wantRows)
			}
			if err := closeWithin(t, w, 5*time.Second); err != nil || f.count() != tt.add {
				t.Fatalf("after Close: %d rows stored (%v), want %d", f.count(), err, tt.add)
			}
		})
	}
}

func TestWriterRetriesFailedInserts(t *testing.T) {
	f := newFake(func(attempt int) error {
		if attempt <= 3 {
			return errDown
		}
		return nil
	})
	w := NewWriter(testLogger(t), f, WithRetryBackoff(time.Millisecond, 5*time.Millisecond),
		WithFlushInterval(5*time.Millisecond))
	for i := range 50 {
		w.Add(sampleRecord(i))
	}
	if err := closeWithin(t, w, 10*time.Second); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got := f.count(); got != 50 {
		t.Fatalf("stored %d rows, want 50", got)
	}
	if st := w.Stats(); st.Retries != 3 || st.Written != 50 {
		t.Fatalf("stats = %+v, want 3 retries and 50 written", st)
	}
}

// TestWriterCloseWhileDatabaseDown: records that cannot be stored before the
// Close deadline are spilled, and the next Writer stores them.
func TestWriterCloseWhileDatabaseDown(t *testing.T) {
	spill := filepath.Join(t.TempDir(), "cdr.spill")
	down := newFake(func(int) error { return errDown })
	w := NewWriter(testLogger(t), down, WithSpillFile(spill),
		WithRetryBackoff(5*time.Millisecond, 20*time.Millisecond), WithFlushInterval(5*time.Millisecond))
	const n = 300
	for i := range n {
		rec := sampleRecord(i)
		if i == 7 {
			rec.Explanation = []byte(`not json`) // must survive the spill file too
		}
		w.Add(rec)
	}
	err := closeWithin(t, w, 200*time.Millisecond)
	if err == nil {
		t.Fatal("Close succeeded although nothing could be stored")
	}
	if st := w.Stats(); st.Spilled != n || st.Lost != 0 || st.Pending != 0 {
		t.Fatalf("stats = %+v, want %d spilled", st, n)
	}
	if _, err := os.Stat(spill); err != nil {
		t.Fatalf("spill file: %v", err)
	}

	// Next start: the store works again; the spill file is replayed and removed.
	s := openTestSQLite(t)
	w2 := NewWriter(testLogger(t), s, WithSpillFile(spill))
	w2.Add(sampleRecord(n)) // a new call meanwhile
	if err := closeWithin(t, w2, 10*time.Second); err != nil {
		t.Fatalf("Close after replay: %v", err)
	}
	if got, _ := s.Count(context.Background(), Filter{}); got != n+1 {
		t.Fatalf("stored %d rows after replay, want %d", got, n+1)
	}
	r, err := s.Get(context.Background(), sampleRecord(7).CallID)
	if err != nil || string(r.Explanation) != "not json" {
		t.Fatalf("replayed record: %+v, %v", r.Explanation, err)
	}
	if _, err := os.Stat(spill); !os.IsNotExist(err) {
		t.Fatalf("spill file still present after replay: %v", err)
	}
	if st := w2.Stats(); st.Replayed != n {
		t.Fatalf("replayed %d, want %d", st.Replayed, n)
	}
}

func TestWriterCloseWithoutSpillFileReportsLoss(t *testing.T) {
	w := NewWriter(testLogger(t), newFake(func(int) error { return errDown }),
		WithRetryBackoff(5*time.Millisecond, 5*time.Millisecond))
	w.Add(sampleRecord(1))
	if err := closeWithin(t, w, 50*time.Millisecond); err == nil {
		t.Fatal("Close reported success for a record that was not stored")
	}
	if st := w.Stats(); st.Lost != 1 {
		t.Fatalf("stats = %+v, want 1 lost", st)
	}
}

func TestWriterAddAfterCloseAndCloseTwice(t *testing.T) {
	f := newFake(nil)
	w := NewWriter(testLogger(t), f)
	w.Add(sampleRecord(1))
	if err := closeWithin(t, w, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := closeWithin(t, w, 5*time.Second); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	w.Add(sampleRecord(2))
	if st := w.Stats(); st.Lost != 1 || st.Written != 1 || f.count() != 1 {
		t.Fatalf("stats = %+v, rows %d; want 1 written, 1 lost", st, f.count())
	}
}

// TestWriterAddDoesNotWaitForStuckDatabase: every insert hangs until the
// test lets it go; all Adds must still return, and nothing is lost after.
func TestWriterAddDoesNotWaitForStuckDatabase(t *testing.T) {
	f := newFake(nil)
	f.gate = make(chan struct{})
	w := NewWriter(testLogger(t), f, WithQueueSize(8), WithBatchSize(8))
	const n = 3 * maxFlushRows
	added := make(chan struct{})
	go func() {
		defer close(added)
		for i := range n {
			w.Add(sampleRecord(i))
		}
	}()
	select {
	case <-added:
	case <-time.After(60 * time.Second):
		t.Fatal("Add blocked while the database was stuck")
	}
	if st := w.Stats(); st.Written != 0 || st.Overflowed == 0 {
		t.Fatalf("stats while stuck = %+v, want nothing written and an overflow", st)
	}
	close(f.gate)
	if err := closeWithin(t, w, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if got := f.count(); got != n {
		t.Fatalf("stored %d rows, want %d", got, n)
	}
	// The backlog is stored in bounded transactions, not one huge one.
	f.mu.Lock()
	defer f.mu.Unlock()
	if m := slices.Max(f.batches); m > maxFlushRows || len(f.batches) < 3 {
		t.Fatalf("%d transactions, largest %d rows; want >= 3 of <= %d", len(f.batches), m, maxFlushRows)
	}
}

func TestReadSpillSkipsTornLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spill")
	if err := appendSpill(path, []Record{sampleRecord(1), sampleRecord(2)}); err != nil {
		t.Fatal(err)
	}
	fh, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(fh, `{"call_id":"torn`)
	fh.Close()
	w := &Writer{log: testLogger(t)}
	recs, err := w.readSpill(path)
	if err != nil || len(recs) != 2 || recs[1].CallID != sampleRecord(2).CallID {
		t.Fatalf("readSpill = %d records, %v", len(recs), err)
	}
}
