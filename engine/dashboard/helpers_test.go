package dashboard

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"luapbx/engine/ban"
	"luapbx/engine/call"
	"luapbx/engine/cdr"
	"luapbx/engine/registrar"
	"luapbx/engine/reload"
	"luapbx/engine/routing"
	"luapbx/engine/trunk"
)

// t0 is the fake clock's "now".
var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// fixture is a Source's data; source() wraps it in function fields.
type fixture struct {
	calls     []call.Info
	exts      []registrar.Binding
	trunks    []trunk.State
	bans      []ban.Entry
	status    reload.Status
	recent    []cdr.Record
	recentErr error
	gotLimit  int
}

func (f *fixture) source() Source {
	return Source{
		Calls:      func() []call.Info { return f.calls },
		Extensions: func() []registrar.Binding { return f.exts },
		Trunks:     func() []trunk.State { return f.trunks },
		Bans:       func() []ban.Entry { return f.bans },
		Reload:     func() reload.Status { return f.status },
		RecentCalls: func(_ context.Context, limit int) ([]cdr.Record, error) {
			f.gotLimit = limit
			return f.recent, f.recentErr
		},
		Now: func() time.Time { return t0 },
	}
}

func explanation(t testing.TB, ex routing.Explanation) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(ex)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fullFixture has one of everything, with distinctive values.
func fullFixture(t testing.TB) *fixture {
	return &fixture{
		calls: []call.Info{{
			CallID: "c1@pbx", State: call.StateAnswered, From: "201", To: "0612345678", Company: "acme",
			Target: "gateway:p1", Rule: "mobiles", Start: t0.Add(-95 * time.Second), Answered: t0.Add(-30 * time.Second),
			Legs: []call.LegInfo{{CallID: "b1", Name: "p1", URI: "sip:0612345678@gw", State: "answered"}},
		}},
		exts: []registrar.Binding{
			{AOR: "202", ContactURI: "sip:202@10.0.0.2:5060", Source: "10.0.0.2:5060", Transport: "UDP", Expires: t0.Add(time.Minute), UserAgent: "Yealink"},
			{AOR: "201", ContactURI: "sip:201@10.0.0.1:5060", Source: "10.0.0.1:5060", Transport: "UDP", Expires: t0.Add(time.Hour)},
		},
		trunks: []trunk.State{
			{ID: "p2", Host: "sip.other.example", Up: false, Register: true, LastCode: 403, LastError: "forbidden", Failures: 3},
			{ID: "p1", Host: "sip.carrier.example", Up: true, Register: true, Registered: true, Expires: t0.Add(time.Hour), LastCode: 200},
		},
		bans:   []ban.Entry{{IP: "198.51.100.7", Failures: 5, Banned: true, BannedUntil: t0.Add(10 * time.Minute)}},
		status: reload.Status{Generation: 7, LoadedAt: t0.Add(-time.Hour), LastAttempt: t0.Add(-time.Minute), LastReason: "watch", LastError: "rules[3]: unknown target \"voicemial:201\"", Reloads: 6, Failures: 1},
		recent: []cdr.Record{
			{
				CallID: "r1@pbx", From: "201", Dialled: "0612345678", FinalNumber: "+33612345678", Rule: "mobiles", Target: "gateway:p1",
				Source: cdr.SourceBuiltin, Start: t0.Add(-10 * time.Minute), Duration: 65 * time.Second, BillableSeconds: 60,
				Disposition: cdr.Answered, SIPCode: 200, HangupBy: cdr.Caller, HangupCause: "normal", AnsweredBy: "p1",
				RecordingPath: "/var/rec/2026/11/23/r1.wav",
				Explanation: explanation(t, routing.Explanation{
					Candidates: []routing.Candidate{
						{Step: 0, Number: "0612345678", Rule: "mobiles", Called: "06XXXXXXXX", Calling: "*", Matched: true, Won: true, Why: "most specific called pattern"},
						{Step: 0, Number: "0612345678", Rule: "national", Called: "0[1-9]XXXXXXXX", Calling: "*", Matched: true, Why: "less specific than mobiles"},
					},
					Maps:  []routing.MapStep{{Rule: "e164", From: "0612345678", To: "+33612345678"}},
					Notes: []string{"caller rights: national"},
				}),
			},
			{CallID: "r2@pbx", From: "202", Dialled: "999", Disposition: cdr.Rejected, SIPCode: 404, Start: t0.Add(-20 * time.Minute)},
		},
	}
}

// get serves one request to h and returns the status, headers and body.
func get(t testing.TB, h http.Handler, target string) (int, http.Header, string) {
	t.Helper()
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, httptest.NewRequest(http.MethodGet, target, nil))
	res := rr.Result()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, res.Header, string(b)
}

// fakeRecords is a Records over a map.
type fakeRecords map[string]cdr.Record

func (f fakeRecords) Get(_ context.Context, id string) (cdr.Record, error) {
	if id == "broken" {
		return cdr.Record{}, fmt.Errorf("database is locked")
	}
	r, ok := f[id]
	if !ok {
		return cdr.Record{}, fmt.Errorf("get %q: %w", id, cdr.ErrNotFound)
	}
	return r, nil
}
