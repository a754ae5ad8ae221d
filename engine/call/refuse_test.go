package call

import (
	"net/netip"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// nopTx is a server transaction whose responses go nowhere.
type nopTx struct{ sip.ServerTransaction }

func (nopTx) Respond(*sip.Response) error { return nil }

// BenchmarkRefuse is the work of refusing an admitted INVITE (a call
// limit reached under a flood): the response, the log line (discarded
// here) and the record handed to OnEnd (the CDR writer batches it).
func BenchmarkRefuse(b *testing.B) {
	ends := 0
	m := &Manager{log: testLog(), cfg: Config{OnEnd: func(End) { ends++ }, Now: time.Now}}
	req := sip.NewRequest(sip.INVITE, sip.Uri{Scheme: "sip", User: "202", Host: "127.0.0.1"})
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: "201", Host: "127.0.0.1"}, Params: sip.NewParams()}
	from.Params.Add("tag", "x")
	cid := sip.CallIDHeader("bench@127.0.0.1")
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: "202", Host: "127.0.0.1"}})
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: sip.INVITE})
	req.AppendHeader(&sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "UDP", Host: "127.0.0.1", Port: 5070, Params: sip.NewParams()})
	who := caller{ext: &Extension{Number: "201", Company: "acme"}}
	snap := &fakeSnap{from: map[netip.Addr]string{}}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		m.refuse(req, nopTx{}, snap, who, 503, CauseCallLimit, "call refused: limit reached", "slots", []string{"ext:201"})
	}
	b.StopTimer()
	if ends != b.N {
		b.Fatalf("%d records for %d refusals", ends, b.N)
	}
}
