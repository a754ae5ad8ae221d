package cdr

import (
	"context"
	"io"
	"strconv"
	"testing"
	"time"
)

// BenchmarkWriterSQLite measures rows per second through Add, batching and
// SQLite inserts, Close included (every row committed).
func BenchmarkWriterSQLite(b *testing.B) { benchmarkWriter(b, openTestSQLite(b)) }

// BenchmarkWriterPostgres is the same against LUAPBX_TEST_POSTGRES.
func BenchmarkWriterPostgres(b *testing.B) { benchmarkWriter(b, openTestPostgres(b)) }

func benchmarkWriter(b *testing.B, s Store) {
	recs := make([]Record, 1024)
	for i := range recs {
		recs[i] = sampleRecord(i)
	}
	w := NewWriter(testLogger(b), s)
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu := time.Now(), processCPU()
	for i := range b.N {
		r := recs[i%len(recs)]
		r.CallID = r.CallID + "-" + strconv.Itoa(i) // each row a new call
		w.Add(r)
	}
	if err := w.Close(context.Background()); err != nil {
		b.Fatal(err)
	}
	el, cpuUsed := time.Since(start), processCPU()-cpu
	b.StopTimer()
	if n, err := s.Count(context.Background(), Filter{}); err != nil || n != b.N {
		b.Fatalf("stored %d rows (%v), want %d", n, err, b.N)
	}
	b.ReportMetric(float64(b.N)/el.Seconds(), "rows/s")
	// CPU per row is steadier than rows/s when other work shares the machine.
	b.ReportMetric(float64(cpuUsed.Microseconds())/float64(b.N), "cpu_us/row")
}

// BenchmarkInsertSQLite measures one Insert transaction of 512 rows.
func BenchmarkInsertSQLite(b *testing.B) {
	s := openTestSQLite(b)
	batch := make([]Record, 512)
	b.ReportAllocs()
	n := 0
	start, cpu := time.Now(), processCPU()
	for b.Loop() {
		for j := range batch {
			batch[j] = sampleRecord(j)
			batch[j].CallID = strconv.Itoa(n)
			n++
		}
		if _, err := s.Insert(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "rows/s")
	b.ReportMetric(float64((processCPU()-cpu).Microseconds())/float64(n), "cpu_us/row")
}

// nopInserter accepts everything at once: it isolates Add's own cost.
type nopInserter struct{}

func (nopInserter) Insert(_ context.Context, recs []Record) (int, error) { return len(recs), nil }

// BenchmarkAdd is the cost a call pays to hand over its record, with the
// writer keeping up: Adds run in chunks of one queue, and the timer stops
// while the writer empties the queue between chunks. (A tight loop of Adds
// outruns any consumer on two cores and then measures the overflow list
// growing, which a PBX never does for long.)
func BenchmarkAdd(b *testing.B) {
	const chunk = 4096
	w := NewWriter(nil, nopInserter{}, WithQueueSize(chunk), WithBatchSize(chunk/2),
		WithFlushInterval(time.Millisecond))
	rec := sampleRecord(1)
	b.ReportAllocs()
	for i := range b.N {
		if i%chunk == 0 {
			b.StopTimer()
			waitPending(b, w)
			b.StartTimer()
		}
		w.Add(rec)
	}
	b.StopTimer()
	if err := w.Close(context.Background()); err != nil {
		b.Fatal(err)
	}
	st := w.Stats()
	if st.Written != st.Added || st.Added != uint64(b.N) {
		b.Fatalf("written %d of %d added, b.N %d", st.Written, st.Added, b.N)
	}
	b.ReportMetric(float64(st.Overflowed)/float64(b.N), "overflow/op")
}

// waitPending waits until the writer has stored everything added so far.
func waitPending(b *testing.B, w *Writer) {
	deadline := time.Now().Add(10 * time.Second)
	for w.Stats().Pending > 0 {
		if time.Now().After(deadline) {
			b.Fatalf("writer did not drain: %+v", w.Stats())
		}
		time.Sleep(50 * time.Microsecond)
	}
}

func BenchmarkWriteCSV(b *testing.B) {
	recs := make([]Record, 100)
	for i := range recs {
		recs[i] = sampleRecord(i)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := WriteCSV(io.Discard, recs); err != nil {
			b.Fatal(err)
		}
	}
}
