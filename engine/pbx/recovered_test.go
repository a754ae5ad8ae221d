package pbx

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"luapbx/engine"
	"luapbx/engine/call"
	"luapbx/engine/cdr"
	"luapbx/engine/config"
	"luapbx/engine/reload"
	"luapbx/engine/routing"
)

var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// liveRecord is the journal record of a call still up, built as the PBX
// builds it (Record of call.Manager.InProgress's End).
func liveRecord(id string, caller routing.CallerType, dec routing.Decision, answered bool, gateway string) cdr.Record {
	c := &call.Call{ID: id, Start: t0, From: "201", To: "0612345678", Company: "acme", CallerType: caller,
		Decision: dec, Explanation: routing.NewReport(dec, routing.Explanation{})}
	if caller == routing.Internal {
		c.Extension = "201"
	} else {
		c.From, c.Trunk = "+39061234", "p1"
	}
	e := call.End{Call: c, End: t0.Add(90 * time.Second), Cause: call.CauseInterrupted, By: call.BySystem,
		Disposition: call.DispFailed, Gateway: gateway}
	if answered {
		e.Answered, e.Code, e.Disposition, e.AnsweredBy = t0.Add(10*time.Second), 200, call.DispAnswered, "203"
	}
	return Record(e)
}

// ended is the complete record of a call that ended.
func ended(rec cdr.Record) cdr.Record {
	rec.HangupCause, rec.HangupBy = "normal", cdr.Caller
	return rec
}

func gatewayDecision(integration bool) routing.Decision {
	return routing.Decision{Target: routing.Target{Kind: routing.TargetGateway, Arg: "out"}, Number: "0612345678",
		Rule: "mobiles", Integration: integration, Record: true}
}

func TestRecoveredEnd(t *testing.T) {
	common := func(rec cdr.Record, ext, trunk string, integration bool) map[string]any {
		return map[string]any{"from": rec.From, "to": "0612345678", "company": "acme", "caller_type": rec.CallerType,
			"extension": ext, "trunk": trunk, "generation": int64(0), "integration": integration, "record": true,
			"duration_ms": int64(90000), "hangup_cause": "interrupted", "hangup_by": "system",
			"target": "gateway:out", "number": "0612345678", "rule": "mobiles", "recovered": true}
	}
	internal := liveRecord("a", routing.Internal, gatewayDecision(true), true, "p1")
	external := liveRecord("b", routing.External, gatewayDecision(false), false, "p2")
	noReport := internal
	noReport.Explanation = nil
	cases := []struct {
		name string
		rec  cdr.Record
		ok   bool
		want map[string]any
	}{
		{"internal answered via a gateway", internal, true, with(common(internal, "201", "", true), map[string]any{
			"disposition": "answered", "sip_code": 200, "answered_ms": int64(80000), "answered_by": "203", "gateway": "p1"})},
		{"external ringing", external, true, with(common(external, "", "p1", false), map[string]any{
			"disposition": "failed", "sip_code": 0})},
		{"not routed yet", noReport, false, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ev, ok := recoveredEnd(tc.rec)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if !ok {
				return
			}
			if ev.Type != "call.end" || ev.CallID != tc.rec.CallID || !ev.Time.Equal(tc.rec.End) {
				t.Errorf("event %s of %q at %v, want call.end of %q at %v", ev.Type, ev.CallID, ev.Time, tc.rec.CallID, tc.rec.End)
			}
			if !reflect.DeepEqual(ev.Data, tc.want) {
				for _, k := range slices.Sorted(maps.Keys(with(ev.Data, tc.want))) {
					if !reflect.DeepEqual(ev.Data[k], tc.want[k]) {
						t.Errorf("data[%s] = %#v, want %#v", k, ev.Data[k], tc.want[k])
					}
				}
			}
		})
	}
}

// with is a copy of a with b's entries added.
func with(a, b map[string]any) map[string]any {
	out := maps.Clone(a)
	maps.Copy(out, b)
	return out
}

// TestTakeRecovered: which journal records get a call.end, and that the
// pending file keeps them (once each) across starts killed before sending.
func TestTakeRecovered(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	base := filepath.Join(dir, "cdr.db")
	store, err := cdr.Open(ctx, "sqlite:"+base, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	live := func(id string) cdr.Record {
		return liveRecord(id, routing.Internal, gatewayDecision(true), true, "p1")
	}
	unrouted := live("unrouted")
	unrouted.Explanation = nil
	journal := []cdr.Record{
		ended(live("just-ended")), // ended since the last write: both
		live("up-1"), live("just-ended"), live("spilled"), live("stored"), unrouted, live("up-2"),
	}
	write := func(name string, recs ...cdr.Record) {
		if err := cdr.WriteRecords(filepath.Join(dir, name), recs); err != nil {
			t.Fatal(err)
		}
	}
	write("cdr.db.journal.jsonl", journal...)
	write("cdr.db.spill.jsonl", ended(live("spilled")))
	if _, err := store.Insert(ctx, []cdr.Record{ended(live("stored"))}); err != nil {
		t.Fatal(err)
	}
	pending, j, spill := recoveredFile(base), base+".journal.jsonl", base+".spill.jsonl"
	ids := func(recs []cdr.Record) []string {
		var out []string
		for _, r := range recs {
			out = append(out, r.CallID)
		}
		return out
	}
	want := []string{"up-1", "up-2"}
	got, err := takeRecovered(ctx, slog.New(slog.DiscardHandler), store, pending, j, spill)
	if err != nil || !slices.Equal(ids(got), want) {
		t.Fatalf("takeRecovered = %q, %v; want %q", ids(got), err, want)
	}
	// Killed before the journal was taken over: the same calls, once.
	got, err = takeRecovered(ctx, slog.New(slog.DiscardHandler), store, pending, j, spill)
	if err != nil || !slices.Equal(ids(got), want) {
		t.Fatalf("again with the journal: %q, %v; want %q", ids(got), err, want)
	}
	// Killed after: the pending file alone, plus a new journal's call.
	write("cdr.db.journal.jsonl", live("up-3"))
	got, err = takeRecovered(ctx, slog.New(slog.DiscardHandler), store, pending, j, spill)
	if want := append(want, "up-3"); err != nil || !slices.Equal(ids(got), want) {
		t.Fatalf("after a second kill: %q, %v; want %q", ids(got), err, want)
	}
	onDisk, err := cdr.ReadRecords(nil, pending)
	if err != nil || !slices.Equal(ids(onDisk), ids(got)) {
		t.Fatalf("pending file holds %q, %v; want %q", ids(onDisk), err, ids(got))
	}
	if onDisk[0].HangupCause != call.CauseInterrupted || onDisk[0].Duration != 90*time.Second {
		t.Errorf("pending record %+v lost its fields", onDisk[0])
	}
}

// fakePolicy records the events it gets.
type fakePolicy struct {
	mu  sync.Mutex
	evs []engine.Event
}

func (f *fakePolicy) Offhours(*routing.Call, *routing.Decision) (routing.Change, error) {
	return routing.Change{}, nil
}
func (f *fakePolicy) Map(_ *routing.Call, n, _ string) (string, error) { return n, nil }
func (f *fakePolicy) Route(*routing.Call, *routing.Decision) (routing.Change, error) {
	return routing.Change{}, nil
}
func (f *fakePolicy) Close() {}
func (f *fakePolicy) Emit(ev engine.Event) {
	f.mu.Lock()
	f.evs = append(f.evs, ev)
	f.mu.Unlock()
}

func (f *fakePolicy) ids() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, ev := range f.evs {
		out = append(out, ev.CallID)
	}
	return out
}

// TestSendRecovered: the events follow scripts.events and the rule's
// integration flag; the pending file goes once they are all queued, and
// stays when the PBX stops before.
func TestSendRecovered(t *testing.T) {
	recs := func(n int, integration bool, prefix string) []cdr.Record {
		var out []cdr.Record
		for i := range n {
			out = append(out, liveRecord(prefix+string(rune('a'+i%26))+string(rune('a'+i/26)), routing.Internal,
				gatewayDecision(integration), false, ""))
		}
		return out
	}
	mixed := append(recs(2, true, "i-"), recs(3, false, "p-")...)
	many := recs(recoveredBurst+5, true, "m-")
	cases := []struct {
		name      string
		events    string
		recs      []cdr.Record
		stopped   bool // ctx ended before the start
		wantSent  int
		fileStays bool
	}{
		{"integration rules only", "integration", mixed, false, 2, false},
		{"all", "all", mixed, false, 5, false},
		{"more than a burst", "integration", many, false, len(many), false},
		{"stopped: all queued in one burst", "all", mixed, true, 5, false},
		{"stopped between bursts", "integration", many, true, recoveredBurst, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pending := filepath.Join(t.TempDir(), "cdr.db.recovered-events.jsonl")
			if err := cdr.WriteRecords(pending, tc.recs); err != nil {
				t.Fatal(err)
			}
			pol := &fakePolicy{}
			s := &reload.Snapshot{Policy: pol, Config: &config.Config{
				Scripts: config.Scripts{Events: tc.events, EventTimeoutMS: 1}}}
			ctx, cancel := context.WithCancel(context.Background())
			if tc.stopped {
				cancel()
			}
			defer cancel()
			start := time.Now()
			sendRecovered(ctx, slog.New(slog.DiscardHandler), s, tc.recs, pending)
			got := pol.ids()
			if len(got) != tc.wantSent {
				t.Fatalf("sent %d call.end (%q), want %d", len(got), got, tc.wantSent)
			}
			for i, id := range got {
				if ev := pol.evs[i]; ev.Type != "call.end" || ev.Data["recovered"] != true {
					t.Errorf("event %d (%s): %s, recovered %v", i, id, ev.Type, ev.Data["recovered"])
				}
			}
			_, err := os.Stat(pending)
			if stays := !errors.Is(err, fs.ErrNotExist); stays != tc.fileStays {
				t.Errorf("pending file stays = %v (%v), want %v", stays, err, tc.fileStays)
			}
			if !tc.stopped && time.Since(start) < time.Second {
				t.Errorf("pending file removed after %v, before the events had time to run", time.Since(start))
			}
		})
	}
}
