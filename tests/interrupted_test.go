package tests

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"luapbx/tests/harness"
)

// A PBX killed (SIGKILL) with two answered calls up: started again, it
// sends on_event the call.end the scripts never saw, for the call of an
// integration rule only (scripts.events: integration), with cause
// interrupted and recovered = true; once: a later restart sends none.
func TestInterruptedCallGetsCallEnd(t *testing.T) {
	sink, crm := startEventSink(t)
	dir := t.TempDir()
	harness.WriteFile(t, dir, "pbx.yaml", fmt.Sprintf(`listen: {sip: ["udp:127.0.0.1:0"], http: "127.0.0.1:0", rtp_ports: "38400-38499"}
storage: {cdr: "sqlite:%s"}
scripts: {events: integration}
companies:
  - id: acme
    timezone: Europe/Rome
    extensions:
      - {number: "201", password: "a-long-passphrase-201"}
      - {number: "202", password: "a-long-passphrase-202"}
      - {number: "203", password: "a-long-passphrase-203"}
      - {number: "204", password: "a-long-passphrase-204"}
    rules:
      - {name: sales-line, caller_type: internal, called: "^$202", action: route, target: "user:202", integration: true}
      - {name: service-line, caller_type: internal, called: "^$203", action: route, target: "user:203"}
`, filepath.Join(dir, "var", "cdr.db")))
	harness.WriteFile(t, dir, "events.lua", fmt.Sprintf(`
function on_event(ev)
  local res, err = http.post(%q, json.encode({type = ev.type, call_id = ev.call_id, data = ev.data}))
  if not res then pbx.log("warn", "webhook: " .. tostring(err)) end
end
`, crm))
	srv := harness.Start(t, dir, "pbx.yaml")
	for _, callee := range []string{"202", "203"} {
		startPhone(t, srv, "answer", "--user", callee, "--password", "a-long-passphrase-"+callee)
		waitRegistered(t, srv, callee)
	}
	startPhone(t, srv, "call", "202", "--user", "201", "--password", "a-long-passphrase-201", "--hangup-after", "15s")
	startPhone(t, srv, "call", "203", "--user", "204", "--password", "a-long-passphrase-204", "--hangup-after", "15s")
	ids := map[string]string{} // callee -> call id
	waitFor(t, 10*time.Second, "both calls answered", func() bool {
		for _, c := range liveCalls(t, srv) {
			if c.State == "answered" {
				ids[c.To] = c.CallID
			}
		}
		return len(ids) == 2
	})
	sales, service := ids["202"], ids["203"]
	waitFor(t, 5*time.Second, "the integration call's call.answered", func() bool {
		return len(sink.of(sales)) >= 3
	})
	time.Sleep(1500 * time.Millisecond) // a journal write after the answers
	srv.Signal(t, syscall.SIGKILL)
	waitFor(t, 5*time.Second, "the killed PBX to exit", srv.Exited)
	if got := sink.types(sales); len(got) != 3 || got[2] != "call.answered" {
		t.Fatalf("before the kill the integration call sent %q, want call.start, call.routed, call.answered", got)
	}

	again := harness.Start(t, dir, "pbx.yaml")
	waitFor(t, 10*time.Second, "the recovered call.end", func() bool { return len(sink.of(sales)) >= 4 })
	end := sink.of(sales)[3]
	d := end.Data
	if end.Type != "call.end" || d["recovered"] != true || d["hangup_cause"] != "interrupted" ||
		d["hangup_by"] != "system" || d["disposition"] != "answered" || d["answered_by"] != "202" ||
		d["rule"] != "sales-line" || d["target"] != "user:202" || d["from"] != "201" || d["to"] != "202" ||
		d["integration"] != true || d["sip_code"] != float64(200) {
		t.Errorf("recovered event %s: %v", end.Type, d)
	}
	// The call ends at the journal's last write: at most a second before
	// the kill, after the answer (a write every second, 1.5 s of talk).
	if ms, _ := d["duration_ms"].(float64); ms <= 0 || ms > 20000 {
		t.Errorf("recovered call.end duration_ms %v, want the part of the 1.5-20 s the call was up", d["duration_ms"])
	}
	if ms, _ := d["answered_ms"].(float64); ms <= 0 || ms > d["duration_ms"].(float64) {
		t.Errorf("recovered call.end answered_ms %v (duration %v)", d["answered_ms"], d["duration_ms"])
	}
	// Its record says the same.
	rec := cdrRecord(t, "http://"+again.HTTP, sales)
	if rec.HangupCause != "interrupted" || rec.Duration.Milliseconds() != int64(d["duration_ms"].(float64)) {
		t.Errorf("record %s after %v, event %v ms", rec.HangupCause, rec.Duration, d["duration_ms"])
	}
	// The plain rule's call sends nothing, then or now.
	time.Sleep(300 * time.Millisecond)
	if got := sink.types(service); len(got) != 0 {
		t.Errorf("the call of a rule without integration sent %q", got)
	}
	pending := filepath.Join(dir, "var", "cdr.db.recovered-events.jsonl")
	waitFor(t, 10*time.Second, "the pending call ends' file to go", func() bool {
		_, err := os.Stat(pending)
		return errors.Is(err, fs.ErrNotExist)
	})

	// Sent once: a clean restart sends it no more.
	if code := again.Stop(t); code != 0 {
		t.Fatalf("stop: exit %d", code)
	}
	third := harness.Start(t, dir, "pbx.yaml")
	time.Sleep(1500 * time.Millisecond)
	if n := len(sink.of(sales)); n != 4 {
		t.Errorf("after another restart the integration call has %d events (%q), want 4", n, sink.types(sales))
	}
	third.Stop(t)
}
