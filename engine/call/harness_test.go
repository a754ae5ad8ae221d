package call

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"luapbx/engine"
	"luapbx/engine/ban"
	"luapbx/engine/call/calltest"
	"luapbx/engine/phone"
	"luapbx/engine/routing"
	"luapbx/engine/sipauth"
	"luapbx/engine/sipserver"
)

// fakeSnap is a Snapshot with function fields and maps.
type fakeSnap struct {
	mu     sync.Mutex
	exts   map[string]Extension
	groups map[string]Group
	trunks map[string]Trunk
	from   map[netip.Addr]string // trunk id by source
	decide func(c *routing.Call) routing.Decision
}

func (f *fakeSnap) Extension(n string) (Extension, bool) { e, ok := f.exts[n]; return e, ok }
func (f *fakeSnap) Group(_, n string) (Group, bool)      { g, ok := f.groups[n]; return g, ok }
func (f *fakeSnap) Trunk(_, id string) (Trunk, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.trunks[id]
	return t, ok
}

func (f *fakeSnap) setTrunk(t Trunk) {
	f.mu.Lock()
	f.trunks[t.ID] = t
	f.mu.Unlock()
}
func (f *fakeSnap) TrunkFrom(ip netip.Addr) (Trunk, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id, ok := f.from[ip]
	if !ok {
		return Trunk{}, false
	}
	return f.trunks[id], true
}
func (f *fakeSnap) Generation() uint64 { return 7 }
func (f *fakeSnap) Decide(_ context.Context, c *routing.Call) (routing.Decision, any) {
	if f.decide != nil {
		return f.decide(c), "fake"
	}
	// Default: the dialled number is an extension.
	return routing.Decision{Target: routing.Target{Kind: routing.TargetUser, Arg: c.To}, Number: c.To}, "fake"
}

// events records call events.
type events struct {
	mu  sync.Mutex
	evs []engine.Event
	end chan engine.Event
}

func (e *events) add(ev engine.Event) {
	e.mu.Lock()
	e.evs = append(e.evs, ev)
	e.mu.Unlock()
	if ev.Type == "call.end" {
		e.end <- ev
	}
}

type pbx struct {
	t    testing.TB
	srv  *sipserver.Server
	m    *Manager
	snap *fakeSnap
	loc  *calltest.Locator
	ev   *events
	bans *ban.Tracker
	addr string // udp host:port
	stop map[string]context.CancelFunc
}

func testLog() *slog.Logger {
	if os.Getenv("CALL_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// newPBX starts a PBX on 127.0.0.1 with extensions 201..203 (password
// "pw"+number) and the given config changes.
func newPBX(t *testing.T, tweak func(*fakeSnap, *Config)) *pbx { return newPBXTB(t, tweak) }

func newPBXB(b *testing.B) *pbx { return newPBXTB(b, nil) }

func newPBXTB(t testing.TB, tweak func(*fakeSnap, *Config), listen ...string) *pbx {
	t.Helper()
	log := testLog()
	srv, err := sipserver.New(log)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range append([]string{"udp:127.0.0.1:0"}, listen...) {
		if err := srv.Listen(l); err != nil {
			t.Fatal(err)
		}
	}
	snap := &fakeSnap{exts: map[string]Extension{}, groups: map[string]Group{}, trunks: map[string]Trunk{}, from: map[netip.Addr]string{}}
	for _, n := range []string{"201", "202", "203", "204"} {
		snap.exts[n] = Extension{Number: n, Company: "acme", Credential: sipauth.Credential{Password: "pw" + n}, RingSeconds: 5}
	}
	p := &pbx{t: t, srv: srv, snap: snap, loc: &calltest.Locator{},
		ev: &events{end: make(chan engine.Event, 256)}, bans: ban.New(3, time.Minute, time.Minute, nil)}
	cfg := Config{
		Snapshots: func() (Snapshot, func()) { return snap, func() {} },
		Locations: p.loc, Auth: sipauth.New("luapbx"), Transport: srv, Bans: p.bans, Events: p.ev.add,
	}
	if tweak != nil {
		tweak(snap, &cfg)
	}
	m, err := New(log, cfg)
	if err != nil {
		t.Fatal(err)
	}
	p.m = m
	srv.SetCalls(m)
	p.addr = srv.Addr("udp")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	<-srv.Ready()
	t.Cleanup(func() {
		m.Close()
		cancel()
		<-done
	})
	return p
}

// phone starts a test phone for user (password "pw"+user).
func (p *pbx) phone(user string) *phone.Phone {
	p.t.Helper()
	ph, err := phone.New(phone.Config{Server: "udp:" + p.addr, User: user, Password: "pw" + user, Log: testLog()})
	if err != nil {
		p.t.Fatal(err)
	}
	p.t.Cleanup(func() { ph.Close() })
	return ph
}

// callee registers a phone as user and starts answering as opts say; the
// returned function waits for the answer summaries.
func (p *pbx) callee(user string, opts phone.AnswerOptions) (*phone.Phone, func() []phone.Summary) {
	ph := p.phone(user)
	p.loc.Add(user, ph)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	if p.stop == nil {
		p.stop = map[string]context.CancelFunc{}
	}
	p.stop[user] = cancel
	var out []phone.Summary
	done := make(chan struct{})
	go func() {
		defer close(done)
		out, _ = ph.Answer(ctx, opts)
	}()
	time.Sleep(20 * time.Millisecond) // let Answer install its handler
	return ph, func() []phone.Summary {
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			p.t.Error("callee did not finish")
		}
		cancel()
		<-done
		return out
	}
}

// waitEnd returns the next call.end event.
func (p *pbx) waitEnd() engine.Event {
	p.t.Helper()
	select {
	case ev := <-p.ev.end:
		return ev
	case <-time.After(15 * time.Second):
		p.t.Fatal("no call.end event")
	}
	return engine.Event{}
}

// call places a call from user to number.
func (p *pbx) call(from *phone.Phone, number string, opts phone.CallOptions) phone.Summary {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := from.Call(ctx, number, opts)
	if err != nil {
		p.t.Fatal(err)
	}
	return s
}

// idle waits until no call is left and every limit slot is free.
func (p *pbx) idle() {
	p.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		p.m.mu.Lock()
		n, k := len(p.m.byID)+len(p.m.legs), len(p.m.counts)+p.m.total
		p.m.mu.Unlock()
		if n == 0 && k == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.t.Errorf("calls or slots left over: %v", p.m.Calls())
}
