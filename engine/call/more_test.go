package call

import (
	"context"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"luapbx/engine/phone"
	"luapbx/engine/registrar"
	"luapbx/engine/routing"
	"luapbx/engine/sipauth"
)

const testSDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"

func TestRerouteAndMediaTargets(t *testing.T) {
	tests := []struct {
		name   string
		target routing.Target
		want   int
	}{
		{name: "number routes again", target: routing.Target{Kind: routing.TargetNumber, Arg: "4444"}, want: 200},
		{name: "ivr not available", target: routing.Target{Kind: routing.TargetIVR, Arg: "main"}, want: 501},
		{name: "voicemail not available", target: routing.Target{Kind: routing.TargetVoicemail, Arg: "201"}, want: 480},
		{name: "reject", target: routing.Reject(603), want: 603},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newPBX(t, func(s *fakeSnap, _ *Config) {
				s.decide = func(c *routing.Call) routing.Decision {
					if c.To == "4444" {
						return routing.Decision{Target: routing.Target{Kind: routing.TargetUser, Arg: "202"}, Number: "202", Rule: "short"}
					}
					return routing.Decision{Target: tc.target, Number: c.To}
				}
			})
			_, wait := p.callee("202", phone.AnswerOptions{HangupAfter: 20 * time.Millisecond})
			s := p.call(p.phone("201"), "999", phone.CallOptions{Expect: tc.want})
			if s.FinalCode != tc.want {
				t.Fatalf("final %d want %d", s.FinalCode, tc.want)
			}
			ev := p.waitEnd()
			if tc.want == 200 && ev.Data["rule"] != "short" {
				t.Errorf("call.end should carry the re-routed decision: %v", ev.Data)
			}
			if tc.want != 200 {
				p.stop["202"]()
			}
			wait()
			p.idle()
		})
	}
}

// fakeTrunk is a provider that demands digest auth on INVITE and answers.
func fakeTrunk(t *testing.T, password string) (addr string, invites *atomic.Int32) {
	t.Helper()
	ua, _ := sipgo.NewUA()
	srv, _ := sipgo.NewServer(ua)
	auth := sipauth.New("provider")
	invites = &atomic.Int32{}
	srv.OnInvite(func(req *sip.Request, tx sip.ServerTransaction) {
		_, res := auth.Verify(req, func(u string) (sipauth.Credential, bool) {
			return sipauth.Credential{Password: password}, u == "acme"
		})
		if res != sipauth.OK {
			if r := auth.Respond(req, res); r != nil {
				_ = tx.Respond(r)
				return
			}
			_ = tx.Respond(sip.NewResponseFromRequest(req, 403, "Forbidden", nil))
			return
		}
		invites.Add(1)
		r := sip.NewSDPResponseFromRequest(req, []byte(testSDP))
		r.To().Params.Add("tag", "trunk")
		r.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", Host: "127.0.0.1", Port: portOf(addr)}})
		_ = tx.Respond(r)
		select {
		case <-tx.Acks():
		case <-tx.Done():
		case <-time.After(2 * time.Second):
		}
	})
	srv.OnAck(func(*sip.Request, sip.ServerTransaction) {})
	srv.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	})
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr = conn.LocalAddr().String()
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.ServeUDP(conn) }()
	t.Cleanup(func() { conn.Close(); ua.Close(); <-done })
	return addr, invites
}

func portOf(addr string) int {
	_, p, _ := sip.ParseAddr(addr)
	return p
}

type downTrunks map[string]bool

func (d downTrunks) Up(id string) bool { return !d[id] }

func TestGatewayDigestAndDownTrunk(t *testing.T) {
	p := newPBX(t, func(s *fakeSnap, c *Config) {
		c.Trunks = downTrunks{"down": true}
		s.decide = func(c *routing.Call) routing.Decision {
			return routing.Decision{Target: routing.Target{Kind: routing.TargetGateway, Arg: "down,auth"}, Number: "0612345678"}
		}
	})
	addr, invites := fakeTrunk(t, "x")
	p.snap.setTrunk(Trunk{ID: "auth", Host: addr, Username: "acme", Password: "x"})
	p.snap.setTrunk(Trunk{ID: "down", Host: "127.0.0.1:9"})
	s := p.call(p.phone("201"), "0612345678", phone.CallOptions{HangupAfter: 20 * time.Millisecond})
	if s.FinalCode != 200 {
		t.Fatalf("final %d: %+v", s.FinalCode, s.Codes)
	}
	if ev := p.waitEnd(); ev.Data["gateway"] != "auth" {
		t.Errorf("call.end %v", ev.Data)
	}
	if invites.Load() != 1 {
		t.Errorf("authenticated invites at the trunk: %d", invites.Load())
	}
	p.idle()
}

// TestReinviteRelayed holds a call with a re-INVITE from the caller: the
// callee must get it and its answer must come back.
func TestReinviteRelayed(t *testing.T) {
	p := newPBX(t, nil)
	callee, wait := p.callee("202", phone.AnswerOptions{})
	_ = callee
	dua, inv := rawCaller(t, p, "202", "abc")
	inv.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	inv.SetBody([]byte(testSDP))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sess, err := dua.WriteInvite(ctx, inv)
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.WaitAnswer(ctx, sipgo.AnswerOptions{Username: "201", Password: "pw201"}); err != nil {
		t.Fatal(err)
	}
	if err := sess.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	hold := sip.NewRequest(sip.INVITE, sess.InviteResponse.Contact().Address)
	hold.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	hold.SetBody([]byte(strings.Replace(testSDP, "PCMU/8000\r\n", "PCMU/8000\r\na=sendonly\r\n", 1)))
	res, err := sess.Do(ctx, hold)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 || len(res.Body()) == 0 {
		t.Fatalf("re-INVITE answer %d with %d bytes of SDP", res.StatusCode, len(res.Body()))
	}
	_ = sess.WriteRequest(sip.NewRequest(sip.ACK, hold.Recipient))
	if err := sess.Bye(ctx); err != nil {
		t.Fatal(err)
	}
	got := wait()
	if len(got) != 1 {
		t.Fatalf("callee: %+v", got)
	}
	reinv := false
	for _, c := range got[0].Codes {
		reinv = reinv || c.Method == "reINVITE"
	}
	if !reinv {
		t.Errorf("callee never got the re-INVITE: %+v", got[0].Codes)
	}
	if ev := p.waitEnd(); ev.Data["hangup_by"] != ByCaller {
		t.Errorf("call.end %v", ev.Data)
	}
	p.idle()
}

func TestCallsListing(t *testing.T) {
	p := newPBX(t, nil)
	_, wait := p.callee("202", phone.AnswerOptions{Delay: 3 * time.Second})
	done := make(chan phone.Summary, 1)
	go func() {
		done <- p.call(p.phone("201"), "202", phone.CallOptions{CancelAfter: 2 * time.Second, Expect: 487})
	}()
	var got []Info
	for range 200 {
		got = p.m.Calls()
		if len(got) == 1 && got[0].State == StateRinging && len(got[0].Legs) == 1 && got[0].Legs[0].State == "ringing" {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(got) != 1 || got[0].From != "201" || got[0].Target != "user:202" || got[0].Generation != 7 || got[0].Legs[0].Name != "202" {
		t.Fatalf("listing: %+v", got)
	}
	<-done
	p.waitEnd()
	wait()
	p.idle()
}

func TestGatewaySilentTrunkFailover(t *testing.T) {
	p := newPBX(t, func(s *fakeSnap, c *Config) {
		c.TrunkTimeout = 300 * time.Millisecond
		s.decide = func(c *routing.Call) routing.Decision {
			return routing.Decision{Target: routing.Target{Kind: routing.TargetGateway, Arg: "silent,good"}, Number: "0612345678"}
		}
	})
	silent, err := net.ListenPacket("udp", "127.0.0.1:0") // reads nothing, answers nothing
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	good, wait := p.callee("good", phone.AnswerOptions{HangupAfter: 20 * time.Millisecond})
	p.snap.setTrunk(Trunk{ID: "silent", Host: silent.LocalAddr().String()})
	p.snap.setTrunk(Trunk{ID: "good", Host: strings.TrimPrefix(good.Addr(), "udp:")})
	start := time.Now()
	s := p.call(p.phone("201"), "0612345678", phone.CallOptions{})
	if s.FinalCode != 200 {
		t.Fatalf("final %d: %+v", s.FinalCode, s.Codes)
	}
	if ev := p.waitEnd(); ev.Data["gateway"] != "good" {
		t.Errorf("call.end %v", ev.Data)
	}
	wait()
	p.idle() // the abandoned leg must not hold the call for Timer B
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("failover and teardown took %v", d)
	}
}

func TestCloseHangsUpCalls(t *testing.T) {
	p := newPBX(t, nil)
	_, wait := p.callee("202", phone.AnswerOptions{})
	done := make(chan phone.Summary, 1)
	go func() { done <- p.call(p.phone("201"), "202", phone.CallOptions{}) }()
	for range 300 {
		if c := p.m.Calls(); len(c) == 1 && c[0].State == StateAnswered {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.m.Close()
	p.m.Close()
	s := <-done
	if s.State != phone.StateCompleted || s.HangupBy != "remote" {
		t.Errorf("caller: %+v", s)
	}
	if ev := p.waitEnd(); ev.Data["hangup_by"] != BySystem {
		t.Errorf("call.end %v", ev.Data)
	}
	if got := wait(); len(got) != 1 || got[0].HangupBy != "remote" {
		t.Errorf("callee: %+v", got)
	}
	if p.m.Active() != 0 {
		t.Error("calls left after Close")
	}
}

func TestTCPCall(t *testing.T) {
	p := newPBXTB(t, nil, "tcp:127.0.0.1:0")
	if err := p.srv.Listen("tcp:127.0.0.1:0"); err == nil {
		t.Fatal("Listen after Run should fail")
	}
	tcpAddr := p.srv.Addr("tcp")
	callee, err := phone.New(phone.Config{Server: "tcp:" + tcpAddr, Listen: "tcp:127.0.0.1:0", User: "202", Password: "pw202", Log: testLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer callee.Close()
	addr := strings.TrimPrefix(callee.Addr(), "tcp:")
	host, port, _ := sip.ParseAddr(addr)
	params := sip.NewParams()
	params.Add("transport", "tcp")
	p.loc.Set("202", registrar.Binding{AOR: "202", Contact: sip.Uri{Scheme: "sip", User: "202", Host: host, Port: port,
		UriParams: params}, Source: addr, Transport: "TCP"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	answered := make(chan []phone.Summary, 1)
	go func() {
		s, _ := callee.Answer(ctx, phone.AnswerOptions{HangupAfter: 20 * time.Millisecond})
		answered <- s
	}()
	time.Sleep(20 * time.Millisecond)
	caller, err := phone.New(phone.Config{Server: "tcp:" + tcpAddr, Listen: "tcp:127.0.0.1:0", User: "201", Password: "pw201", Log: testLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer caller.Close()
	s := p.call(caller, "202", phone.CallOptions{})
	if s.FinalCode != 200 || s.State != phone.StateCompleted {
		t.Fatalf("caller over TCP: %+v", s)
	}
	if got := <-answered; len(got) != 1 || got[0].State != phone.StateCompleted {
		t.Fatalf("callee over TCP: %+v", got)
	}
	p.waitEnd()
	p.idle()
}

// A trunk the keepalive marks down is tried after the others rather than
// never: with every trunk of the gateway down, the call still goes out
// (the provider may be back since the last probe).
func TestDownTrunkTriedLast(t *testing.T) {
	p := newPBX(t, func(s *fakeSnap, c *Config) {
		c.Trunks = downTrunks{"stale": true}
		s.decide = func(c *routing.Call) routing.Decision {
			return routing.Decision{Target: routing.Target{Kind: routing.TargetGateway, Arg: "stale"}, Number: "0612345678"}
		}
	})
	addr, invites := fakeTrunk(t, "x")
	p.snap.setTrunk(Trunk{ID: "stale", Host: addr, Username: "acme", Password: "x"})
	s := p.call(p.phone("201"), "0612345678", phone.CallOptions{HangupAfter: 20 * time.Millisecond})
	if s.FinalCode != 200 {
		t.Fatalf("final %d, want 200 through the trunk marked down: %+v", s.FinalCode, s.Codes)
	}
	if ev := p.waitEnd(); ev.Data["gateway"] != "stale" {
		t.Errorf("call.end %v", ev.Data)
	}
	if invites.Load() != 1 {
		t.Errorf("invites at the trunk: %d", invites.Load())
	}
	p.idle()
}

// TestInProgress: the record a call would get if the PBX died now says
// failed while it rings and answered once it is, with the decision and
// the answer time of the call; an ended call is not listed.
func TestInProgress(t *testing.T) {
	p := newPBX(t, nil)
	_, wait := p.callee("202", phone.AnswerOptions{Delay: 700 * time.Millisecond, HangupAfter: 700 * time.Millisecond})
	done := make(chan phone.Summary, 1)
	go func() { done <- p.call(p.phone("201"), "202", phone.CallOptions{}) }()
	poll := func(what string, ok func(End) bool) End {
		t.Helper()
		for range 300 {
			now := time.Now()
			if got := p.m.InProgress(now); len(got) == 1 && ok(got[0]) {
				if !got[0].End.Equal(now) {
					t.Errorf("%s: ends %v, want now (%v)", what, got[0].End, now)
				}
				return got[0]
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatalf("%s: never seen: %+v", what, p.m.InProgress(time.Now()))
		return End{}
	}
	ringing := poll("ringing", func(e End) bool { return e.Call.Decision.Target.String() == "user:202" })
	if ringing.Disposition != DispFailed || ringing.Code != 0 || !ringing.Answered.IsZero() ||
		ringing.Cause != CauseInterrupted || ringing.By != BySystem || ringing.Call.From != "201" {
		t.Errorf("ringing call: %+v", ringing)
	}
	up := poll("answered", func(e End) bool { return !e.Answered.IsZero() })
	if up.Disposition != DispAnswered || up.Code != 200 || up.Cause != CauseInterrupted || up.Call.Explanation != "fake" ||
		up.AnsweredBy != "202" || ringing.AnsweredBy != "" ||
		up.Call.Start != ringing.Call.Start || up.Call.ID != ringing.Call.ID {
		t.Errorf("answered call: %+v", up)
	}
	if s := <-done; s.FinalCode != 200 {
		t.Errorf("caller: %+v", s)
	}
	p.waitEnd()
	wait()
	p.idle()
	if got := p.m.InProgress(time.Now()); len(got) != 0 {
		t.Errorf("ended call still in progress: %+v", got)
	}
}

// rawCaller is 201 as a bare sipgo dialog UA on a UDP socket of its own
// (for requests the test phone does not send: re-INVITEs, INFO, an INVITE
// without SDP) and an INVITE from it to `to` with From tag tag, no body
// yet. The socket closes when the test ends.
func rawCaller(t *testing.T, p *pbx, to, tag string) (sipgo.DialogUA, *sip.Request) {
	t.Helper()
	ua, _ := sipgo.NewUA()
	srv, _ := sipgo.NewServer(ua)
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.ServeUDP(conn) }()
	t.Cleanup(func() { conn.Close(); <-done; ua.Close() })
	time.Sleep(20 * time.Millisecond)
	cl, _ := sipgo.NewClient(ua, sipgo.WithClientConnectionAddr(conn.LocalAddr().String()))
	dua := sipgo.DialogUA{Client: cl, ContactHDR: sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "201", Host: "127.0.0.1", Port: portOf(conn.LocalAddr().String())}}}
	inv := sip.NewRequest(sip.INVITE, sip.Uri{Scheme: "sip", User: to, Host: "127.0.0.1", Port: portOf(p.addr)})
	params := sip.NewParams()
	params.Add("tag", tag)
	inv.AppendHeader(&sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: "201", Host: "127.0.0.1"}, Params: params})
	return dua, inv
}
