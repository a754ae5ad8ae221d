package cdr

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Writer batches records into an Inserter off the call path.
//
// Add never waits for I/O: it copies the record into a buffered channel, and
// when the channel is full (the database is slow or down) into an in-memory
// overflow list that the writer goroutine drains next. Nothing is dropped and
// no call waits; the price is memory while the database is unavailable
// (a record is ~0.5-2 kB, so 100 calls/s during a 10-minute outage hold
// ~60,000 records, ~100 MB). A bounded wait was rejected: it either blocks
// the call goroutine on database I/O, or gives up and loses the record.
//
// The goroutine flushes every flush interval or batch size rows, in one
// transaction, and retries a failed batch with exponential backoff (every
// failure logged) until it is stored. Close stops accepting records, drains
// everything and keeps retrying until its context ends; what still could not
// be stored is appended to the spill file (WithSpillFile), which the next
// Writer replays on start. Inserts skip call ids already stored, so replays
// and retries of a batch whose commit outcome was unknown never duplicate.
type Writer struct {
	log *slog.Logger
	ins Inserter
	cfg writerConfig
	ch  chan Record

	mu     sync.RWMutex // Add holds it shared; Close takes it to set closed
	closed bool

	ovMu     sync.Mutex
	overflow []Record

	// unstored holds, by call id, the records added and not yet stored or
	// spilled, when WithUnstored asked for them (nil otherwise).
	unMu     sync.Mutex
	unstored map[string]Record

	kick      chan struct{} // cap 1: a batch is ready
	closing   chan struct{}
	closeOnce sync.Once
	closeCtx  context.Context // written before closing is closed
	done      chan struct{}
	closeErr  error // written before done is closed

	stats writerCounters
	// lastOverflowLog rate-limits the "queue full" warning (writer goroutine only).
	lastOverflowLog time.Time
}

type writerConfig struct {
	queue           int
	batch           int
	interval        time.Duration
	spillPath       string
	interruptedPath string
	trackUnstored   bool
	attemptTimeout  time.Duration
	minBackoff      time.Duration
	maxBackoff      time.Duration
}

// WriterOption configures a Writer.
type WriterOption func(*writerConfig)

// WithQueueSize sets the channel capacity (default 4096 records).
func WithQueueSize(n int) WriterOption {
	return func(c *writerConfig) { c.queue = max(n, 1) }
}

// WithBatchSize sets how many queued rows trigger a flush (default 512).
func WithBatchSize(n int) WriterOption {
	return func(c *writerConfig) { c.batch = max(n, 1) }
}

// WithFlushInterval sets the longest time a record waits for its batch
// (default 200 ms).
func WithFlushInterval(d time.Duration) WriterOption {
	return func(c *writerConfig) {
		if d > 0 {
			c.interval = d
		}
	}
}

// WithSpillFile names a JSON-lines file that receives the records Close
// could not store before its context ended, and that NewWriter replays into
// the store (then removes). Without it such records are logged as lost.
func WithSpillFile(path string) WriterOption {
	return func(c *writerConfig) { c.spillPath = path }
}

// WithInterruptedFile names the file TakeJournal moved a previous run's
// journal to: NewWriter stores its records (after the spill file's) and
// removes it.
func WithInterruptedFile(path string) WriterOption {
	return func(c *writerConfig) { c.interruptedPath = path }
}

// WithUnstored makes the Writer keep the records it holds but has not
// stored or spilled yet, for Unstored: a journal of calls in progress adds
// them, so that a process killed before its writer caught up (a slow or
// unreachable database, or just the next flush) loses none.
func WithUnstored() WriterOption {
	return func(c *writerConfig) { c.trackUnstored = true }
}

// WithRetryBackoff sets the wait after the first failed insert and its cap
// (defaults 100 ms and 5 s); the wait doubles after each failure.
func WithRetryBackoff(first, limit time.Duration) WriterOption {
	return func(c *writerConfig) {
		if first > 0 {
			c.minBackoff = first
		}
		c.maxBackoff = max(limit, c.minBackoff)
	}
}

// WithAttemptTimeout bounds one insert attempt (default 10 s), so a hung
// connection turns into a retry.
func WithAttemptTimeout(d time.Duration) WriterOption {
	return func(c *writerConfig) {
		if d > 0 {
			c.attemptTimeout = d
		}
	}
}

// maxFlushRows bounds one transaction of the Writer.
const maxFlushRows = 8192

// NewWriter starts a Writer feeding ins. Close must be called to stop it.
func NewWriter(log *slog.Logger, ins Inserter, opts ...WriterOption) *Writer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg := writerConfig{
		queue:          4096,
		batch:          512,
		interval:       200 * time.Millisecond,
		attemptTimeout: 10 * time.Second,
		minBackoff:     100 * time.Millisecond,
		maxBackoff:     5 * time.Second,
	}
	for _, o := range opts {
		o(&cfg)
	}
	cfg.batch = min(cfg.batch, cfg.queue) // a full queue is a full batch
	w := &Writer{
		log:     log,
		ins:     ins,
		cfg:     cfg,
		ch:      make(chan Record, cfg.queue),
		kick:    make(chan struct{}, 1),
		closing: make(chan struct{}),
		done:    make(chan struct{}),
	}
	if cfg.trackUnstored {
		w.unstored = make(map[string]Record)
	}
	go w.run()
	return w
}

// Add queues rec for storage. It never blocks on I/O and never drops a
// record, except after Close has begun: such a record is logged as lost
// (the server must end its calls before closing the Writer). The caller
// must not modify rec.Explanation afterwards.
func (w *Writer) Add(rec Record) {
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		w.stats.lost.Add(1)
		w.log.Error("cdr record added after writer close: not stored", "call_id", rec.CallID)
		return
	}
	w.stats.added.Add(1)
	if w.unstored != nil {
		w.unMu.Lock()
		w.unstored[rec.CallID] = rec
		w.unMu.Unlock()
	}
	select {
	case w.ch <- rec:
		if len(w.ch) >= w.cfg.batch {
			w.wake()
		}
	default:
		w.ovMu.Lock()
		w.overflow = append(w.overflow, rec)
		w.ovMu.Unlock()
		w.stats.overflowed.Add(1)
		w.wake()
	}
	w.mu.RUnlock()
}

// wake tells the writer goroutine a batch is ready. The goroutine does not
// wait on the queue itself: waking it for every record would cost each
// call a goroutine switch.
func (w *Writer) wake() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// Close stops accepting records and stores every pending one, retrying
// until ctx ends; records still unstored then go to the spill file. It
// returns an error when any record was spilled or lost. Safe to call twice;
// later calls wait for the first and return its result.
func (w *Writer) Close(ctx context.Context) error {
	w.closeOnce.Do(func() {
		w.mu.Lock()
		w.closed = true
		w.mu.Unlock()
		w.closeCtx = ctx
		close(w.closing)
	})
	<-w.done
	return w.closeErr
}

// run is the writer goroutine.
func (w *Writer) run() {
	defer close(w.done)
	if !w.replay() {
		w.final(nil)
		return
	}
	tick := time.NewTicker(w.cfg.interval)
	defer tick.Stop()
	batch := make([]Record, 0, w.cfg.batch)
	for {
		select {
		case <-tick.C:
		case <-w.kick:
		case <-w.closing:
			w.final(batch)
			return
		}
		batch = w.drainQueue(batch, cap(w.ch))
		batch = w.takeOverflow(batch)
		if rest := w.flushAll(batch); len(rest) > 0 {
			w.final(rest) // closing and out of time
			return
		}
		if len(w.ch) >= w.cfg.batch {
			w.wake() // more arrived during the flush
		}
		batch = reuse(batch, w.cfg.batch)
	}
}

// reuse empties batch for the next round, dropping a backing array that an
// outage's overflow made much larger than a batch.
func reuse(batch []Record, size int) []Record {
	if cap(batch) > 8*size {
		return make([]Record, 0, size)
	}
	clear(batch)
	return batch[:0]
}

// flushAll stores batch in transactions of at most maxFlushRows, so that a
// backlog after an outage fits in the attempt timeout. It returns the part
// not stored, empty unless the Writer is closing and out of time.
func (w *Writer) flushAll(batch []Record) []Record {
	for len(batch) > 0 {
		n := min(len(batch), maxFlushRows)
		if !w.flush(batch[:n]) {
			return batch
		}
		batch = batch[n:]
	}
	return nil
}

// takeOverflow appends the overflow list to batch.
func (w *Writer) takeOverflow(batch []Record) []Record {
	w.ovMu.Lock()
	ov := w.overflow
	w.overflow = nil
	w.ovMu.Unlock()
	if len(ov) == 0 {
		return batch
	}
	if now := time.Now(); now.Sub(w.lastOverflowLog) > 10*time.Second {
		w.lastOverflowLog = now
		w.log.Warn("cdr queue full: records held in memory until the database keeps up",
			"overflow", len(ov), "queue", cap(w.ch))
	}
	return append(batch, ov...)
}

// drainQueue appends up to limit queued records to batch without waiting.
func (w *Writer) drainQueue(batch []Record, limit int) []Record {
	for range limit {
		select {
		case rec := <-w.ch:
			batch = append(batch, rec)
		default:
			return batch
		}
	}
	return batch
}

// final stores batch and everything still queued; Add can no longer run.
func (w *Writer) final(batch []Record) {
	batch = w.drainQueue(batch, len(w.ch))
	batch = w.takeOverflow(batch)
	if len(batch) == 0 {
		return
	}
	if w.closeCtx.Err() == nil {
		batch = w.flushAll(batch)
		if len(batch) == 0 {
			return
		}
	}
	if err := w.spill(batch); err != nil {
		w.closeErr = err
	}
}

// flush stores batch, retrying until it succeeds. It returns false only
// when the Writer is closing and the Close context has ended.
func (w *Writer) flush(batch []Record) bool {
	backoff := w.cfg.minBackoff
	for attempt := 1; ; attempt++ {
		ctx, cancel := w.attemptContext()
		n, err := w.ins.Insert(ctx, batch)
		cancel()
		if err == nil {
			w.stored(batch, n, attempt)
			return true
		}
		w.stats.retries.Add(1)
		w.log.Error("cdr insert failed; retrying", "rows", len(batch), "attempt", attempt,
			"retry_in", backoff.String(), "err", err)
		if !w.sleep(backoff) {
			return false
		}
		backoff = min(2*backoff, w.cfg.maxBackoff)
	}
}

// Unstored returns the records added and not yet stored or spilled (nil
// without WithUnstored).
func (w *Writer) Unstored() []Record {
	if w.unstored == nil {
		return nil
	}
	w.unMu.Lock()
	defer w.unMu.Unlock()
	out := make([]Record, 0, len(w.unstored))
	for _, r := range w.unstored {
		out = append(out, r)
	}
	return out
}

// settled drops batch's records from the unstored ones: stored or spilled.
func (w *Writer) settled(batch []Record) {
	if w.unstored == nil {
		return
	}
	w.unMu.Lock()
	for i := range batch {
		delete(w.unstored, batch[i].CallID)
	}
	w.unMu.Unlock()
}

func (w *Writer) stored(batch []Record, inserted, attempts int) {
	w.settled(batch)
	w.stats.written.Add(uint64(len(batch)))
	if dup := len(batch) - inserted; dup > 0 {
		w.stats.duplicates.Add(uint64(dup))
		w.log.Warn("cdr records skipped: call id already stored", "rows", len(batch), "duplicates", dup)
	}
	if attempts > 1 {
		w.log.Info("cdr insert succeeded after retries", "rows", len(batch), "attempts", attempts)
	}
}

func (w *Writer) isClosing() bool {
	select {
	case <-w.closing:
		return true
	default:
		return false
	}
}

// attemptContext bounds one insert: by the attempt timeout, and once the
// Writer is closing, also by the Close context.
func (w *Writer) attemptContext() (context.Context, context.CancelFunc) {
	parent := context.Background()
	if w.isClosing() {
		parent = w.closeCtx
	}
	return context.WithTimeout(parent, w.cfg.attemptTimeout)
}

// sleep waits d before a retry. When Close begins meanwhile it returns at
// once to retry within the Close deadline; it returns false when that
// deadline has passed.
func (w *Writer) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	if !w.isClosing() {
		select {
		case <-t.C:
			return true
		case <-w.closing:
			return w.closeCtx.Err() == nil
		}
	}
	select {
	case <-t.C:
		return w.closeCtx.Err() == nil
	case <-w.closeCtx.Done():
		return false
	}
}
