package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"luapbx/engine/phone"
	"luapbx/tests/harness"
)

// postedEvent is what events.lua posts for each on_event call.
type postedEvent struct {
	Type    string         `json:"type"`
	CallID  string         `json:"call_id"`
	Data    map[string]any `json:"data"`
	Version int            `json:"version"` // the script's VERSION, when it sends one
}

// eventSink is a local HTTP service standing for a CRM's webhook.
type eventSink struct {
	mu  sync.Mutex
	evs []postedEvent
}

func (s *eventSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var ev postedEvent
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, &ev); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.evs = append(s.evs, ev)
	s.mu.Unlock()
}

// of returns the events of one call, in the order they arrived.
func (s *eventSink) of(callID string) []postedEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []postedEvent
	for _, ev := range s.evs {
		if ev.CallID == callID {
			out = append(out, ev)
		}
	}
	return out
}

// startEventSink serves a new eventSink on 127.0.0.1 and returns its URL.
func startEventSink(t *testing.T) (*eventSink, string) {
	sink := &eventSink{}
	srv := httptest.NewServer(sink)
	t.Cleanup(srv.Close)
	return sink, srv.URL
}

func (s *eventSink) types(callID string) []string {
	var out []string
	for _, ev := range s.of(callID) {
		out = append(out, ev.Type)
	}
	return out
}

// Events reach on_event from a real call through the real binary: the
// calls of an integration rule (and their recording) in order, with the
// record's fields; a recorded call of a plain rule sends none, not even
// recording.done (scripts.events: integration); registrations always.
func TestIntegrationEvents(t *testing.T) {
	sink, crm := startEventSink(t)
	dir := t.TempDir()
	harness.WriteFile(t, dir, "pbx.yaml", fmt.Sprintf(`listen: {sip: ["udp:127.0.0.1:0"], http: "127.0.0.1:0", rtp_ports: "31500-31599"}
storage: {cdr: "sqlite:%s", recordings: %q}
scripts: {events: integration}
companies:
  - id: acme
    timezone: Europe/Rome
    extensions:
      - {number: "201", password: "a-long-passphrase-201"}
      - {number: "202", password: "a-long-passphrase-202"}
      - {number: "203", password: "a-long-passphrase-203"}
    rules:
      - {name: sales-line, caller_type: internal, called: "^$202", action: route, target: "user:202",
         integration: true, record: true}
      - {name: service-line, caller_type: internal, called: "^$203", action: route, target: "user:203",
         record: true}
`, filepath.Join(dir, "cdr.db"), filepath.Join(dir, "rec")))
	harness.WriteFile(t, dir, "events.lua", fmt.Sprintf(`
function on_event(ev)
  local res, err = http.post(%q, json.encode({type = ev.type, call_id = ev.call_id, data = ev.data}))
  if not res then pbx.log("warn", "webhook: " .. tostring(err)) end
end
`, crm))
	srv := harness.Start(t, dir, "pbx.yaml")

	talk, err := phone.RTPMedia(phone.MediaOptions{Play: make([]int16, 8000)})
	if err != nil {
		t.Fatal(err)
	}
	caller := newPhoneMedia(t, srv, "201", talk)
	sales, other := newPhone(t, srv, "202"), newPhone(t, srv, "203")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var answers []*phone.Answering
	for _, p := range []*phone.Phone{sales, other} {
		a, err := p.StartAnswer(ctx, phone.AnswerOptions{Count: 1})
		if err != nil {
			t.Fatal(err)
		}
		answers = append(answers, a)
		register(t, p)
	}
	var ids []string
	for _, to := range []string{"202", "203"} {
		s, err := caller.Call(ctx, to, phone.CallOptions{HangupAfter: 500 * time.Millisecond})
		if err != nil || s.FinalCode != 200 {
			t.Fatalf("call %s: %v, final %d", to, err, s.FinalCode)
		}
		ids = append(ids, s.CallID)
	}
	for _, a := range answers {
		_, _ = a.Wait()
	}

	want := []string{"call.start", "call.routed", "call.answered", "call.end", "recording.done"}
	waitFor(t, 5*time.Second, "the integration call's events", func() bool { return len(sink.of(ids[0])) >= len(want) })
	if got := sink.types(ids[0]); !slices.Equal(got, want) {
		t.Errorf("integration call's events %q, want %q in that order", got, want)
	}
	for _, ev := range sink.of(ids[0]) {
		if ev.Data["integration"] != true {
			t.Errorf("%s: integration %v", ev.Type, ev.Data["integration"])
		}
		switch ev.Type {
		case "call.end":
			if ev.Data["disposition"] != "answered" || ev.Data["answered_by"] != "202" ||
				ev.Data["hangup_by"] != "caller" || ev.Data["hangup_cause"] != "normal" || ev.Data["rule"] != "sales-line" {
				t.Errorf("call.end data %v", ev.Data)
			}
		case "recording.done":
			if p, _ := ev.Data["path"].(string); filepath.Dir(filepath.Dir(filepath.Dir(filepath.Dir(p)))) != filepath.Join(dir, "rec") {
				t.Errorf("recording.done path %v, want under %s", ev.Data["path"], filepath.Join(dir, "rec"))
			}
		}
	}
	// The plain call's end has been handled before the next events; give
	// a late one a moment to show up.
	time.Sleep(300 * time.Millisecond)
	if got := sink.types(ids[1]); len(got) != 0 {
		t.Errorf("a call of no integration rule sent %q", got)
	}
	var regs []string
	for _, ev := range sink.of("") {
		if ev.Type == "registration" && ev.Data["change"] == "register" {
			regs = append(regs, fmt.Sprint(ev.Data["extension"]))
		}
	}
	slices.Sort(regs)
	if !slices.Equal(regs, []string{"202", "203"}) {
		t.Errorf("registration events for %q, want 202 and 203", regs)
	}
}

// A call's events all go to the on_event of the generation the call runs
// with: a reload during the call does not hand its end to the new script;
// the next call gets the new one.
func TestEventsStayWithTheCallsGeneration(t *testing.T) {
	sink, crm := startEventSink(t)
	dir := t.TempDir()
	harness.WriteFile(t, dir, "pbx.yaml", fmt.Sprintf(`listen: {sip: ["udp:127.0.0.1:0"], http: "127.0.0.1:0", rtp_ports: "31600-31699"}
storage: {cdr: "sqlite:%s"}
scripts: {events: all}
companies:
  - id: acme
    timezone: Europe/Rome
    extensions:
      - {number: "201", password: "a-long-passphrase-201"}
      - {number: "202", password: "a-long-passphrase-202"}
`, filepath.Join(dir, "cdr.db")))
	script := func(version int) string {
		return fmt.Sprintf(`
VERSION = %d
function on_event(ev)
  http.post(%q, json.encode({type = ev.type, call_id = ev.call_id, version = VERSION}))
end
`, version, crm)
	}
	harness.WriteFile(t, dir, "events.lua", script(1))
	srv := harness.Start(t, dir, "pbx.yaml")
	caller, callee := newPhone(t, srv, "201"), newPhone(t, srv, "202")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ans, err := callee.StartAnswer(ctx, phone.AnswerOptions{Count: 2})
	if err != nil {
		t.Fatal(err)
	}
	register(t, callee)

	first := make(chan phone.Summary, 1)
	go func() {
		s, _ := caller.Call(ctx, "202", phone.CallOptions{HangupAfter: 3 * time.Second})
		first <- s
	}()
	var firstID string
	waitFor(t, 5*time.Second, "the first call answered", func() bool {
		sink.mu.Lock()
		defer sink.mu.Unlock()
		for _, ev := range sink.evs {
			if ev.Type == "call.answered" {
				firstID = ev.CallID
				return true
			}
		}
		return false
	})
	harness.WriteFile(t, dir, "events.lua", script(2))
	waitFor(t, 5*time.Second, "the reload to generation 2", func() bool {
		var st struct{ Generation uint64 }
		getJSON(t, srv, "/api/reload", &st)
		return st.Generation == 2
	})
	if s := <-first; s.FinalCode != 200 {
		t.Fatalf("first call: %+v", s)
	}
	s, err := caller.Call(ctx, "202", phone.CallOptions{HangupAfter: 200 * time.Millisecond})
	if err != nil || s.FinalCode != 200 {
		t.Fatalf("second call: %v %+v", err, s)
	}
	_, _ = ans.Wait()

	waitFor(t, 5*time.Second, "both calls' ends", func() bool {
		return slices.Contains(sink.types(firstID), "call.end") && slices.Contains(sink.types(s.CallID), "call.end")
	})
	for _, c := range []struct {
		id      string
		version int
	}{{firstID, 1}, {s.CallID, 2}} {
		for _, ev := range sink.of(c.id) {
			if ev.Version != c.version {
				t.Errorf("call %s: %s went to script version %d, want %d (the call's generation)", c.id, ev.Type, ev.Version, c.version)
			}
		}
	}
}
