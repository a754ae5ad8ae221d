package registrar

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"luapbx/engine/ban"
	"luapbx/engine/sipauth"
)

// server runs a registrar behind a real sipgo server on 127.0.0.1:0.
type server struct {
	addr string // host:port
	reg  *Registrar
	bans *ban.Tracker
	clk  *clock
}

func startServer(t *testing.T, network string) *server {
	t.Helper()
	clk := &clock{t: time.Now()}
	bans := ban.New(3, time.Minute, 10*time.Minute, clk.now)
	reg := New(slog.New(slog.DiscardHandler), sipauth.New(realm), testUsers, WithBans(bans), WithClock(clk.now))
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("luapbx-test"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		t.Fatal(err)
	}
	srv.OnRegister(reg.ServeRegister)
	var wg sync.WaitGroup
	var addr string
	var closer func() error
	switch network {
	case "udp":
		conn, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr, closer = conn.LocalAddr().String(), conn.Close
		wg.Go(func() { _ = srv.ServeUDP(conn) })
	case "tcp":
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr, closer = l.Addr().String(), l.Close
		wg.Go(func() { _ = srv.ServeTCP(l) })
	}
	t.Cleanup(func() {
		_ = closer()
		_ = ua.Close()
		wg.Wait()
	})
	return &server{addr: addr, reg: reg, bans: bans, clk: clk}
}

type sipClient struct {
	c       *sipgo.Client
	network string
	server  string
	callID  string
	cseq    uint32
}

func newSipClient(t *testing.T, network, server string) *sipClient {
	t.Helper()
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("201"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ua.Close() })
	c, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	return &sipClient{c: c, network: network, server: server, callID: fmt.Sprintf("lb-%d@test", time.Now().UnixNano())}
}

// register sends REGISTER with the given Expires and password, answering a
// challenge once; it returns the final status and the Contact values.
func (sc *sipClient) register(t *testing.T, contact, expires, password string) (int, []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var ruri sip.Uri
	if err := sip.ParseUri("sip:"+sc.server+";transport="+sc.network, &ruri); err != nil {
		t.Fatal(err)
	}
	req := sip.NewRequest(sip.REGISTER, ruri)
	req.AppendHeader(sip.NewHeader("From", "<sip:201@"+realm+">;tag=t1"))
	req.AppendHeader(sip.NewHeader("To", "<sip:201@"+realm+">"))
	req.AppendHeader(sip.NewHeader("Call-ID", sc.callID))
	sc.cseq++
	req.AppendHeader(sip.NewHeader("CSeq", fmt.Sprintf("%d REGISTER", sc.cseq)))
	req.AppendHeader(sip.NewHeader("Contact", contact))
	req.AppendHeader(sip.NewHeader("Expires", expires))
	res, err := sc.c.Do(ctx, req)
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	if res.StatusCode == 401 {
		res, err = sc.c.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: "201", Password: password})
		if err != nil {
			t.Fatalf("register with auth: %v", err)
		}
		sc.cseq = req.CSeq().SeqNo
	}
	return res.StatusCode, contactsOf(res)
}

func TestLoopback(t *testing.T) {
	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			srv := startServer(t, network)
			cl := newSipClient(t, network, srv.addr)
			const contact = "<sip:201@192.168.77.7:5060>"

			if code, cs := cl.register(t, contact, "600", "s3cret"); code != 200 || len(cs) != 1 || !strings.Contains(cs[0], "expires=600") {
				t.Fatalf("register: %d %q", code, cs)
			}
			bs := srv.reg.Lookup("201")
			if len(bs) != 1 || !strings.HasPrefix(bs[0].Source, "127.0.0.1:") || !strings.EqualFold(bs[0].Transport, network) {
				t.Fatalf("binding %+v", bs)
			}
			if !bs[0].NATed() {
				t.Fatal("private contact from loopback not seen as NAT")
			}

			// Bad passwords: 401 again and counted, then banned.
			for i := range 3 {
				if code, _ := cl.register(t, contact, "600", "wrong"); code != 401 {
					t.Fatalf("bad password %d: %d", i, code)
				}
			}
			if !srv.bans.Banned("127.0.0.1") {
				t.Fatalf("not banned: %+v", srv.bans.List())
			}
			if code, _ := cl.register(t, contact, "600", "s3cret"); code != 403 {
				t.Fatalf("banned source got %d", code)
			}

			// The ban ends; re-register, then unregister.
			srv.clk.add(11 * time.Minute)
			if code, cs := cl.register(t, contact, "300", "s3cret"); code != 200 || len(cs) != 1 {
				t.Fatalf("re-register: %d %q", code, cs)
			}
			if code, cs := cl.register(t, "*", "0", "s3cret"); code != 200 || len(cs) != 0 {
				t.Fatalf("unregister: %d %q", code, cs)
			}
			if bs := srv.reg.Lookup("201"); len(bs) != 0 {
				t.Fatalf("still bound: %+v", bs)
			}
		})
	}
}
