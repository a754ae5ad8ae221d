package tests

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"luapbx/engine/phone"
	"luapbx/engine/sipauth"
	"luapbx/tests/harness"
)

// provRegister is one REGISTER a fakeProvider accepted.
type provRegister struct {
	at            time.Time
	expires       string // what the trunk asked for
	authorization string
	contact       string // the Contact URI
	callID        string
	cseq          uint32
}

// fakeProvider is a SIP provider's registrar on 127.0.0.1 (UDP or TCP):
// digest auth (engine/sipauth) for user/password, a short granted expiry,
// OPTIONS answered. It can be stopped (its socket closed) and started
// again on the same port, and told to refuse REGISTERs with 503.
type fakeProvider struct {
	network        string
	user, password string
	grant          time.Duration
	auth           *sipauth.Auth
	refuse         atomic.Bool

	addr string
	conn io.Closer // the UDP socket or TCP listener
	ua   *sipgo.UserAgent
	done chan struct{}

	mu         sync.Mutex
	registers  []provRegister
	challenged int
	refused    int
}

func newFakeProvider(t *testing.T, network, user, password string, grant time.Duration) *fakeProvider {
	t.Helper()
	p := &fakeProvider{network: network, user: user, password: password, grant: grant,
		auth: sipauth.New("provider.test"), addr: "127.0.0.1:0"}
	p.start(t)
	t.Cleanup(p.stop)
	return p
}

// start serves on p.addr (a free port the first time, the same one after).
func (p *fakeProvider) start(t *testing.T) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ua, err := sipgo.NewUA(sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(log)),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(log)))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	srv.OnRegister(p.onRegister)
	srv.OnOptions(func(req *sip.Request, tx sip.ServerTransaction) {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	})
	var serve func() error
	if p.network == "tcp" {
		l, err := net.Listen("tcp", p.addr)
		if err != nil {
			ua.Close()
			t.Fatalf("provider listen %s: %v", p.addr, err)
		}
		p.addr, p.conn = l.Addr().String(), l
		serve = func() error { return srv.ServeTCP(l) }
	} else {
		conn, err := net.ListenPacket("udp", p.addr)
		if err != nil {
			ua.Close()
			t.Fatalf("provider listen %s: %v", p.addr, err)
		}
		p.addr, p.conn = conn.LocalAddr().String(), conn
		serve = func() error { return srv.ServeUDP(conn) }
	}
	p.ua, p.done = ua, make(chan struct{})
	done := p.done
	go func() { defer close(done); _ = serve() }()
}

// stop closes the socket (and the TCP connections): the provider is down
// (safe twice).
func (p *fakeProvider) stop() {
	if p.conn == nil {
		return
	}
	p.conn.Close()
	p.ua.Close()
	<-p.done
	p.conn = nil
}

func (p *fakeProvider) onRegister(req *sip.Request, tx sip.ServerTransaction) {
	if p.refuse.Load() {
		p.mu.Lock()
		p.refused++
		p.mu.Unlock()
		_ = tx.Respond(sip.NewResponseFromRequest(req, 503, "Service Unavailable", nil))
		return
	}
	_, res := p.auth.Verify(req, func(u string) (sipauth.Credential, bool) {
		return sipauth.Credential{Password: p.password}, u == p.user
	})
	if res != sipauth.OK {
		p.mu.Lock()
		p.challenged++
		p.mu.Unlock()
		r := p.auth.Respond(req, res)
		if r == nil {
			r = sip.NewResponseFromRequest(req, 403, "Forbidden", nil)
		}
		_ = tx.Respond(r)
		return
	}
	reg := provRegister{at: time.Now()}
	if h := req.GetHeader("Expires"); h != nil {
		reg.expires = h.Value()
	}
	if h := req.GetHeader("Authorization"); h != nil {
		reg.authorization = h.Value()
	}
	if c := req.Contact(); c != nil {
		reg.contact = c.Address.String()
	}
	reg.callID, reg.cseq = req.CallID().Value(), req.CSeq().SeqNo
	p.mu.Lock()
	p.registers = append(p.registers, reg)
	p.mu.Unlock()
	ok := sip.NewResponseFromRequest(req, 200, "OK", nil)
	if c := req.Contact(); c != nil && reg.expires != "0" {
		granted := c.Clone()
		if granted.Params == nil {
			granted.Params = sip.NewParams()
		}
		granted.Params.Add("expires", strconv.Itoa(int(p.grant/time.Second)))
		ok.AppendHeader(granted)
	}
	ok.AppendHeader(sip.NewHeader("Expires", strconv.Itoa(int(p.grant/time.Second))))
	_ = tx.Respond(ok)
}

// accepted returns the REGISTERs accepted so far (unregistrations too).
func (p *fakeProvider) accepted() []provRegister {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]provRegister(nil), p.registers...)
}

func (p *fakeProvider) counts() (challenged, refused int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.challenged, p.refused
}

// trunkState is a trunk as GET /api/registrations shows it.
type trunkState struct {
	ID         string    `json:"id"`
	Up         bool      `json:"up"`
	Register   bool      `json:"register"`
	Registered bool      `json:"registered"`
	Expires    time.Time `json:"expires"`
	LastCode   int       `json:"last_code"`
	LastError  string    `json:"last_error"`
	Failures   int       `json:"failures"`
	Misses     int       `json:"keepalive_misses"`
}

func trunkStates(t *testing.T, srv *harness.Server) map[string]trunkState {
	t.Helper()
	var regs struct {
		Trunks []trunkState `json:"trunks"`
	}
	getJSON(t, srv, "/api/registrations", &regs)
	out := map[string]trunkState{}
	for _, s := range regs.Trunks {
		out[s.ID] = s
	}
	return out
}

// waitLogCount waits until substr occurs n times in the server's logs and
// returns the line of its n-th occurrence.
func waitLogCount(t *testing.T, srv *harness.Server, substr string, n int, timeout time.Duration) string {
	t.Helper()
	var line string
	waitFor(t, timeout, fmt.Sprintf("%d× %q in the logs", n, substr), func() bool {
		seen := 0
		for _, l := range strings.Split(srv.Logs(), "\n") {
			if strings.Contains(l, substr) {
				if seen++; seen == n {
					line = l
					return true
				}
			}
		}
		return false
	})
	return line
}

// A trunk with register: true registers to its provider with digest auth,
// refreshes before the (short) expiry the provider grants, retries with
// backoff while the provider is down or refusing, and registers again
// when it is back; the logs and GET /api/registrations follow each step.
// Over UDP (a provider down is silent: the request times out) and TCP (a
// provider down refuses the connection).
func TestSIPTrunkRegistration(t *testing.T) {
	t.Parallel()
	for i, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			t.Parallel()
			trunkRegistration(t, network, 33200+50*i)
		})
	}
}

func trunkRegistration(t *testing.T, network string, rtpBase int) {
	const grant = 2 * time.Second // refreshed at 80%: 1.6 s
	prov := newFakeProvider(t, network, "acme", "trunk-passphrase", grant)
	company := fmt.Sprintf(`    trunks:
      - {id: p1, host: %q, transport: %s, username: acme, password: "trunk-passphrase", register: true, inbound_ips: ["127.0.0.1"]}
`, prov.addr, network)
	srv, _ := startPlan(t, sipPlan(rtpBase, "", "", company), nil)

	t.Run("registers with digest auth", func(t *testing.T) {
		waitFor(t, 5*time.Second, "an authenticated REGISTER", func() bool { return len(prov.accepted()) >= 1 })
		first := prov.accepted()[0]
		if ch, _ := prov.counts(); ch < 1 {
			t.Errorf("the provider challenged %d REGISTERs, want the first one", ch)
		}
		if !strings.HasPrefix(first.authorization, "Digest ") || !strings.Contains(first.authorization, `username="acme"`) ||
			!strings.Contains(first.authorization, `realm="provider.test"`) {
			t.Errorf("Authorization %q: want digest credentials of acme for realm provider.test", first.authorization)
		}
		if first.expires != "3600" {
			t.Errorf("asked Expires %q, want the default 3600", first.expires)
		}
		srv.WaitLog(t, `msg="trunk registered" trunk=p1`, 5*time.Second)
		st := trunkStates(t, srv)["p1"]
		if !st.Register || !st.Registered || st.LastCode != 200 || st.Failures != 0 {
			t.Errorf("/api/registrations p1 %+v, want registered after a 200", st)
		}
		if left := time.Until(st.Expires); left <= 0 || left > grant+time.Second {
			t.Errorf("p1 expires in %s, want the granted %s", left, grant)
		}
	})
	t.Run("refreshes before the granted expiry", func(t *testing.T) {
		waitFor(t, 5*time.Second, "a refresh", func() bool { return len(prov.accepted()) >= 2 })
		regs := prov.accepted()
		gap := regs[1].at.Sub(regs[0].at)
		if gap >= grant || gap < grant/2 {
			t.Errorf("refresh %s after the registration, want before the %s expiry (at about 80%%)", gap, grant)
		}
		// RFC 3261 10.2: one Call-ID for all registrations to a registrar,
		// CSeq increasing.
		if regs[1].callID != regs[0].callID || regs[1].cseq <= regs[0].cseq {
			t.Errorf("refresh Call-ID %q CSeq %d after %q %d: want the same Call-ID and a higher CSeq",
				regs[1].callID, regs[1].cseq, regs[0].callID, regs[0].cseq)
		}
	})
	t.Run("provider down: retried with backoff", func(t *testing.T) {
		prov.stop()
		before := len(prov.accepted())
		// The refresh fails: unanswered over UDP (the trunk's request
		// timeout is 5 s), refused over TCP.
		line := waitLogCount(t, srv, `msg="trunk registration failed" trunk=p1`, 1, 10*time.Second)
		if !strings.Contains(line, "retry_in=1s") {
			t.Errorf("first failure %q: want retry_in=1s", line)
		}
		st := trunkStates(t, srv)["p1"]
		if st.Registered || st.Failures != 1 || st.LastError == "" {
			t.Errorf("/api/registrations p1 %+v, want not registered, 1 failure, the error", st)
		}
		// Back, but refusing: the next attempt (1 s later) fails fast, and
		// the one after waits twice as long.
		prov.refuse.Store(true)
		prov.start(t)
		line = waitLogCount(t, srv, `msg="trunk registration failed" trunk=p1`, 2, 5*time.Second)
		if !strings.Contains(line, "retry_in=2s") || !strings.Contains(line, "503") {
			t.Errorf("second failure %q: want the 503 and retry_in=2s", line)
		}
		if _, refused := prov.counts(); refused != 1 {
			t.Errorf("provider refused %d REGISTERs, want 1 (one attempt per backoff step)", refused)
		}
		st = trunkStates(t, srv)["p1"]
		if st.Registered || st.Failures != 2 || st.LastCode != 503 {
			t.Errorf("/api/registrations p1 %+v, want not registered, 2 failures, last code 503", st)
		}
		if n := len(prov.accepted()); n != before {
			t.Errorf("%d REGISTERs accepted while down", n-before)
		}
	})
	t.Run("provider back: registered again", func(t *testing.T) {
		prov.refuse.Store(false)
		waitLogCount(t, srv, `msg="trunk registered" trunk=p1`, 2, 5*time.Second)
		st := trunkStates(t, srv)["p1"]
		if !st.Registered || st.Failures != 0 || st.LastCode != 200 || st.LastError != "" {
			t.Errorf("/api/registrations p1 %+v, want registered again with the failures cleared", st)
		}
		last := prov.accepted()
		if c := last[len(last)-1].contact; !strings.HasPrefix(c, "sip:acme@"+srv.SIP[network]) {
			t.Errorf("registered contact %q, want sip:acme@%s (the PBX's %s listener)", c, srv.SIP[network], network)
		}
	})
	t.Run("unregisters at shutdown", func(t *testing.T) {
		if code := srv.Stop(t); code != 0 {
			t.Errorf("luapbx serve exited %d", code)
		}
		regs := prov.accepted()
		if last := regs[len(regs)-1]; last.expires != "0" {
			t.Errorf("last REGISTER asked Expires %q, want 0 (unregistration) before exiting", last.expires)
		}
	})
}

// A gateway with two trunks whose first does not answer OPTIONS: the
// keepalive marks it down (log, /api/registrations), a call to the gateway
// goes straight to the second trunk without waiting for the first's
// timeout; the first comes back, is marked up and takes calls again.
func TestSIPTrunkKeepaliveFailover(t *testing.T) {
	t.Parallel()
	dead := freeUDPPorts(t, 1)[0] // nothing listens there until p1 "comes back"
	p1Addr := "127.0.0.1:" + strconv.Itoa(dead)
	p2 := fakeTrunk(t, "p2")
	// Probed every second: two misses in a row mark p1 down in ~2 s.
	keepalive := func(y string) string {
		return strings.Replace(y, "register: false", "register: false, keepalive_seconds: 1", 1)
	}
	company := "    trunks:\n" + keepalive(trunkYAML("p1", p1Addr, "127.0.0.2")) + keepalive(trunkYAML("p2", hostPort(p2), "127.0.0.2")) +
		`    rules:
      - {name: out, caller_type: internal, called: "^9", action: route, target: "gateway:p1,p2"}
`
	srv, _ := startPlan(t, sipPlan(33300, "", "", company), nil)
	caller := newPhoneWith(t, srv, "udp", "201", "a-long-passphrase-201")

	t.Run("marked down", func(t *testing.T) {
		srv.WaitLog(t, `msg="trunk down" trunk=p1`, 10*time.Second)
		st := trunkStates(t, srv)
		if st["p1"].Up || st["p1"].LastError == "" || st["p1"].Misses < 2 {
			t.Errorf("/api/registrations p1 %+v, want down with the probe's error", st["p1"])
		}
		if !st["p2"].Up || st["p2"].LastCode != 200 {
			t.Errorf("/api/registrations p2 %+v, want up", st["p2"])
		}
	})
	t.Run("the call goes to the up trunk first", func(t *testing.T) {
		a2 := startAnswer(t, p2, phone.AnswerOptions{Count: 1}, callTimeout)
		s := dial(t, caller, "90612345678", phone.CallOptions{HangupAfter: 200 * time.Millisecond})
		if s.FinalCode != 200 || s.State != phone.StateCompleted {
			t.Errorf("caller: final %d state %s, want 200 completed: %+v", s.FinalCode, s.State, s.Codes)
		}
		// The trunk timeout is 4 s: answered well before means p1 was not tried.
		if s.AnswerMS > 1500 {
			t.Errorf("answered after %.0f ms: the call waited for the down trunk", s.AnswerMS)
		}
		if got := a2.wait(t); len(got) != 1 || got[0].State != phone.StateCompleted {
			t.Errorf("p2: %+v, want one completed call", got)
		}
		srv.WaitLog(t, `msg="trunk down, tried last"`, time.Second)
	})
	t.Run("back up", func(t *testing.T) {
		p1, err := phone.New(phone.Config{Listen: "udp:" + p1Addr, User: "p1", Domain: "127.0.0.1",
			Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p1.Close() })
		srv.WaitLog(t, `msg="trunk up" trunk=p1`, 10*time.Second)
		if st := trunkStates(t, srv)["p1"]; !st.Up || st.LastCode != 200 || st.LastError != "" || st.Misses != 0 {
			t.Errorf("/api/registrations p1 %+v, want up after a 200, the probe's error cleared", st)
		}
		a1 := startAnswer(t, p1, phone.AnswerOptions{Count: 1}, callTimeout)
		s := dial(t, caller, "90612345678", phone.CallOptions{HangupAfter: 200 * time.Millisecond})
		if s.FinalCode != 200 {
			t.Errorf("caller: final %d, want 200: %+v", s.FinalCode, s.Codes)
		}
		if got := a1.wait(t); len(got) != 1 || got[0].State != phone.StateCompleted {
			t.Errorf("p1 back up: %+v, want it to take the call", got)
		}
	})
}
