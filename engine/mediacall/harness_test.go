package mediacall

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
	"luapbx/engine/call"
	"luapbx/engine/call/calltest"
	"luapbx/engine/phone"
	"luapbx/engine/routing"
	"luapbx/engine/sipauth"
	"luapbx/engine/sipserver"
	"luapbx/media/wav"
)

// fakeSnap is a one-generation config: extensions 201-204 and a routing
// function.
type fakeSnap struct {
	exts   map[string]call.Extension
	trunks map[string]call.Trunk // set before calls start

	mu     sync.Mutex // guards the maps and decide: tests change them while calls may run
	decide func(c *routing.Call) routing.Decision
}

func (f *fakeSnap) setDecide(d func(c *routing.Call) routing.Decision) {
	f.mu.Lock()
	f.decide = d
	f.mu.Unlock()
}

func (f *fakeSnap) Extension(n string) (call.Extension, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, ok := f.exts[n]
	return e, ok
}

func (f *fakeSnap) setExt(e call.Extension) {
	f.mu.Lock()
	f.exts[e.Number] = e
	f.mu.Unlock()
}

func (f *fakeSnap) setTrunk(t call.Trunk) {
	f.mu.Lock()
	f.trunks[t.ID] = t
	f.mu.Unlock()
}
func (f *fakeSnap) Group(_, _ string) (call.Group, bool) { return call.Group{}, false }
func (f *fakeSnap) Trunk(_, id string) (call.Trunk, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.trunks[id]
	return t, ok
}
func (f *fakeSnap) TrunkFrom(netip.Addr) (call.Trunk, bool) { return call.Trunk{}, false }
func (f *fakeSnap) Generation() uint64                      { return 7 }
func (f *fakeSnap) Decide(_ context.Context, c *routing.Call) (routing.Decision, any) {
	f.mu.Lock()
	decide := f.decide
	f.mu.Unlock()
	if decide != nil {
		return decide(c), "fake explanation"
	}
	return routing.Decision{Target: routing.Target{Kind: routing.TargetUser, Arg: c.To}, Number: c.To}, "fake explanation"
}

type pbx struct {
	t      *testing.T
	m      *call.Manager
	anchor *Anchor
	snap   *fakeSnap
	loc    *calltest.Locator
	addr   string
	ends   chan call.End
	events chan engine.Event
	recs   sync.Map // call id -> the recording OnEnd returned
}

func testLog() *slog.Logger {
	if os.Getenv("MEDIA_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// newPBX starts engine/call with an Anchor on 127.0.0.1.
func newPBX(t *testing.T, tweak func(*Options)) *pbx {
	t.Helper()
	log := testLog()
	srv, err := sipserver.New(log)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen("udp:127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	p := &pbx{t: t, snap: &fakeSnap{exts: map[string]call.Extension{}, trunks: map[string]call.Trunk{}}, loc: &calltest.Locator{},
		ends: make(chan call.End, 16), events: make(chan engine.Event, 64)}
	for _, n := range []string{"201", "202", "203", "204"} {
		p.snap.exts[n] = call.Extension{Number: n, Company: "acme", Credential: sipauth.Credential{Password: "pw" + n}, RingSeconds: 5}
	}
	opts := Options{IP: netip.MustParseAddr("127.0.0.1"), Ports: "31000-31999", RTPTimeout: 10 * time.Second,
		RecordingsDir: t.TempDir(), VoicemailDir: t.TempDir(),
		Events: func(ev engine.Event) { p.events <- ev }}
	if tweak != nil {
		tweak(&opts)
	}
	an, err := New(log, opts)
	if err != nil {
		t.Fatal(err)
	}
	p.anchor = an
	m, err := call.New(log, call.Config{
		Snapshots: func() (call.Snapshot, func()) { return p.snap, func() {} },
		Locations: p.loc, Auth: sipauth.New("luapbx"), Transport: srv,
		RewriteSDP: an.RewriteSDP, Media: an,
		OnEnd: func(e call.End) { p.recs.Store(e.Call.ID, an.OnEnd(e)); p.ends <- e },
	})
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
		_ = an.Close()
	})
	return p
}

// phone starts a phone for user with media options and codecs.
func (p *pbx) phone(user string, mo phone.MediaOptions, codecs ...uint8) *phone.Phone {
	p.t.Helper()
	mf, err := phone.RTPMedia(mo)
	if err != nil {
		p.t.Fatal(err)
	}
	ph, err := phone.New(phone.Config{Server: "udp:" + p.addr, User: user, Password: "pw" + user, Log: testLog(),
		Media: mf, Codecs: codecs})
	if err != nil {
		p.t.Fatal(err)
	}
	p.t.Cleanup(func() { ph.Close() })
	return ph
}

// callee registers ph as user and answers one call; the function returned
// waits for its summary.
func (p *pbx) callee(user string, ph *phone.Phone, opts phone.AnswerOptions) func() phone.Summary {
	p.t.Helper()
	p.loc.Add(user, ph)
	return p.answer("callee "+user, ph, opts)
}

// answer makes ph answer one call as opts say; the function returned waits
// for its summary.
func (p *pbx) answer(who string, ph *phone.Phone, opts phone.AnswerOptions) func() phone.Summary {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	an, err := ph.StartAnswer(ctx, opts)
	if err != nil {
		cancel()
		p.t.Fatal(err)
	}
	return func() phone.Summary {
		defer cancel()
		s, err := an.Wait()
		if err != nil || len(s) != 1 {
			p.t.Fatalf("%s: %v %+v", who, err, s)
		}
		return s[0]
	}
}

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

func (p *pbx) waitEnd() call.End {
	p.t.Helper()
	select {
	case e := <-p.ends:
		return e
	case <-time.After(15 * time.Second):
		p.t.Fatal("call did not end")
	}
	return call.End{}
}

// idlePorts waits until every RTP port went back to the pool.
func (p *pbx) idlePorts() {
	p.t.Helper()
	for range 500 {
		if p.anchor.InUse() == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.t.Errorf("%d rtp ports still in use", p.anchor.InUse())
}

func readWAV(t *testing.T, path string) ([]int16, wav.Format) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pcm, format, err := wav.ReadPCM(f)
	if err != nil {
		t.Fatal(err)
	}
	return pcm, format
}
