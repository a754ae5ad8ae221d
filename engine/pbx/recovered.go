package pbx

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"time"

	"luapbx/engine"
	"luapbx/engine/call"
	"luapbx/engine/cdr"
	"luapbx/engine/reload"
	"luapbx/engine/routing"
)

// Recovered call ends: a call the previous run left up when it was killed
// (its journal record has cause "interrupted") gets, at the next start,
// the call.end its scripts never saw, flagged `recovered = true`.
//
// Delivery is at least once. The records of those calls are written to
// the pending file (<cdr base>.recovered-events.jsonl) before the journal
// is taken over, and the file is removed only once every event was queued
// for on_event and had time to run (or the PBX shut down cleanly, which
// drains the queue). A PBX killed again before that sends them again at
// its next start.
const (
	// recoveredBurst events are queued at once, then recoveredPause
	// passes: a long list does not overflow the on_event queue (which
	// drops rather than waits) in one go.
	recoveredBurst = 32
	recoveredPause = 250 * time.Millisecond
	// recoveredGraceMax bounds how long the pending file stays after the
	// last event was queued (one event budget per event, plus a second).
	recoveredGraceMax = time.Minute
)

// recoveredFile names the pending file of the CDR files named after base.
func recoveredFile(base string) string { return base + ".recovered-events.jsonl" }

// takeRecovered returns the interrupted calls whose call.end is still to
// be sent: those of pending (a previous start did not finish sending
// them), then those of the journal a killed run left, and writes them all
// to pending before the journal is taken over. A call is left out when it
// has a complete record (in the journal, the spill file or the store):
// it ended before the kill and had its own call.end; and when it was not
// routed yet: it had sent no event at all.
func takeRecovered(ctx context.Context, log *slog.Logger, store cdr.Store, pending, journal, spill string) ([]cdr.Record, error) {
	recs, err := cdr.ReadRecords(log, pending)
	if err != nil {
		return nil, err
	}
	left, err := cdr.ReadRecords(log, journal)
	if err != nil || len(left) == 0 {
		return recs, err
	}
	spilled, err := cdr.ReadRecords(log, spill)
	if err != nil {
		log.Warn("call records: spill file unreadable, recovered call ends may repeat a call's own", "err", err)
	}
	skip := map[string]bool{}
	for _, r := range recs {
		skip[r.CallID] = true
	}
	for _, r := range append(spilled, left...) {
		if r.HangupCause != call.CauseInterrupted {
			skip[r.CallID] = true
		}
	}
	n := len(recs)
	// One bound for all the store's answers: a slow database must not
	// hold the start-up for long (a call it could not answer for is sent
	// its call.end: at least once).
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for _, r := range left {
		if skip[r.CallID] || len(r.Explanation) == 0 || storedComplete(ctx, store, r.CallID) {
			continue
		}
		skip[r.CallID] = true
		recs = append(recs, r)
	}
	if len(recs) == n {
		return recs, nil
	}
	return recs, cdr.WriteRecords(pending, recs)
}

// storedComplete says whether the store holds a call's record of another
// cause than interrupted; a store that cannot say (by ctx's deadline) is
// taken as no.
func storedComplete(ctx context.Context, store cdr.Store, id string) bool {
	if store == nil || ctx.Err() != nil {
		return false
	}
	rec, err := store.Get(ctx, id)
	return err == nil && rec.HangupCause != call.CauseInterrupted
}

// recoveredEnd builds the call.end of an interrupted call's record, with
// the fields engine/call gives a call.end (the common ones first), plus
// recovered = true. Its time is the record's end: the journal's last
// write, when the call was last known up. gateway is known for internal
// calls only (an external call's record keeps its inbound trunk). ok is
// false for a record without its routing report.
func recoveredEnd(rec cdr.Record) (engine.Event, bool) {
	var dec struct { // of the routing.Report the record keeps
		Integration bool `json:"integration"`
		Record      bool `json:"record"`
	}
	if len(rec.Explanation) == 0 || json.Unmarshal(rec.Explanation, &dec) != nil {
		return engine.Event{}, false
	}
	external := rec.CallerType == routing.External.String()
	ext, trunk, gateway := rec.From, "", rec.Trunk
	if external {
		ext, trunk, gateway = "", rec.Trunk, ""
	}
	data := map[string]any{
		"from": rec.From, "to": rec.Dialled, "company": rec.Company, "caller_type": rec.CallerType,
		"extension": ext, "trunk": trunk, "generation": rec.Generation,
		"integration": dec.Integration, "record": dec.Record,

		"duration_ms": rec.Duration.Milliseconds(), "hangup_cause": rec.HangupCause,
		"hangup_by": string(rec.HangupBy), "sip_code": rec.SIPCode, "disposition": string(rec.Disposition),
		"target": rec.Target, "number": rec.FinalNumber, "rule": rec.Rule,
		"recovered": true,
	}
	if !rec.Answer.IsZero() {
		data["answered_ms"] = rec.End.Sub(rec.Answer).Milliseconds()
	}
	if gateway != "" {
		data["gateway"] = gateway
	}
	if rec.AnsweredBy != "" {
		data["answered_by"] = rec.AnsweredBy
	}
	return engine.Event{Type: "call.end", Time: rec.End, CallID: rec.CallID, Data: data}, true
}

// sendRecovered queues the call.end of each record for s's on_event,
// filtered as the call's own events would be (its rule's integration
// flag, s's scripts.events), in bursts; then, once they had time to run,
// removes the pending file. When ctx ends first it removes the file only
// if every event was queued (a clean shutdown runs the queue); otherwise
// the next start sends them again.
func sendRecovered(ctx context.Context, log *slog.Logger, s *reload.Snapshot, recs []cdr.Record, pending string) {
	sent, queued := 0, 0
	for _, rec := range recs {
		ev, ok := recoveredEnd(rec)
		if !ok {
			continue
		}
		if queued == recoveredBurst {
			if !sleep(ctx, recoveredPause) {
				log.Warn("stopped before the call ends of interrupted calls were all sent: the next start sends them again",
					"sent", sent, "calls", len(recs))
				return
			}
			queued = 0
		}
		if integ, _ := ev.Data["integration"].(bool); wantEvents(s, integ) {
			emitFiltered(s, ev)
			sent++
			queued++
		}
	}
	log.Info("call.end sent for the calls the previous run left up (recovered, cause interrupted)",
		"sent", sent, "calls", len(recs))
	if sent > 0 {
		sleep(ctx, min(recoveredGraceMax, time.Second+time.Duration(sent)*s.Config.Scripts.EventTimeout()))
	}
	if err := os.Remove(pending); err != nil && !errors.Is(err, fs.ErrNotExist) {
		log.Error("call records: the recovered call ends' file stays: the next start sends them again",
			"file", pending, "err", err)
	}
}

// sleep waits d, or until ctx ends (false).
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
