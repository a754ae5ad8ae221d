package pbx

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"luapbx/engine/admin"
	"luapbx/engine/call"
	"luapbx/engine/cdr"
	"luapbx/engine/routing"
)

// Record turns an ended call into its call record.
func Record(e call.End) cdr.Record {
	c := e.Call
	rec := cdr.Record{
		CallID: c.ID, Company: c.Company, CallerType: c.CallerType.String(), From: c.From,
		Dialled: c.To, FinalNumber: c.Decision.Number, Trunk: c.Trunk, Rule: c.Decision.Rule,
		Target: c.Decision.Target.String(), Source: cdr.Source(c.Decision.Source.String()),
		OffHours: c.Decision.Offhours, Start: c.Start, Answer: e.Answered, End: e.End,
		Duration: e.End.Sub(c.Start), Disposition: cdr.Disposition(e.Disposition), SIPCode: e.Code,
		HangupBy: cdr.Party(e.By), HangupCause: e.Cause, AnsweredBy: e.AnsweredBy,
	}
	if c.CallerType == routing.External {
		rec.DID = c.To
	}
	if rec.Trunk == "" {
		rec.Trunk = e.Gateway // the trunk that carried the call out
	}
	if c.Snapshot != nil {
		rec.Generation = int64(c.Snapshot.Generation())
	}
	if !e.Answered.IsZero() {
		rec.BillableSeconds = int64(e.End.Sub(e.Answered).Round(time.Second) / time.Second)
	}
	if c.Explanation != nil {
		if b, err := json.Marshal(c.Explanation); err == nil {
			rec.Explanation = b
		}
	}
	return rec
}

// cdrRoutes serves the call records: GET /api/cdr with filters from, to,
// since, until, disposition, company, limit and format=csv; GET
// /api/cdr/{id} with the routing explanation.
func cdrRoutes(a *admin.Server, store cdr.Store) {
	a.Handle("GET /api/cdr", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, err := cdrFilter(r)
		if err != nil {
			admin.WriteError(w, http.StatusBadRequest, err)
			return
		}
		recs, err := store.List(r.Context(), f)
		if err != nil {
			admin.WriteError(w, http.StatusInternalServerError, err)
			return
		}
		if r.URL.Query().Get("format") == "csv" {
			w.Header().Set("Content-Type", "text/csv; charset=utf-8")
			w.Header().Set("Content-Disposition", `attachment; filename="cdr.csv"`)
			_ = cdr.WriteCSV(w, recs)
			return
		}
		admin.WriteJSON(w, http.StatusOK, map[string]any{"records": nonNil(recs)})
	}))
	a.Handle("GET /api/cdr/{id}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec, err := store.Get(r.Context(), r.PathValue("id"))
		switch {
		case errors.Is(err, cdr.ErrNotFound):
			admin.WriteError(w, http.StatusNotFound, err)
		case err != nil:
			admin.WriteError(w, http.StatusInternalServerError, err)
		default:
			admin.WriteJSON(w, http.StatusOK, rec)
		}
	}))
}

func cdrFilter(r *http.Request) (cdr.Filter, error) {
	q := r.URL.Query()
	f := cdr.Filter{From: q.Get("from"), To: q.Get("to"), Company: q.Get("company"),
		Disposition: cdr.Disposition(q.Get("disposition"))}
	if f.Disposition != "" && !f.Disposition.Valid() {
		return f, errors.New("bad disposition (want answered, no_answer, busy, failed or rejected)")
	}
	for name, dst := range map[string]*time.Time{"since": &f.Since, "until": &f.Until} {
		if v := q.Get(name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return f, errors.New(name + ": want RFC 3339, e.g. 2026-11-23T10:00:00Z")
			}
			*dst = t
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return f, errors.New("limit: want a positive number")
		}
		f.Limit = n
	}
	return f, nil
}

// openCDR opens the store of the config, its batching writer and the
// journal of calls in progress; the writer's files are named after base
// (var/cdr.db: var/cdr.db.spill.jsonl, ...). Calls a killed previous run
// left in its journal are stored as interrupted, and Run sends their
// call.end (recovered.go).
func openCDR(ctx context.Context, p *PBX, dsn, base string) error {
	store, err := cdr.Open(ctx, dsn, p.log)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(base), 0o750); err != nil {
		store.Close()
		return err
	}
	unlock, err := cdr.LockFiles(base + ".lock")
	if err != nil {
		store.Close()
		return err
	}
	p.unlockCDR = unlock
	journal, interrupted := base+".journal.jsonl", base+".interrupted.jsonl"
	// Before the journal is taken over: the call.end of the calls it left
	// up goes to a file of its own until sent (recovered.go).
	p.pending = recoveredFile(base)
	p.recovered, err = takeRecovered(ctx, p.log, store, p.pending, journal, base+".spill.jsonl")
	if err != nil {
		p.log.Error("call records: the calls the previous run left up get their call.end only if this run lives long enough to send it",
			"err", err, "calls", len(p.recovered))
	}
	switch ids, err := cdr.TakeJournal(p.log, journal, interrupted); {
	case err != nil:
		// Moved aside, not overwritten by this run's journal: its records
		// can still be stored by hand (JSON lines).
		aside := journal + ".failed-" + time.Now().UTC().Format("20060102T150405")
		p.log.Error("call records: the previous run's journal could not be taken over; moved aside",
			"err", err, "file", aside, "rename_err", os.Rename(journal, aside))
	case len(ids) > 0:
		p.log.Warn("the previous run stopped with calls up (or records unstored): they are stored now, a call still up as interrupted",
			"calls", len(ids), "call_ids", strings.Join(ids[:min(len(ids), 20)], ","), "file", interrupted)
	}
	p.store = store
	p.cdrw = cdr.NewWriter(p.log, store, cdr.WithSpillFile(base+".spill.jsonl"), cdr.WithInterruptedFile(interrupted),
		cdr.WithUnstored())
	p.journal = cdr.NewJournal(p.log, journal, 0, p.inProgress)
	return nil
}

// inProgress is what the call records would lose if the process died now:
// the records of ended calls the writer holds but has not stored yet (a
// slow database, or only the next flush), then those the calls still up
// would get. A call just ending can be in both: its complete record comes
// first, and the next start stores the first of a call id.
func (p *PBX) inProgress(now time.Time) []cdr.Record {
	recs := p.cdrw.Unstored()
	ends := p.calls.InProgress(now)
	for _, e := range ends {
		rec := Record(e)
		rec.RecordingPath = p.media.RecordingFile(e.Call)
		recs = append(recs, rec)
	}
	return recs
}
