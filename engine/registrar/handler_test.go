package registrar

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"

	"luapbx/engine/ban"
	"luapbx/engine/sipauth"
)

const realm = "pbx.test"

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var testUsers = UsersFunc(func(_, user string) (sipauth.Credential, bool) {
	switch user {
	case "201":
		return sipauth.Credential{Password: "s3cret"}, true
	case "202":
		return sipauth.Credential{HA1MD5: sipauth.HA1(sipauth.MD5, "202", realm, "pw202")}, true
	}
	return sipauth.Credential{}, false
})

type fixture struct {
	clk    *clock
	reg    *Registrar
	bans   *ban.Tracker
	mu     sync.Mutex
	events []Event
}

func newFixture(t testing.TB, opts ...Option) *fixture {
	t.Helper()
	return newFixtureAt(t, &clock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}, opts...)
}

// newFixtureAt is newFixture on clk (a restart keeps the time going).
func newFixtureAt(t testing.TB, clk *clock, opts ...Option) *fixture {
	t.Helper()
	f := &fixture{clk: clk}
	f.bans = ban.New(3, time.Minute, 10*time.Minute, f.clk.now)
	auth := sipauth.New(realm, sipauth.WithClock(f.clk.now))
	all := append([]Option{WithClock(f.clk.now), WithBans(f.bans), WithOnChange(func(e Event) {
		f.mu.Lock()
		f.events = append(f.events, e)
		f.mu.Unlock()
	})}, opts...)
	f.reg = New(slog.New(slog.DiscardHandler), auth, testUsers, all...)
	return f
}

func (f *fixture) takeEvents() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, e := range f.events {
		out = append(out, string(e.Type)+" "+e.Binding.ContactURI)
	}
	f.events = nil
	return out
}

// reg describes one REGISTER.
type reg struct {
	user, password string // password "" sends no credentials
	aor            string // To user, default user
	contacts       []string
	expires        string // Expires header, "" for none
	source         string
	callID         string
	cseq           uint32
}

var cseqs sync.Map

func (f *fixture) request(t testing.TB, r reg) *sip.Request {
	t.Helper()
	if r.aor == "" {
		r.aor = r.user
	}
	if r.source == "" {
		r.source = "127.0.0.1:5062"
	}
	if r.callID == "" {
		r.callID = "call-" + r.user + "-" + r.source
	}
	var ruri sip.Uri
	if err := sip.ParseUri("sip:"+realm, &ruri); err != nil {
		t.Fatal(err)
	}
	req := sip.NewRequest(sip.REGISTER, ruri)
	req.AppendHeader(sip.NewHeader("Via", "SIP/2.0/UDP "+r.source+";branch=z9hG4bK"+fmt.Sprint(time.Now().UnixNano())))
	req.AppendHeader(sip.NewHeader("From", "<sip:"+r.user+"@"+realm+">;tag=abc"))
	req.AppendHeader(sip.NewHeader("To", "<sip:"+r.aor+"@"+realm+">"))
	req.AppendHeader(sip.NewHeader("Call-ID", r.callID))
	cseq := r.cseq
	if cseq == 0 {
		v, _ := cseqs.LoadOrStore(r.callID, new(uint32))
		p := v.(*uint32)
		*p++
		cseq = *p
	}
	req.AppendHeader(sip.NewHeader("CSeq", fmt.Sprintf("%d REGISTER", cseq)))
	for _, c := range r.contacts {
		req.AppendHeader(sip.NewHeader("Contact", c))
	}
	if r.expires != "" {
		req.AppendHeader(sip.NewHeader("Expires", r.expires))
	}
	req.SetSource(r.source)
	req.SetTransport("UDP")
	return req
}

// do sends r through the registrar: challenge, then credentials.
func (f *fixture) do(t testing.TB, r reg) *sip.Response {
	t.Helper()
	res := f.reg.Handle(f.request(t, r))
	// A second round only after an MD5-only challenge (the answer to a
	// SHA-256 response for a user configured with an MD5 HA1 alone).
	for round := 0; r.password != "" && res.StatusCode == 401 && round < 2; round++ {
		chals := res.GetHeaders("WWW-Authenticate")
		if round == 1 && len(chals) != 1 {
			break
		}
		chal, err := digest.ParseChallenge(chals[0].Value())
		if err != nil {
			t.Fatal(err)
		}
		req := f.request(t, r)
		cr, err := digest.Digest(chal, digest.Options{Method: "REGISTER", URI: req.Recipient.String(), Username: r.user, Password: r.password})
		if err != nil {
			t.Fatal(err)
		}
		req.AppendHeader(sip.NewHeader("Authorization", cr.String()))
		res = f.reg.Handle(req)
	}
	return res
}

func contactsOf(res *sip.Response) []string {
	var out []string
	for _, h := range res.GetHeaders("Contact") {
		out = append(out, h.Value())
	}
	return out
}

func TestRegisterScenarios(t *testing.T) {
	const c1, c2 = "<sip:201@10.0.0.5:5060>", "<sip:201@10.0.0.6:5070;transport=udp>"
	type step struct {
		reg      reg
		advance  time.Duration
		code     int
		contacts []string // expected Contact values in the 200
		events   []string
	}
	alice := func(r reg) reg { r.user, r.password = "201", "s3cret"; return r }
	tests := []struct {
		name  string
		steps []step
	}{
		{"default expiry", []step{{reg: alice(reg{contacts: []string{c1}}), code: 200,
			contacts: []string{"<sip:201@10.0.0.5:5060>;expires=3600"}, events: []string{"register sip:201@10.0.0.5:5060"}}}},
		{"ha1 md5 user", []step{{reg: reg{user: "202", password: "pw202", contacts: []string{"<sip:202@10.0.0.9>"}}, code: 200,
			contacts: []string{"<sip:202@10.0.0.9>;expires=3600"}, events: []string{"register sip:202@10.0.0.9"}}}},
		{"two contacts", []step{
			{reg: alice(reg{contacts: []string{c1}, expires: "600"}), code: 200},
			{reg: alice(reg{contacts: []string{c2}, expires: "300", source: "10.0.0.6:5070"}), code: 200,
				contacts: []string{"<sip:201@10.0.0.5:5060>;expires=600", "<sip:201@10.0.0.6:5070;transport=udp>;expires=300"}},
		}},
		// The same socket under a new Call-ID is the same phone restarted
		// (here with a new contact): its old binding goes.
		{"restarted phone replaces its binding", []step{
			{reg: alice(reg{contacts: []string{c1}, callID: "before"}), code: 200},
			{reg: alice(reg{contacts: []string{"<sip:201-new@10.0.0.5:5060>"}, callID: "after"}), code: 200,
				contacts: []string{"<sip:201-new@10.0.0.5:5060>;expires=3600"},
				events:   []string{"unregister sip:201@10.0.0.5:5060", "register sip:201-new@10.0.0.5:5060"}},
		}},
		{"too brief", []step{{reg: alice(reg{contacts: []string{c1}, expires: "30"}), code: 423}}},
		{"clamped", []step{{reg: alice(reg{contacts: []string{c1}, expires: "86400"}), code: 200,
			contacts: []string{"<sip:201@10.0.0.5:5060>;expires=3600"}}}},
		{"contact param wins", []step{{reg: alice(reg{contacts: []string{c1 + ";expires=120"}, expires: "900"}), code: 200,
			contacts: []string{"<sip:201@10.0.0.5:5060>;expires=120"}}}},
		{"refresh keeps one binding", []step{
			{reg: alice(reg{contacts: []string{c1}, expires: "600"}), code: 200},
			{advance: 100 * time.Second, reg: alice(reg{contacts: []string{c1}, expires: "600"}), code: 200,
				contacts: []string{"<sip:201@10.0.0.5:5060>;expires=600"}, events: []string{"refresh sip:201@10.0.0.5:5060"}},
		}},
		{"unregister one contact", []step{
			{reg: alice(reg{contacts: []string{c1}}), code: 200},
			{reg: alice(reg{contacts: []string{c2}, source: "10.0.0.6:5070"}), code: 200},
			{reg: alice(reg{contacts: []string{c1}, expires: "0"}), code: 200,
				contacts: []string{"<sip:201@10.0.0.6:5070;transport=udp>;expires=3600"}, events: []string{"unregister sip:201@10.0.0.5:5060"}},
		}},
		{"unregister all", []step{
			{reg: alice(reg{contacts: []string{c1}}), code: 200},
			{reg: alice(reg{contacts: []string{c2}, source: "10.0.0.6:5070"}), code: 200},
			{reg: alice(reg{contacts: []string{"*"}, expires: "0"}), code: 200,
				events: []string{"unregister sip:201@10.0.0.5:5060", "unregister sip:201@10.0.0.6:5070;transport=udp"}},
		}},
		{"wildcard needs expires 0", []step{{reg: alice(reg{contacts: []string{"*"}, expires: "60"}), code: 400}}},
		{"query lists without change", []step{
			{reg: alice(reg{contacts: []string{c1}}), code: 200},
			{advance: time.Minute, reg: alice(reg{}), code: 200, contacts: []string{"<sip:201@10.0.0.5:5060>;expires=3540"}},
		}},
		{"expiry", []step{
			{reg: alice(reg{contacts: []string{c1}, expires: "60"}), code: 200},
			{advance: 61 * time.Second, reg: alice(reg{}), code: 200, contacts: nil},
		}},
		{"out of order cseq", []step{
			{reg: alice(reg{contacts: []string{c1}, cseq: 10, callID: "x"}), code: 200},
			{reg: alice(reg{contacts: []string{c1}, cseq: 5, callID: "x"}), code: 500},
		}},
		{"no credentials challenged", []step{{reg: reg{user: "201", contacts: []string{c1}}, code: 401}}},
		{"wrong password", []step{{reg: reg{user: "201", password: "nope", contacts: []string{c1}}, code: 401}}},
		{"unknown user", []step{{reg: reg{user: "999", password: "x", contacts: []string{c1}}, code: 401}}},
		{"third-party registration refused", []step{{reg: alice(reg{aor: "202", contacts: []string{c1}}), code: 403}}},
		{"too many contacts", []step{
			{reg: alice(reg{contacts: []string{c1}}), code: 200},
			{reg: alice(reg{contacts: []string{c2}, source: "10.0.0.6:5070"}), code: 200},
			{reg: alice(reg{contacts: []string{"<sip:201@10.0.0.7>"}, source: "10.0.0.7:5060"}), code: 403},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, WithMaxContacts(2))
			for i, s := range tc.steps {
				f.clk.add(s.advance)
				f.takeEvents()
				res := f.do(t, s.reg)
				if res.StatusCode != s.code {
					t.Fatalf("step %d: %d %s, want %d", i, res.StatusCode, res.Reason, s.code)
				}
				if s.code == 423 {
					if h := res.GetHeader("Min-Expires"); h == nil || h.Value() != "60" {
						t.Fatalf("423 without Min-Expires: 60: %s", res)
					}
				}
				if s.code == 200 && (s.contacts != nil || i == len(tc.steps)-1) {
					if got := contactsOf(res); strings.Join(got, "|") != strings.Join(s.contacts, "|") {
						t.Fatalf("step %d: contacts %q, want %q", i, got, s.contacts)
					}
				}
				if s.events != nil {
					if got := f.takeEvents(); strings.Join(got, "|") != strings.Join(s.events, "|") {
						t.Fatalf("step %d: events %q, want %q", i, got, s.events)
					}
				}
			}
		})
	}
}

func TestNATBinding(t *testing.T) {
	f := newFixture(t)
	res := f.do(t, reg{user: "201", password: "s3cret", contacts: []string{"<sip:201@192.168.1.10:5060>"}, source: "203.0.113.5:40000"})
	if res.StatusCode != 200 {
		t.Fatalf("code %d", res.StatusCode)
	}
	bs := f.reg.Lookup("201")
	if len(bs) != 1 {
		t.Fatalf("bindings %+v", bs)
	}
	b := bs[0]
	if b.Source != "203.0.113.5:40000" || b.Transport != "UDP" || !b.NATed() {
		t.Fatalf("binding %+v natted=%v", b, b.NATed())
	}
	req := sip.NewRequest(sip.INVITE, b.Contact)
	b.Route(req)
	if req.Destination() != "203.0.113.5:40000" || req.Recipient.Host != "192.168.1.10" {
		t.Fatalf("routed to %s (ruri %s)", req.Destination(), req.Recipient.String())
	}
	// Not behind NAT: contact equals source.
	f.do(t, reg{user: "202", password: "pw202", contacts: []string{"<sip:202@10.0.0.2:5062>"}, source: "10.0.0.2:5062"})
	if b := f.reg.Lookup("202"); len(b) != 1 || b[0].NATed() {
		t.Fatalf("202 binding %+v", b)
	}
}

func TestBanAfterFailures(t *testing.T) {
	f := newFixture(t)
	const attacker, other = "198.51.100.9:5060", "127.0.0.1:5062"
	for i := range 3 {
		res := f.do(t, reg{user: "201", password: fmt.Sprint("guess", i), contacts: []string{"<sip:201@x>"}, source: attacker})
		if res.StatusCode != 401 {
			t.Fatalf("attempt %d: %d", i, res.StatusCode)
		}
	}
	if !f.bans.Banned("198.51.100.9") {
		t.Fatal("attacker not banned after 3 failures")
	}
	// Banned: even the right password is refused, without a challenge.
	if res := f.reg.Handle(f.request(t, reg{user: "201", contacts: []string{"<sip:201@x>"}, source: attacker})); res.StatusCode != 403 {
		t.Fatalf("banned source got %d", res.StatusCode)
	}
	// The account is not locked: another address registers fine.
	if res := f.do(t, reg{user: "201", password: "s3cret", contacts: []string{"<sip:201@y>"}, source: other}); res.StatusCode != 200 {
		t.Fatalf("other source got %d", res.StatusCode)
	}
	// Challenges (no credentials) never count.
	for range 10 {
		f.reg.Handle(f.request(t, reg{user: "202", contacts: []string{"<sip:202@z>"}, source: "192.0.2.1:5060"}))
	}
	if f.bans.Banned("192.0.2.1") {
		t.Fatal("unauthenticated requests caused a ban")
	}
	f.clk.add(11 * time.Minute)
	if res := f.do(t, reg{user: "201", password: "s3cret", contacts: []string{"<sip:201@x>"}, source: attacker}); res.StatusCode != 200 {
		t.Fatalf("after ban expiry got %d", res.StatusCode)
	}
}

func TestSweepEmitsExpire(t *testing.T) {
	f := newFixture(t)
	f.do(t, reg{user: "201", password: "s3cret", contacts: []string{"<sip:201@10.0.0.5>"}, expires: "60"})
	f.do(t, reg{user: "202", password: "pw202", contacts: []string{"<sip:202@10.0.0.6>"}, expires: "120"})
	f.takeEvents()
	f.clk.add(90 * time.Second)
	f.reg.Sweep()
	if got := f.takeEvents(); len(got) != 1 || got[0] != "expire sip:201@10.0.0.5" {
		t.Fatalf("events %q", got)
	}
	all := f.reg.All()
	if len(all) != 1 || all[0].AOR != "202" || all[0].ExpiresIn(f.clk.now()) != 30 {
		t.Fatalf("all %+v", all)
	}
}

// TestSweepRemovesGoneExtensions: an extension a reload took out of the
// plan loses its bindings (a removed event) at the next sweep; the others
// stay.
func TestSweepRemovesGoneExtensions(t *testing.T) {
	f := newFixture(t)
	f.do(t, reg{user: "201", password: "s3cret", contacts: []string{"<sip:201@10.0.0.5>"}})
	f.do(t, reg{user: "202", password: "pw202", contacts: []string{"<sip:202@10.0.0.6>", "<sip:202@10.0.0.7>"}})
	f.takeEvents()
	f.reg.users = UsersFunc(func(d, user string) (sipauth.Credential, bool) {
		if user == "202" {
			return sipauth.Credential{}, false
		}
		return testUsers(d, user)
	})
	f.reg.Sweep()
	got := f.takeEvents()
	slices.Sort(got)
	if want := []string{"removed sip:202@10.0.0.6", "removed sip:202@10.0.0.7"}; !slices.Equal(got, want) {
		t.Fatalf("events %q, want %q", got, want)
	}
	if all := f.reg.All(); len(all) != 1 || all[0].AOR != "201" {
		t.Fatalf("all %+v", all)
	}
	f.reg.Sweep()
	if got := f.takeEvents(); len(got) != 0 {
		t.Fatalf("second sweep: %q", got)
	}
}

// TestSweepPrunesOnNewGeneration: with WithGeneration, users are looked up
// only when the generation changed.
func TestSweepPrunesOnNewGeneration(t *testing.T) {
	var gen atomic.Uint64
	gen.Store(1)
	f := newFixture(t, WithGeneration(gen.Load))
	f.do(t, reg{user: "202", password: "pw202", contacts: []string{"<sip:202@10.0.0.6>"}})
	f.reg.Sweep() // generation 1 checked
	f.takeEvents()
	var lookups atomic.Int32
	f.reg.users = UsersFunc(func(d, user string) (sipauth.Credential, bool) {
		lookups.Add(1)
		return sipauth.Credential{}, false // 202 is gone
	})
	f.reg.Sweep()
	if got := f.takeEvents(); len(got) != 0 || lookups.Load() != 0 {
		t.Fatalf("same generation: events %q, %d lookups; want none", got, lookups.Load())
	}
	gen.Store(2)
	f.reg.Sweep()
	if got := f.takeEvents(); len(got) != 1 || got[0] != "removed sip:202@10.0.0.6" {
		t.Fatalf("new generation: events %q", got)
	}
}

func BenchmarkHandleRegister(b *testing.B) {
	f := newFixture(b)
	r := reg{user: "201", password: "s3cret", contacts: []string{"<sip:201@10.0.0.5:5060>"}, callID: "bench", cseq: 1}
	first := f.reg.Handle(f.request(b, r))
	chal, err := digest.ParseChallenge(first.GetHeader("WWW-Authenticate").Value())
	if err != nil {
		b.Fatal(err)
	}
	cr, err := digest.Digest(chal, digest.Options{Method: "REGISTER", URI: "sip:" + realm, Username: "201", Password: "s3cret"})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	n := uint32(1)
	for b.Loop() {
		n++
		r.cseq = n
		req := f.request(b, r)
		req.AppendHeader(sip.NewHeader("Authorization", cr.String()))
		if res := f.reg.Handle(req); res.StatusCode != 200 {
			b.Fatalf("code %d", res.StatusCode)
		}
	}
}
