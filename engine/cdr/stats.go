package cdr

import "sync/atomic"

// WriterStats are the Writer's counters since NewWriter, for /metrics.
type WriterStats struct {
	Added      uint64 // records accepted by Add
	Replayed   uint64 // records read back from the spill file
	Written    uint64 // records stored (including Duplicates)
	Duplicates uint64 // records skipped because their call id was already stored
	Overflowed uint64 // records that found the queue full and waited in memory
	Retries    uint64 // failed insert attempts (each logged, then retried)
	Spilled    uint64 // records written to the spill file at Close
	Lost       uint64 // records neither stored nor spilled (each logged)
	Pending    uint64 // records accepted and not yet stored, spilled or lost
}

type writerCounters struct {
	added, replayed, written, duplicates, overflowed, retries, spilled, lost atomic.Uint64
	// lostAccepted counts the Lost records that Add had accepted.
	lostAccepted atomic.Uint64
}

// Stats returns a snapshot of the counters; safe from any goroutine.
func (w *Writer) Stats() WriterStats {
	lostAccepted := w.stats.lostAccepted.Load()
	s := WriterStats{
		Lost:       w.stats.lost.Load(),
		Spilled:    w.stats.spilled.Load(),
		Retries:    w.stats.retries.Load(),
		Overflowed: w.stats.overflowed.Load(),
		Duplicates: w.stats.duplicates.Load(),
		Written:    w.stats.written.Load(),
		Replayed:   w.stats.replayed.Load(),
		Added:      w.stats.added.Load(),
	}
	// Added is read last so the difference never underflows; lost records
	// were never counted in Added.
	if in, out := s.Added+s.Replayed, s.Written+s.Spilled+lostAccepted; in > out {
		s.Pending = in - out
	}
	return s
}
