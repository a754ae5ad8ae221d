package tests

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"luapbx/engine/cdr"
	"luapbx/engine/phone"
)

// cancelOn180 makes ua send CANCEL for the INVITE to number after (0: the
// instant) its first 180 comes off the wire, before sipgo's transaction
// layer has even seen it. wait returns the CANCEL's final status (0: none
// sent).
func cancelOn180(ua *testUA, number string, after time.Duration) (wait func() int) {
	var (
		once sync.Once
		wg   sync.WaitGroup
		code int
	)
	ua.setOnWire(func(res *sip.Response) {
		if res.StatusCode != 180 || res.CSeq().MethodName != sip.INVITE {
			return
		}
		once.Do(func() {
			// RFC 3261 9.1: the CANCEL copies the INVITE's Request-URI, top
			// Via, From, To (without the tag the 180 added), Call-ID and
			// CSeq number.
			req := sip.NewRequest(sip.CANCEL, ua.calleeURI(number))
			req.AppendHeader(sip.HeaderClone(res.Via()))
			req.AppendHeader(sip.HeaderClone(res.From()))
			req.AppendHeader(&sip.ToHeader{DisplayName: res.To().DisplayName, Address: res.To().Address,
				Params: sip.NewParams()})
			req.AppendHeader(sip.HeaderClone(res.CallID()))
			req.AppendHeader(&sip.CSeqHeader{SeqNo: res.CSeq().SeqNo, MethodName: sip.CANCEL})
			wg.Go(func() {
				if after > 0 {
					time.Sleep(after) // the scenario's timing, not a synchronisation
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				if r, err := ua.cl.Do(ctx, req); err == nil {
					code = r.StatusCode
				}
			})
		})
	})
	return func() int { wg.Wait(); ua.setOnWire(nil); return code }
}

// cdrRecord fetches the call record of callID, waiting for the writer.
func cdrRecord(t *testing.T, base, callID string) cdr.Record {
	t.Helper()
	var rec cdr.Record
	waitFor(t, 5*time.Second, "the call record of "+callID, func() bool {
		resp, err := http.Get(base + "/api/cdr/" + callID)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		return resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&rec) == nil
	})
	return rec
}

// The caller CANCELs the moment it hears 180 (or a few ms later) while the
// callee answers right after its 180 (after 0 to 10 ms): CANCEL and 200
// cross, at the PBX or on the caller's wire. Whichever
// wins, the call must end cleanly: 487 to the caller (the callee's leg
// cancelled, or BYEd if its 200 got out), or 200 to the caller which then
// ACKs and hangs up; no call left up, one call record agreeing with what
// the caller saw.
func TestSIPCancelCrossing200(t *testing.T) {
	t.Parallel()
	srv, _ := startPlan(t, sipPlan(33100, "", "", ""), nil)
	callee := newPhoneWith(t, srv, "udp", "202", "a-long-passphrase-202")
	register(t, callee)
	caller := newTestUA(t, srv, "201")
	base := "http://" + srv.HTTP

	outcomes := map[string]int{}
	// The race is won either way depending on scheduling: rounds of answer
	// and cancel delays give every outcome a chance.
	type timing struct{ answer, cancel time.Duration }
	var timings []timing
	ms := time.Millisecond
	for range 2 {
		timings = append(timings, timing{0, 0}, timing{0, 0}, timing{ms, 0}, timing{2 * ms, 0}, timing{5 * ms, 0},
			timing{2 * ms, 2 * ms}, timing{5 * ms, 4 * ms}, timing{5 * ms, 5 * ms}, timing{10 * ms, 9 * ms})
	}
	for i, tm := range timings {
		t.Run(fmt.Sprintf("%d_answer_after_%s_cancel_after_%s", i, tm.answer, tm.cancel), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
			defer cancel()
			// A callee left up by the PBX gives up (and BYEs) after 5 s.
			an := startAnswer(t, callee, phone.AnswerOptions{Count: 1, Delay: tm.answer}, 5*time.Second)
			cancelled := cancelOn180(caller, "202", tm.cancel)
			sess, err := caller.dial(ctx, "202", caller.sdp("sendrecv"))
			cancelCode := cancelled()

			final := 0
			var de *sipgo.ErrDialogResponse
			switch {
			case err == nil:
				final = sess.InviteResponse.StatusCode
				if err := sess.Ack(ctx); err != nil {
					t.Errorf("ACK of the 200: %v", err)
				}
				if err := sess.Bye(ctx); err != nil {
					t.Errorf("BYE after the crossing 200: %v", err)
				}
			case errors.As(err, &de):
				final = de.Res.StatusCode
			default:
				t.Fatalf("call: %v", err)
			}
			callID := sess.InviteRequest.CallID().Value()
			got := an.wait(t)

			outcome := "not raced (no 180 seen before the 200)"
			if cancelCode != 0 {
				outcome = fmt.Sprintf("cancel %d, invite %d", cancelCode, final)
			}
			outcomes[outcome]++
			for _, b := range got {
				var codes []string
				for _, c := range b.Codes {
					codes = append(codes, fmt.Sprintf("%s %d %s", c.Method, c.Code, c.Dir))
				}
				t.Logf("%s: %s; callee %s (hangup by %q): %v", callID, outcome, b.State, b.HangupBy, codes)
			}

			if final != 200 && final != 487 {
				t.Errorf("caller got %d, want 487 (CANCEL won) or 200 (the answer won)", final)
			}
			if len(got) != 1 {
				t.Fatalf("callee saw %d calls, want 1: %+v", len(got), got)
			}
			b := got[0]
			switch {
			case final == 200 && (b.State != phone.StateCompleted || b.HangupBy != "remote"):
				t.Errorf("caller answered, callee %s (hangup by %q), want completed by remote: %+v", b.State, b.HangupBy, b)
			case final == 487 && b.State == phone.StateCompleted && b.HangupBy != "remote":
				t.Errorf("caller cancelled, callee answered and was never hung up by the PBX (it gave up itself "+
					"after %.0f ms): the B leg was left up: %+v", b.DurationMS, b)
			case final == 487 && b.State != phone.StateCancelled && b.State != phone.StateCompleted:
				t.Errorf("caller cancelled, callee %s, want cancelled, or completed by a BYE from the PBX: %+v", b.State, b)
			}
			waitFor(t, 5*time.Second, "no call left in /api/calls", func() bool { return len(liveCalls(t, srv)) == 0 })

			rec := cdrRecord(t, base, callID)
			want := map[int]cdr.Disposition{200: cdr.Answered, 487: cdr.NoAnswer}[final]
			if rec.SIPCode != final || rec.Disposition != want {
				t.Errorf("call record: %d %s, want %d %s: %+v", rec.SIPCode, rec.Disposition, final, want, rec)
			}
			if final == 487 && (rec.HangupBy != cdr.Caller || !rec.Answer.IsZero()) {
				t.Errorf("cancelled call record: hangup by %s, answer %v; want the caller, no answer", rec.HangupBy, rec.Answer)
			}
			if final == 200 && rec.HangupBy != cdr.Caller {
				t.Errorf("answered call record: hangup by %s, want the caller", rec.HangupBy)
			}
		})
	}
	// One record per call: no leg produced a second row.
	var all struct{ Records []cdr.Record }
	getJSON(t, srv, "/api/cdr?limit=100", &all)
	if len(all.Records) != len(timings) {
		t.Errorf("%d call records for %d calls: %+v", len(all.Records), len(timings), all.Records)
	}
	t.Logf("outcomes: %v", outcomes)
}
