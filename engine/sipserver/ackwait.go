package sipserver

import (
	"sync/atomic"

	"github.com/emiago/sipgo/sip"
)

// finalTx remembers the last final status an INVITE handler sent through
// its server transaction.
type finalTx struct {
	sip.ServerTransaction
	final     atomic.Int32
	acksTaken atomic.Bool // the handler waited for ACKs itself (sipgo's dialog does for failures)
}

func (t *finalTx) Acks() <-chan *sip.Request {
	t.acksTaken.Store(true)
	return t.ServerTransaction.Acks()
}

func (t *finalTx) Respond(res *sip.Response) error {
	err := t.ServerTransaction.Respond(res)
	if err == nil && res.StatusCode >= 200 {
		t.final.Store(int32(res.StatusCode))
	}
	return err
}

// serveInvite runs h and, when it ended the INVITE with a failure
// (407, 403, 486, ...), waits on the same goroutine for the caller's ACK
// of that failure.
//
// sipgo hands that ACK to whoever reads tx.Acks(); with no reader it starts
// a goroutine that blocks until the transaction ends (Timer I, 5 s on UDP).
// At a thousand calls per second, each challenged once, that was thousands
// of parked goroutines whose stacks every GC scans, and a spawn and a
// wake-up per call. Waiting here instead costs one park and one wake-up of
// a goroutine that exists anyway. The wait ends with the ACK or the
// transaction (Timer H, 32 s, when no ACK comes). A handler that read the
// ACKs itself (a dialog's failure response waits for its ACK) is not
// waited for again.
func serveInvite(h func(*sip.Request, sip.ServerTransaction), req *sip.Request, tx sip.ServerTransaction) {
	if tx == nil {
		h(req, tx)
		return
	}
	ft := &finalTx{ServerTransaction: tx}
	h(req, ft)
	if ft.final.Load() < 300 || ft.acksTaken.Load() {
		return
	}
	select {
	case <-tx.Acks():
	case <-tx.Done():
	}
}
