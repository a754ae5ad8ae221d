package tests

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"luapbx/engine/phone"
	"luapbx/tests/harness"
)

// trunkYAML is one trunk entry of a company.
func trunkYAML(id, host, inbound string) string {
	return fmt.Sprintf("      - {id: %s, host: %q, transport: udp, register: false, inbound_ips: [%q]}\n", id, host, inbound)
}

// anonymous is a phone with no credentials calling through srv as user.
func anonymous(t *testing.T, srv *harness.Server, user string) *phone.Phone {
	t.Helper()
	p, err := phone.New(phone.Config{
		Server: "udp:" + srv.SIP["udp"], User: user,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// Outbound through gateway:p1,p2 where p1 answers 503: the call reaches
// p2. Unauthenticated INVITEs to the gateway number never reach a trunk.
func TestSIPGatewayFailover(t *testing.T) {
	t.Parallel()
	gw1, gw2 := fakeTrunk(t, "p1"), fakeTrunk(t, "p2")
	company := "    trunks:\n" +
		trunkYAML("p1", hostPort(gw1), "127.0.0.2") +
		trunkYAML("p2", hostPort(gw2), "127.0.0.2") +
		`    rules:
      - {name: out, caller_type: internal, called: "^9", action: route, target: "gateway:p1,p2"}
`
	srv, _ := startPlan(t, sipPlan(32200, "", "", company), nil)

	t.Run("unauthenticated INVITEs never reach a gateway", func(t *testing.T) {
		a1 := startAnswer(t, gw1, phone.AnswerOptions{Count: 1}, 1500*time.Millisecond)
		a2 := startAnswer(t, gw2, phone.AnswerOptions{Count: 1}, 1500*time.Millisecond)
		cases := []struct {
			name string
			p    *phone.Phone
			want int
		}{
			{"no credentials, not an extension", anonymous(t, srv, "0612345678"), 403},
			{"no credentials, as an extension", anonymous(t, srv, "201"), 407},
			{"wrong password", newPhoneWith(t, srv, "udp", "201", "not-the-password"), 403},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				s := dial(t, c.p, "90612345678", phone.CallOptions{Expect: c.want})
				if s.FinalCode != c.want {
					t.Errorf("final %d, want %d: %+v", s.FinalCode, c.want, s.Codes)
				}
			})
		}
		for i, a := range []*answering{a1, a2} {
			if got := a.wait(t); len(got) != 0 {
				t.Errorf("trunk p%d saw %d INVITEs, want none: %+v", i+1, len(got), got)
			}
		}
	})
	t.Run("503 from p1 fails over to p2", func(t *testing.T) {
		a1 := startAnswer(t, gw1, phone.AnswerOptions{Count: 1, Reject: 503}, callTimeout)
		a2 := startAnswer(t, gw2, phone.AnswerOptions{Count: 1}, callTimeout)
		caller := newPhoneWith(t, srv, "udp", "201", "a-long-passphrase-201")
		s := dial(t, caller, "90612345678", phone.CallOptions{HangupAfter: 200 * time.Millisecond})
		if s.FinalCode != 200 || s.State != phone.StateCompleted {
			t.Errorf("caller: final %d state %s, want 200 completed: %+v", s.FinalCode, s.State, s.Codes)
		}
		if sawCode(s, 503, "in") {
			t.Errorf("the caller saw p1's 503: %+v", s.Codes)
		}
		r1, r2 := a1.wait(t), a2.wait(t)
		if len(r1) != 1 || r1[0].State != phone.StateRejected || !sawCode(r1[0], 503, "out") {
			t.Errorf("p1: %+v, want one call rejected with 503", r1)
		}
		if len(r2) != 1 || r2[0].State != phone.StateCompleted {
			t.Fatalf("p2: %+v, want one completed call", r2)
		}
		if !strings.HasPrefix(r2[0].To, "sip:90612345678@") {
			t.Errorf("p2 got the call for %q, want sip:90612345678@...", r2[0].To)
		}
		// The call record names the trunk that carried the call out.
		row := cdrRow(t, srv, s.CallID)
		if row["trunk"] != "p2" || row["target"] != "gateway:p1,p2" {
			t.Errorf("CDR trunk %v target %v, want p2 and gateway:p1,p2", row["trunk"], row["target"])
		}
	})
}

// A call from a trunk's inbound address to a DID reaches the extension;
// the same call from an address no trunk lists gets 403.
func TestSIPInboundTrunk(t *testing.T) {
	t.Parallel()
	rules := `    rules:
      - {name: did, caller_type: external, called: "^$0733811881", action: route, target: "user:202"}
`
	t.Run("allowed address", func(t *testing.T) {
		srv, _ := startPlan(t, sipPlan(32300, "", "", "    trunks:\n"+trunkYAML("p1", "127.0.0.1:9", "127.0.0.1")+rules), nil)
		callee := newPhoneWith(t, srv, "udp", "202", "a-long-passphrase-202")
		register(t, callee)
		a := startAnswer(t, callee, phone.AnswerOptions{Count: 1}, callTimeout)
		s := dial(t, anonymous(t, srv, "0612345678"), "0733811881", phone.CallOptions{HangupAfter: 200 * time.Millisecond})
		if s.FinalCode != 200 || s.State != phone.StateCompleted {
			t.Errorf("trunk caller: final %d state %s, want 200 completed: %+v", s.FinalCode, s.State, s.Codes)
		}
		if got := a.wait(t); len(got) != 1 || got[0].State != phone.StateCompleted {
			t.Errorf("202: %+v, want one completed call", got)
		}
	})
	t.Run("forbidden address", func(t *testing.T) {
		srv, _ := startPlan(t, sipPlan(32400, "", "", "    trunks:\n"+trunkYAML("p1", "127.0.0.1:9", "127.0.0.2")+rules), nil)
		callee := newPhoneWith(t, srv, "udp", "202", "a-long-passphrase-202")
		register(t, callee)
		a := startAnswer(t, callee, phone.AnswerOptions{Count: 1}, 2*time.Second)
		s := dial(t, anonymous(t, srv, "0612345678"), "0733811881", phone.CallOptions{Expect: 403})
		if s.FinalCode != 403 {
			t.Errorf("final %d, want 403: %+v", s.FinalCode, s.Codes)
		}
		if got := a.wait(t); len(got) != 0 {
			t.Errorf("202 rang for a forbidden call: %+v", got)
		}
	})
}
