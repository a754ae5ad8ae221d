package phone

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"luapbx/engine/ban"
	"luapbx/engine/registrar"
	"luapbx/engine/sipauth"
)

const testRealm = "pbx.test"

var testUsers = registrar.UsersFunc(func(_, user string) (sipauth.Credential, bool) {
	switch user {
	case "201":
		return sipauth.Credential{Password: "s3cret"}, true
	case "202":
		return sipauth.Credential{HA1MD5: sipauth.HA1(sipauth.MD5, "202", testRealm, "pw202")}, true
	}
	return sipauth.Credential{}, false
})

// pbx is a registrar plus a toy UAS that demands proxy auth on INVITE and
// answers itself: enough to test the phone's client side end to end.
type pbx struct {
	addr string // "udp:127.0.0.1:port"
	reg  *registrar.Registrar
	bans *ban.Tracker
}

func startPBX(t *testing.T, network string) *pbx {
	t.Helper()
	auth := sipauth.New(testRealm)
	bans := ban.New(3, time.Minute, time.Minute, nil)
	reg := registrar.New(slog.New(slog.DiscardHandler), auth, testUsers, registrar.WithBans(bans))
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("toy-pbx"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		t.Fatal(err)
	}
	cli, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	var addr string
	var closer func() error
	var serve func()
	if network == "udp" {
		conn, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr, closer = conn.LocalAddr().String(), conn.Close
		serve = func() { _ = srv.ServeUDP(conn) }
	} else {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr, closer = l.Addr().String(), l.Close
		serve = func() { _ = srv.ServeTCP(l) }
	}
	host, port, _ := sip.ParseAddr(addr)
	dialogs := sipgo.NewDialogServerCache(cli, sip.ContactHeader{Address: sip.Uri{Scheme: "sip", Host: host, Port: port}})
	lookup := func(u string) (sipauth.Credential, bool) { return testUsers(testRealm, u) }
	srv.OnRegister(reg.ServeRegister)
	srv.OnInvite(func(req *sip.Request, tx sip.ServerTransaction) {
		if _, res := auth.Verify(req, lookup); res != sipauth.OK {
			_ = tx.Respond(auth.Respond(req, res))
			return
		}
		sess, err := dialogs.ReadInvite(req, tx)
		if err != nil {
			return
		}
		defer func() { _ = sess.Close() }()
		_ = sess.Respond(sip.StatusRinging, "Ringing", nil)
		offer, err := parseSDP(req.Body())
		if err != nil {
			_ = sess.Respond(sip.StatusNotAcceptableHere, "Not Acceptable Here", nil)
			return
		}
		_ = sess.RespondSDP(answerSDP(mustAddr("127.0.0.1"), 40000, offer))
		<-sess.Context().Done()
	})
	srv.OnAck(func(req *sip.Request, tx sip.ServerTransaction) { _ = dialogs.ReadAck(req, tx) })
	srv.OnBye(func(req *sip.Request, tx sip.ServerTransaction) { _ = dialogs.ReadBye(req, tx) })
	var wg sync.WaitGroup
	wg.Go(serve) // after the handlers: sipgo reads its handler map unguarded
	t.Cleanup(func() {
		_ = closer()
		_ = ua.Close()
		wg.Wait()
	})
	return &pbx{addr: network + ":" + addr, reg: reg, bans: bans}
}

func TestRegisterWithRegistrar(t *testing.T) {
	tests := []struct {
		name      string
		network   string
		user, pw  string
		algorithm string
		want      string // state
		wantCodes string
		bound     bool
	}{
		{"sha256 udp", "udp", "201", "s3cret", "", StateRegistered, "in:REGISTER:401 in:REGISTER:200", true},
		{"md5 tcp", "tcp", "201", "s3cret", "MD5", StateRegistered, "in:REGISTER:401 in:REGISTER:200", true},
		{"md5-only ha1 user answers the md5 rechallenge", "udp", "202", "pw202", "", StateRegistered, "in:REGISTER:401 in:REGISTER:401 in:REGISTER:200", true},
		{"bad password", "udp", "201", "nope", "", StateRejected, "in:REGISTER:401 in:REGISTER:401", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			srv := startPBX(t, tc.network)
			p := newPhone(t, Config{Server: srv.addr, Listen: tc.network + ":127.0.0.1:0", User: tc.user,
				Password: tc.pw, Domain: testRealm, Algorithm: tc.algorithm})
			s, err := p.Register(ctx, 120*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if s.State != tc.want || codes(s) != tc.wantCodes {
				t.Fatalf("state %s codes %q, want %s %q (%+v)", s.State, codes(s), tc.want, tc.wantCodes, s)
			}
			bs := srv.reg.Lookup(tc.user)
			if (len(bs) == 1) != tc.bound {
				t.Fatalf("bindings %+v", bs)
			}
			if !tc.bound {
				return
			}
			// Over TCP the source is our connection's ephemeral port.
			if bs[0].ContactURI != p.URI() || bs[0].NATed() != (tc.network == "tcp") || bs[0].UserAgent != "luapbx-phone" {
				t.Fatalf("binding %+v, phone %s", bs[0], p.URI())
			}
			s, err = p.Register(ctx, 0)
			if err != nil || s.State != StateUnregistered {
				t.Fatalf("unregister: %+v %v", s, err)
			}
			if bs := srv.reg.Lookup(tc.user); len(bs) != 0 {
				t.Fatalf("still bound: %+v", bs)
			}
		})
	}
}

// TestUnregisterAll: a phone on another port cannot remove the contact
// an earlier phone left, but its summary lists it, and --all removes it.
func TestUnregisterAll(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv := startPBX(t, "udp")
	cfg := Config{Server: srv.addr, Listen: "udp:127.0.0.1:0", User: "201", Password: "s3cret", Domain: testRealm}
	first := newPhone(t, cfg)
	if s, err := first.Register(ctx, 120*time.Second); err != nil || s.State != StateRegistered ||
		len(s.Contacts) != 1 || !strings.Contains(s.Contacts[0], first.URI()) {
		t.Fatalf("register: %+v %v", s, err)
	}
	other := newPhone(t, cfg)
	s, err := other.Register(ctx, 0)
	if err != nil || s.State != StateUnregistered {
		t.Fatalf("unregister: %+v %v", s, err)
	}
	if len(s.Contacts) != 1 || !strings.Contains(s.Contacts[0], first.URI()) {
		t.Errorf("unregister from another port: contacts %q, want the first phone's left", s.Contacts)
	}
	if bs := srv.reg.Lookup("201"); len(bs) != 1 {
		t.Fatalf("bindings after the other phone's unregister: %+v", bs)
	}
	s, err = other.UnregisterAll(ctx)
	if err != nil || s.State != StateUnregistered || len(s.Contacts) != 0 {
		t.Fatalf("unregister --all: %+v %v", s, err)
	}
	if bs := srv.reg.Lookup("201"); len(bs) != 0 {
		t.Fatalf("still bound after unregister --all: %+v", bs)
	}
}

func TestRegisterBan(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv := startPBX(t, "udp")
	bad := newPhone(t, Config{Server: srv.addr, User: "201", Password: "nope", Domain: testRealm})
	// Each attempt answers one challenge: one failure counted (a repeated
	// challenge that is not stale means the password is wrong).
	for range 3 {
		if s, _ := bad.Register(ctx, time.Minute); s.State != StateRejected {
			t.Fatalf("bad password registered: %+v", s)
		}
	}
	if !srv.bans.Banned("127.0.0.1") {
		t.Fatalf("not banned: %+v", srv.bans.List())
	}
	good := newPhone(t, Config{Server: srv.addr, User: "201", Password: "s3cret", Domain: testRealm})
	s, _ := good.Register(ctx, time.Minute)
	if s.FinalCode != 403 || codes(s) != "in:REGISTER:403" {
		t.Fatalf("banned source: %+v", s)
	}
}

func TestCallWithProxyAuth(t *testing.T) {
	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			srv := startPBX(t, network)
			p := newPhone(t, Config{Server: srv.addr, Listen: network + ":127.0.0.1:0", User: "201", Password: "s3cret", Domain: testRealm})
			s, err := p.Call(ctx, "300", CallOptions{HangupAfter: 100 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			want := "in:INVITE:407 in:INVITE:180 in:INVITE:200 in:BYE:200"
			if s.State != StateCompleted || s.FinalCode != 200 || codes(s) != want || !s.ExpectOK {
				t.Fatalf("state %s codes %q, want %q (%+v)", s.State, codes(s), want, s)
			}
			if !strings.HasPrefix(s.To, "sip:300@127.0.0.1:") {
				t.Fatalf("to %s", s.To)
			}
			// Wrong password: our answer is challenged again (not stale), so
			// the call fails with that 407 without a second try.
			p2 := newPhone(t, Config{Server: srv.addr, Listen: network + ":127.0.0.1:0", User: "201", Password: "bad", Domain: testRealm})
			s, _ = p2.Call(ctx, "300", CallOptions{Expect: 407})
			if s.State != StateRejected || codes(s) != "in:INVITE:407 in:INVITE:407" || !s.ExpectOK {
				t.Fatalf("bad password call: %s %q", s.State, codes(s))
			}
		})
	}
}
