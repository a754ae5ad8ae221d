package trunk

import (
	"context"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"luapbx/engine/sipauth"
	"luapbx/engine/sipserver"
)

// provider is a fake SIP provider: a registrar with digest auth and an
// OPTIONS responder that can be switched off.
type provider struct {
	addr      string
	answer    atomic.Bool
	mu        sync.Mutex
	registers []string // Expires of each authenticated REGISTER
	dialogs   []string // "Call-ID from-tag" of each authenticated REGISTER
	cseqs     []uint32 // and its CSeq
}

func newProvider(t *testing.T, password string) *provider {
	t.Helper()
	ua, err := sipgo.NewUA()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		t.Fatal(err)
	}
	auth := sipauth.New("provider")
	p := &provider{}
	p.answer.Store(true)
	srv.OnRegister(func(req *sip.Request, tx sip.ServerTransaction) {
		_, res := auth.Verify(req, func(u string) (sipauth.Credential, bool) {
			return sipauth.Credential{Password: password}, u == "acme"
		})
		if res != sipauth.OK {
			if r := auth.Respond(req, res); r != nil {
				_ = tx.Respond(r)
			} else {
				_ = tx.Respond(sip.NewResponseFromRequest(req, 403, "Forbidden", nil))
			}
			return
		}
		exp := ""
		if h := req.GetHeader("Expires"); h != nil {
			exp = h.Value()
		}
		tag, _ := req.From().Params.Get("tag")
		p.mu.Lock()
		p.registers = append(p.registers, exp)
		p.dialogs = append(p.dialogs, req.CallID().Value()+" "+tag)
		p.cseqs = append(p.cseqs, req.CSeq().SeqNo)
		p.mu.Unlock()
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	})
	srv.OnOptions(func(req *sip.Request, tx sip.ServerTransaction) {
		if p.answer.Load() {
			_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
		}
	})
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = conn.LocalAddr().String()
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.ServeUDP(conn) }()
	t.Cleanup(func() { conn.Close(); ua.Close(); <-done })
	return p
}

func (p *provider) expires() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.registers...)
}

func pbx(t *testing.T) *sipserver.Server {
	t.Helper()
	s, err := sipserver.New(slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen("udp:127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	<-s.Ready()
	return s
}

func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func run(t *testing.T, m *Manager) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = m.Run(ctx) }()
	return func() { cancel(); <-done }
}

func TestRegisterRefreshAndUnregister(t *testing.T) {
	srv := pbx(t) // first: sipserver sets sipgo's globals before any UA serves
	prov := newProvider(t, "secret")
	m := New(slog.New(slog.NewTextHandler(io.Discard, nil)), srv,
		[]Spec{{ID: "p1", Host: prov.addr, Username: "acme", Password: "secret", Register: true}},
		WithExpires(time.Second), WithKeepalive(time.Hour, 2), WithTimeout(time.Second))
	stop := run(t, m)
	eventually(t, "registration", func() bool { st := m.States(); return len(st) == 1 && st[0].Registered })
	eventually(t, "a refresh before expiry", func() bool { return len(prov.expires()) >= 2 })
	stop()
	got := prov.expires()
	if got[len(got)-1] != "0" {
		t.Errorf("no unregistration on stop: %v", got)
	}
	if got[0] != "1" {
		t.Errorf("asked expiry %q, want 1", got[0])
	}
}

func TestRegisterWrongPasswordBacksOff(t *testing.T) {
	srv := pbx(t)
	prov := newProvider(t, "secret")
	m := New(quiet(), srv, []Spec{{ID: "p1", Host: prov.addr, Username: "acme", Password: "wrong", Register: true}},
		WithBackoff(50*time.Millisecond, 100*time.Millisecond), WithKeepalive(time.Hour, 2), WithTimeout(time.Second))
	stop := run(t, m)
	defer stop()
	eventually(t, "retries", func() bool { st := m.States(); return st[0].Failures >= 3 })
	if st := m.States()[0]; st.Registered || st.LastCode != 403 && st.LastCode != 401 {
		t.Errorf("state %+v", st)
	}
	if n := len(prov.expires()); n != 0 {
		t.Errorf("provider accepted %d registrations with a wrong password", n)
	}
}

func TestKeepaliveDownAndUp(t *testing.T) {
	srv := pbx(t)
	prov := newProvider(t, "secret")
	m := New(quiet(), srv, []Spec{{ID: "p1", Host: prov.addr}},
		WithKeepalive(50*time.Millisecond, 2), WithTimeout(150*time.Millisecond))
	if !m.Up("p1") || !m.Up("unknown") {
		t.Fatal("trunks start up")
	}
	stop := run(t, m)
	defer stop()
	eventually(t, "first probe answered", func() bool { return m.States()[0].LastCode == 200 })
	prov.answer.Store(false)
	eventually(t, "trunk down", func() bool { return !m.Up("p1") })
	prov.answer.Store(true)
	eventually(t, "trunk up again", func() bool { return m.Up("p1") })
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
