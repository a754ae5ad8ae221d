// Package pbx assembles the running PBX from a snapshot manager: the SIP
// listeners, the registrar with digest auth and bans, the B2BUA, trunk
// registration and keepalive, and the events that feed scripts, metrics and
// call records. cmd/luapbx only calls New, Run and Close.
package pbx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"luapbx/engine"
	"luapbx/engine/admin"
	"luapbx/engine/ban"
	"luapbx/engine/call"
	"luapbx/engine/cdr"
	"luapbx/engine/config"
	"luapbx/engine/dashboard"
	"luapbx/engine/mediacall"
	"luapbx/engine/metrics"
	"luapbx/engine/registrar"
	"luapbx/engine/reload"
	"luapbx/engine/sipauth"
	"luapbx/engine/sipserver"
	"luapbx/engine/trunk"

	"github.com/prometheus/client_golang/prometheus"
)

// Realm is the digest realm the PBX challenges with; an extension's ha1 is
// MD5("number:luapbx:password").
const Realm = "luapbx"

// Options configures the PBX.
type Options struct {
	Trace   bool             // log every SIP message
	TraceTo io.Writer        // with Trace: readable message blocks here instead of log records
	Metrics *metrics.Metrics // nil: none
	OnEnd   func(call.End)   // each ended call, e.g. for the CDR store; must not block
}

// PBX is the running signalling side.
type PBX struct {
	log    *slog.Logger
	mgr    *reload.Manager
	opts   Options
	srv    *sipserver.Server
	reg    *registrar.Registrar
	calls  *call.Manager
	trunks *trunk.Manager
	bans   *ban.Tracker
	auth   *sipauth.Auth

	media     *mediacall.Anchor
	store     cdr.Store // nil without storage.cdr
	cdrw      *cdr.Writer
	journal   *cdr.Journal // the records calls in progress would get if the process died
	unlockCDR func() error // releases the lock on the journal and spill files
	// recovered are the calls a killed previous run left up, whose
	// call.end Run sends (recovered.go); pending is their file.
	recovered []cdr.Record
	pending   string

	dir       atomic.Pointer[directory]
	closeOnce sync.Once
}

// New binds the SIP listeners of the live config and builds the PBX.
func New(log *slog.Logger, mgr *reload.Manager, opts Options) (*PBX, error) {
	cfg := mgr.Current().Config
	p := &PBX{log: log, mgr: mgr, opts: opts}
	srv, err := sipserver.New(log, sipserver.WithTrace(opts.Trace), sipserver.WithTraceWriter(opts.TraceTo))
	if err != nil {
		return nil, err
	}
	p.srv = srv
	for _, spec := range cfg.Listen.SIP {
		if err := srv.Listen(spec); err != nil {
			srv.Close()
			return nil, err // it names the listen spec
		}
	}
	sec := cfg.Security
	p.bans = ban.New(sec.BanAfterFailures, time.Duration(sec.BanWindowSeconds)*time.Second,
		time.Duration(sec.BanSeconds)*time.Second, time.Now)
	p.bans.SetExempt(cfg.BanExemptions())
	if m := opts.Metrics; m != nil {
		p.bans.Observe(func(ip string, banned bool) {
			m.AuthFailures.Inc()
			if banned {
				m.Bans.Inc()
				log.Warn("address banned after repeated authentication failures", "ip", ip,
					"ban_seconds", int(p.bans.BanFor().Seconds()))
			}
		})
	}
	auth := sipauth.New(Realm, sipauth.WithAlgorithms(digestAlgorithms(sec)...))
	p.auth = auth
	users := registrar.UsersFunc(func(_, user string) (sipauth.Credential, bool) {
		return credential(p.mgr.Current().Config, user)
	})
	// Bindings saved by the previous run come back (without events).
	p.reg = registrar.New(log, auth, users, registrar.WithBans(p.bans), registrar.WithOnChange(p.registration),
		registrar.WithGeneration(func() uint64 { return p.mgr.Current().Gen }),
		registrar.WithFile(cfg.Storage.RegistrationsFile))
	if m := opts.Metrics; m != nil {
		m.Registrations.Set(float64(len(p.reg.All())))
	}
	var specs []trunk.Spec
	for _, co := range cfg.Companies {
		for _, t := range co.Trunks {
			specs = append(specs, trunk.Spec{ID: t.ID, Host: t.Host, Transport: t.Transport,
				Username: t.Username, Password: t.Password, Register: t.Register,
				Keepalive: time.Duration(t.KeepaliveSeconds) * time.Second})
		}
	}
	p.trunks = trunk.New(log, srv, specs)
	if p.media, err = p.newMedia(); err != nil {
		srv.Close()
		return nil, err
	}
	p.calls, err = call.New(log, call.Config{
		Snapshots: p.snapshot, Locations: p.reg, Auth: auth, Transport: srv, Bans: p.bans,
		// Call and media events go to the snapshot each call runs with
		// (directory is a call.EventSink), not through Config.Events.
		MaxCalls: sec.MaxCalls, Trunks: p.trunks, OnEnd: p.ended,
		RewriteSDP: p.media.RewriteSDP, CheckSDP: p.media.CheckOffer, Media: p.media,
	})
	if err != nil {
		p.media.Close()
		srv.Close()
		return nil, err
	}
	srv.SetRegistrar(p.reg)
	srv.SetCalls(p.calls)
	if st := cfg.Storage; st.CDRDSN != "" {
		// The writer's files sit next to the SQLite file, else in var/.
		base := filepath.Join("var", "cdr")
		if st.CDRDriver == "sqlite" {
			base = strings.TrimPrefix(st.CDRDSN, "sqlite:")
		}
		if err = openCDR(context.Background(), p, st.CDRDSN, base); err != nil {
			p.calls.Close()
			p.media.Close()
			srv.Close()
			return nil, fmt.Errorf("call records: %w", err)
		}
	}
	p.registerMetrics()
	mgr.OnReload(func(s *reload.Snapshot, err error) {
		if err == nil {
			p.applySecurity(s.Config)
		}
	})
	return p, nil
}

// applySecurity makes a reloaded config's security settings live: the ban
// policy, the addresses never banned (ban_exempt and every trunk's
// inbound_ips) and the digest algorithms challenges offer.
func (p *PBX) applySecurity(cfg *config.Config) {
	sec := cfg.Security
	p.bans.SetPolicy(sec.BanAfterFailures, time.Duration(sec.BanWindowSeconds)*time.Second,
		time.Duration(sec.BanSeconds)*time.Second)
	p.bans.SetExempt(cfg.BanExemptions())
	p.auth.SetAlgorithms(digestAlgorithms(sec)...)
}

// digestAlgorithms are the algorithms of security.digest_algorithms.
func digestAlgorithms(sec config.Security) []sipauth.Algorithm {
	algs := make([]sipauth.Algorithm, 0, len(sec.DigestAlgorithms))
	for _, a := range sec.DigestAlgorithms {
		algs = append(algs, sipauth.Algorithm(a))
	}
	return algs
}

// registerMetrics exports the counters the parts keep themselves.
func (p *PBX) registerMetrics() {
	m := p.opts.Metrics
	if m == nil {
		return
	}
	rtp := func(name, help string, f func(mediacall.RTPStats) uint64) {
		_ = m.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(f(p.media.Stats())) }))
	}
	rtp("luapbx_rtp_packets_in_total", "RTP packets received: relayed, and to the PBX's own media (IVR, voicemail, echo); counted as they arrive.", func(s mediacall.RTPStats) uint64 { return s.PacketsIn })
	rtp("luapbx_rtp_packets_out_total", "RTP packets sent: relayed, and from the PBX's own media; counted as they leave.", func(s mediacall.RTPStats) uint64 { return s.PacketsOut })
	rtp("luapbx_rtp_lost_packets_total", "RTP packets lost (sequence gaps), counted when a call's media ends.", func(s mediacall.RTPStats) uint64 { return s.Lost })
	rtp("luapbx_rtp_overflow_packets_total", "RTP datagrams the kernel dropped for a full socket buffer (the relay fell behind), counted when a relay ends.",
		func(s mediacall.RTPStats) uint64 { return s.Overflow })
	_ = m.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "luapbx_active_calls", Help: "Calls in progress."},
		func() float64 { return float64(p.calls.Active()) }))
	w := p.cdrw
	if w == nil {
		return
	}
	for name, f := range map[string]func(cdr.WriterStats) uint64{
		"luapbx_cdr_written_total": func(s cdr.WriterStats) uint64 { return s.Written },
		"luapbx_cdr_lost_total":    func(s cdr.WriterStats) uint64 { return s.Lost },
		"luapbx_cdr_spilled_total": func(s cdr.WriterStats) uint64 { return s.Spilled },
	} {
		_ = m.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: "Call records, see engine/cdr WriterStats."},
			func() float64 { return float64(f(w.Stats())) }))
	}
}

// Addrs are the bound SIP listeners ("udp:127.0.0.1:5060").
func (p *PBX) Addrs() []string { return p.srv.Addrs() }

// Run serves until ctx ends (or a part fails), then hangs up the calls left.
func (p *PBX) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The transport outlives ctx: calls still up at shutdown are hung up
	// (BYE, CANCEL) through it before it closes.
	sipCtx, stopSIP := context.WithCancel(context.Background())
	defer stopSIP()
	var wg sync.WaitGroup
	var once sync.Once
	var runErr error
	// A part that ends early without an error (the trunk manager with no
	// trunks) is simply done; an error stops the whole PBX.
	start := func(ctx context.Context, wg *sync.WaitGroup, run func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run(ctx); err != nil && !errors.Is(err, context.Canceled) {
				once.Do(func() { runErr = err })
				cancel()
			}
		}()
	}
	var trunks sync.WaitGroup
	start(sipCtx, &wg, p.srv.Run)
	start(ctx, &wg, p.reg.Run)
	if p.journal != nil {
		start(ctx, &wg, p.journal.Run)
	}
	if len(p.recovered) > 0 {
		start(ctx, &wg, func(ctx context.Context) error {
			s := p.mgr.Acquire()
			defer s.Release()
			sendRecovered(ctx, p.log, s, p.recovered, p.pending)
			return nil
		})
	}
	select {
	case <-p.srv.Ready():
		start(ctx, &trunks, p.trunks.Run)
	case <-ctx.Done():
	}
	<-ctx.Done()
	p.calls.Close() // every call ends, and so reaches the CDR writer
	// Trunks un-register (Expires: 0, bounded by the request timeout)
	// through the transport, so it closes after them.
	trunks.Wait()
	p.media.Close()
	stopSIP()
	wg.Wait()
	_ = p.reg.Close() // the last second's registrations; a failure is logged
	p.closeCDR()
	return runErr
}

// closeCDR flushes the call records (spilling what the database refuses)
// and closes the store; safe twice.
func (p *PBX) closeCDR() {
	if p.cdrw == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.cdrw.Close(ctx); err != nil {
		p.log.Error("call records: flush at shutdown", "err", err)
	}
	// Every call has ended and its record is stored or spilled: the
	// journal's versions are not needed, unless some were lost.
	if p.cdrw.Stats().Lost == 0 {
		if err := p.journal.Clear(); err != nil {
			p.log.Error("call records: journal", "err", err)
		}
	}
	if err := p.store.Close(); err != nil {
		p.log.Error("call records: close", "err", err)
	}
	_ = p.unlockCDR()
	p.cdrw, p.store = nil, nil
}

// Ready is closed once Run's SIP listeners serve.
func (p *PBX) Ready() <-chan struct{} { return p.srv.Ready() }

// Close releases the listeners; safe twice.
func (p *PBX) Close() {
	p.closeOnce.Do(func() {
		p.calls.Close()
		p.media.Close()
		p.srv.Close()
		_ = p.reg.Close()
		p.closeCDR()
	})
}

// RegisterAdmin adds the PBX's routes to the admin API.
func (p *PBX) RegisterAdmin(a *admin.Server) {
	a.Handle("GET /api/calls", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		admin.WriteJSON(w, http.StatusOK, map[string]any{"calls": nonNil(p.calls.Calls())})
	}))
	a.Handle("GET /api/registrations", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Empty lists, not null, for clients that iterate.
		admin.WriteJSON(w, http.StatusOK, map[string]any{
			"extensions": nonNil(p.reg.All()), "trunks": nonNil(p.trunks.States()), "bans": nonNil(p.bans.List()),
		})
	}))
	a.Handle("DELETE /api/bans/{ip}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ip := r.PathValue("ip")
		if !p.bans.Unban(ip) {
			admin.WriteError(w, http.StatusNotFound, fmt.Errorf("%s is not banned", ip))
			return
		}
		p.log.Warn("ban lifted by the admin API", "ip", ip)
		admin.WriteJSON(w, http.StatusOK, map[string]any{"ok": true, "ip": ip})
	}))
	if p.opts.Metrics != nil {
		a.Handle("GET /metrics", p.opts.Metrics.Handler())
	}
	if p.store != nil {
		cdrRoutes(a, p.store)
	}
	dash := dashboard.Source{Calls: p.calls.Calls, Extensions: p.reg.All, Trunks: p.trunks.States,
		Bans: p.bans.List, Reload: p.mgr.Status}
	if store := p.store; store != nil {
		dash.RecentCalls = func(ctx context.Context, n int) ([]cdr.Record, error) {
			return store.List(ctx, cdr.Filter{Limit: n})
		}
		a.Handle("GET /api/recordings/{id}", dashboard.RecordingHandler(p.log,
			p.mgr.Current().Config.Storage.RecordingsDir, store))
	}
	a.Handle("GET /{$}", dashboard.New(dash))
}

// snapshot hands a call the live snapshot as a call.Snapshot.
func (p *PBX) snapshot() (call.Snapshot, func()) {
	s := p.mgr.Acquire()
	d := p.dir.Load()
	if d == nil || d.snap != s {
		d = newDirectory(s)
		p.dir.Store(d)
	}
	return d, s.Release
}

// emitFiltered passes a call event to s's scripts: with `scripts.events:
// integration` only for calls whose deciding rule asked for it.
func emitFiltered(s *reload.Snapshot, ev engine.Event) {
	if s.Config.Scripts.Events != "all" {
		if integ, _ := ev.Data["integration"].(bool); !integ {
			return
		}
	}
	s.Emit(ev)
}

// wantEvents says whether emitFiltered would pass on an event: only when
// s has scripts, and then as emitFiltered filters.
func wantEvents(s *reload.Snapshot, integration bool) bool {
	return s.Policy != nil && (integration || s.Config.Scripts.Events == "all")
}

func (p *PBX) registration(ev registrar.Event) {
	b := ev.Binding // the registrar has logged it
	if m := p.opts.Metrics; m != nil {
		m.Registrations.Set(float64(len(p.reg.All())))
	}
	p.mgr.Current().Emit(engine.Event{Type: "registration", Time: time.Now(), Data: map[string]any{
		"change": string(ev.Type), "extension": b.AOR, "contact": b.ContactURI, "source": b.Source,
		"user_agent": b.UserAgent,
	}})
}

// newMedia builds the media anchor: RTP ports on the SIP listen address,
// announced as listen.public_ip when set.
func (p *PBX) newMedia() (*mediacall.Anchor, error) {
	cfg := p.mgr.Current().Config
	bind := netip.IPv4Unspecified()
	if ap, err := netip.ParseAddrPort(p.srv.Addrs()[0][4:]); err == nil {
		bind = ap.Addr()
	}
	announce := bind
	if ip, err := netip.ParseAddr(cfg.Listen.PublicIP); err == nil {
		announce = ip
	}
	current := func() *config.Config { return p.mgr.Current().Config }
	return mediacall.New(p.log, mediacall.Options{
		IP: announce, BindIP: bind, Ports: cfg.Listen.RTPPorts, RTPTimeout: mediacall.DefaultRTPTimeout,
		RecordingsDir: cfg.Storage.RecordingsDir, VoicemailDir: cfg.Storage.VoicemailDir,
		Prompt: mediacall.ConfigPrompt(current), IVR: mediacall.ConfigIVR(current),
		Greeting: mediacall.ConfigGreeting(current),
	})
}

func (p *PBX) ended(e call.End) {
	recording := p.media.OnEnd(e) // closes the recording before the record is written
	if m := p.opts.Metrics; m != nil {
		m.Calls.WithLabelValues(e.Disposition).Inc()
	}
	if p.cdrw != nil {
		rec := Record(e)
		rec.RecordingPath = recording
		p.cdrw.Add(rec)
	}
	if p.opts.OnEnd != nil {
		p.opts.OnEnd(e)
	}
}

// nonNil turns a nil slice into an empty one, so it encodes as [].
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
