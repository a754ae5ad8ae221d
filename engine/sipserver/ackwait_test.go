package sipserver

import (
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// fakeTx is a server transaction whose ACKs and end the test controls.
type fakeTx struct {
	sip.ServerTransaction // nil: only the methods below are used
	acks                  chan *sip.Request
	done                  chan struct{}
	sent                  []int
}

func (f *fakeTx) Respond(res *sip.Response) error {
	f.sent = append(f.sent, res.StatusCode)
	return nil
}
func (f *fakeTx) Acks() <-chan *sip.Request { return f.acks }
func (f *fakeTx) Done() <-chan struct{}     { return f.done }

// serveInvite waits for the ACK of a failure it sent, and only then.
func TestServeInviteWaitsForAckOfFailure(t *testing.T) {
	invite := sip.NewRequest(sip.INVITE, sip.Uri{Scheme: "sip", User: "9000", Host: "127.0.0.1"})
	tests := []struct {
		name    string
		codes   []int // what the handler answers
		waits   bool  // serveInvite blocks until an ACK or the end (-1 in codes: the handler reads the ACK)
		byEnd   bool  // the transaction ends instead of an ACK coming
		wantOut []int
	}{
		{"challenge", []int{407}, true, false, []int{407}},
		{"trying then busy", []int{100, 486}, true, false, []int{100, 486}},
		{"failure never acked", []int{403}, true, true, []int{403}},
		{"answered", []int{100, 200}, false, false, []int{100, 200}},
		{"no final answer", []int{100}, false, false, []int{100}},
		{"handler read the ack itself", []int{100, 480, -1}, true, false, []int{100, 480}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tx := &fakeTx{acks: make(chan *sip.Request), done: make(chan struct{})}
			h := func(req *sip.Request, tx sip.ServerTransaction) {
				for _, c := range tc.codes {
					if c < 0 { // as sipgo's dialog does after a failure
						<-tx.Acks()
						continue
					}
					if err := tx.Respond(sip.NewResponseFromRequest(req, c, "", nil)); err != nil {
						t.Error(err)
					}
				}
			}
			returned := make(chan struct{})
			go func() {
				serveInvite(h, invite, tx)
				close(returned)
			}()
			if !tc.waits {
				select {
				case <-returned:
				case <-time.After(2 * time.Second):
					t.Fatal("serveInvite waited although no failure was sent")
				}
			} else {
				select {
				case <-returned:
					t.Fatal("serveInvite returned before the ACK of its failure")
				case <-time.After(50 * time.Millisecond):
				}
				if tc.byEnd {
					close(tx.done)
				} else {
					select {
					case tx.acks <- sip.NewRequest(sip.ACK, invite.Recipient):
					case <-time.After(2 * time.Second):
						t.Fatal("serveInvite does not read the ACK")
					}
				}
				select {
				case <-returned:
				case <-time.After(2 * time.Second):
					t.Fatal("serveInvite still waits after the ACK or the end")
				}
			}
			if len(tx.sent) != len(tc.wantOut) {
				t.Fatalf("sent %v, want %v", tx.sent, tc.wantOut)
			}
			for i := range tx.sent {
				if tx.sent[i] != tc.wantOut[i] {
					t.Fatalf("sent %v, want %v", tx.sent, tc.wantOut)
				}
			}
		})
	}
}
