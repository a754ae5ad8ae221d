package tests

import (
	"context"
	"strings"
	"testing"
	"time"

	"luapbx/engine/phone"
	"luapbx/tests/harness"
)

// The dashboard of the real binary shows a call while it is up, and then
// among the recent calls with its routing explanation.
func TestDashboardShowsARealCall(t *testing.T) {
	bin := chromiumBinary(t)
	dir := t.TempDir()
	harness.WriteFile(t, dir, "pbx.yaml", cdrPlan(dir))
	srv := harness.Start(t, dir, "pbx.yaml")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	bob := newPhone(t, srv, "202")
	answering, err := bob.StartAnswer(ctx, phone.AnswerOptions{Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	register(t, bob)
	caller := newPhone(t, srv, "201")
	done := make(chan phone.Summary, 1)
	go func() {
		s, _ := caller.Call(ctx, "202", phone.CallOptions{HangupAfter: 8 * time.Second})
		done <- s
	}()
	waitFor(t, 5*time.Second, "call listed", func() bool {
		return strings.Contains(get(t, "http://"+srv.HTTP+"/api/calls", ""), `"state": "answered"`)
	})
	live := runChromium(t, bin, "http://"+srv.HTTP+"/", "--dump-dom")
	if !strings.Contains(live, "data-call-id") || !strings.Contains(live, "user:202") {
		t.Fatalf("the live call is not on the dashboard:\n%s", tail(live, 3000))
	}
	s := <-done
	if s.FinalCode != 200 {
		t.Fatalf("call ended with %d", s.FinalCode)
	}
	_, _ = answering.Wait()
	waitFor(t, 5*time.Second, "record written", func() bool {
		return strings.Contains(get(t, "http://"+srv.HTTP+"/api/cdr", ""), s.CallID)
	})
	after := runChromium(t, bin, "http://"+srv.HTTP+"/", "--dump-dom")
	if !strings.Contains(after, "ext:202") {
		t.Fatalf("the ended call and its rule are not among the recent calls:\n%s", tail(after, 3000))
	}
}
