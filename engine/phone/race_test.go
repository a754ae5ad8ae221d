package phone

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// These tests provoke sipgo's message-ordering races on purpose (each
// message is handled on its own goroutine).

func TestRingingRightBeforeAnswer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a := newPhone(t, Config{User: "201"})
	b := newPhone(t, Config{User: "202"})
	const n = 10
	wait := answerAsync(ctx, t, b, AnswerOptions{Count: n}) // 100, 180, 200 back to back
	for i := range n {
		s, err := a.Call(ctx, b.URI(), CallOptions{HangupAfter: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if got := codes(s); !strings.Contains(got, "in:INVITE:180 in:INVITE:200") || s.State != StateCompleted {
			t.Fatalf("call %d: %s %q", i, s.State, got)
		}
	}
	if got := wait(); len(got) != n {
		t.Fatalf("%d callee summaries", len(got))
	}
}

// rudeUAS answers 200 and sends BYE at once, before our ACK can arrive.
func rudeUAS(t *testing.T) string {
	t.Helper()
	ua, err := sipgo.NewUA()
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := sipgo.NewServer(ua)
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := conn.LocalAddr().(*net.UDPAddr)
	cli, _ := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"), sipgo.WithClientConnectionAddr(addr.String()))
	var (
		mu       sync.Mutex
		closed   bool
		handlers sync.WaitGroup
	)
	srv.OnInvite(func(req *sip.Request, tx sip.ServerTransaction) {
		mu.Lock()
		if closed {
			mu.Unlock()
			return
		}
		handlers.Add(1)
		mu.Unlock()
		defer handlers.Done()
		offer, err := parseSDP(req.Body())
		if err != nil {
			t.Errorf("offer: %v", err)
			return
		}
		res := sip.NewSDPResponseFromRequest(req, answerSDP(mustAddr("127.0.0.1"), 40002, offer))
		res.To().Params.Add("tag", sip.GenerateTagN(8))
		res.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", Host: "127.0.0.1", Port: addr.Port}})
		if err := tx.Respond(res); err != nil {
			t.Errorf("respond: %v", err)
			return
		}
		bye := sip.NewRequest(sip.BYE, req.Contact().Address)
		from := &sip.FromHeader{Address: res.To().Address, Params: res.To().Params.Clone()}
		to := &sip.ToHeader{Address: req.From().Address, Params: req.From().Params.Clone()}
		bye.AppendHeader(from)
		bye.AppendHeader(to)
		bye.AppendHeader(sip.HeaderClone(req.CallID()))
		bye.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: sip.BYE})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		r, err := cli.Do(ctx, bye)
		if err != nil || r.StatusCode != 200 {
			t.Errorf("bye: %v %v", r, err)
		}
	})
	srv.OnAck(func(*sip.Request, sip.ServerTransaction) {})
	var wg sync.WaitGroup
	wg.Go(func() { _ = srv.ServeUDP(conn) })
	t.Cleanup(func() {
		mu.Lock()
		closed = true
		mu.Unlock()
		handlers.Wait()
		_ = conn.Close()
		_ = ua.Close()
		wg.Wait()
	})
	return "sip:300@" + addr.String()
}

func TestByeRightAfterAnswer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	target := rudeUAS(t)
	a := newPhone(t, Config{User: "201"})
	for i := range 10 {
		s, err := a.Call(ctx, target, CallOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if s.State != StateCompleted || s.HangupBy != "remote" || !strings.Contains(codes(s), "in:INVITE:200 out:BYE:200") {
			t.Fatalf("call %d: %s/%s %q %s", i, s.State, s.HangupBy, codes(s), s.Error)
		}
	}
}

func TestCancelCrossingAnswer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a := newPhone(t, Config{User: "201"})
	b := newPhone(t, Config{User: "202"})
	const n = 8
	wait := answerAsync(ctx, t, b, AnswerOptions{Count: n, Delay: 100 * time.Millisecond})
	var callers []Summary
	for range n {
		s, err := a.Call(ctx, b.URI(), CallOptions{CancelAfter: 100 * time.Millisecond, HangupAfter: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		callers = append(callers, s)
	}
	callees := wait()
	if len(callees) != n {
		for _, s := range callers {
			t.Logf("caller %s %s %q %s", s.CallID, s.State, codes(s), s.Error)
		}
		for _, s := range callees {
			t.Logf("callee %s %s %q %s", s.CallID, s.State, codes(s), s.Error)
		}
		t.Fatalf("%d callee summaries", len(callees))
	}
	byID := map[string]Summary{}
	for _, s := range callees {
		byID[s.CallID] = s
	}
	for i, s := range callers {
		e, ok := byID[s.CallID]
		if !ok {
			t.Fatalf("call %d: no callee summary", i)
		}
		switch {
		case s.State == StateCancelled && e.State == StateCancelled:
		case e.State == StateCompleted && s.State == StateCompleted:
			// Answered before the cancel timer fired: a normal call.
		case e.State == StateCompleted && e.HangupBy == "remote" && strings.Contains(codes(s), "in:BYE:200"):
			// 200 crossed CANCEL: the caller ACKed and hung up at once.
		default:
			t.Fatalf("call %d: caller %s %q / callee %s %q %s", i, s.State, codes(s), e.State, codes(e), e.Error)
		}
	}
}
