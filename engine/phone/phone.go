// Package phone is a small SIP user agent for tests and for people testing
// phones: it registers with digest auth, calls, answers or rejects, and
// reports every response code with timings. `luapbx phone` is its CLI (Main);
// end-to-end tests use the Go API (New, Register, Call, Answer) in-process.
package phone

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Config configures a Phone.
type Config struct {
	// Server is the registrar/proxy, "udp:127.0.0.1:5060" or "tcp:host:port".
	// Calls to a bare number go there; it may be empty for direct calls.
	Server string
	// Listen is the local SIP address, "udp:127.0.0.1:0" by default.
	Listen   string
	User     string // our extension, e.g. "201"
	AuthUser string // digest user name, default User
	Password string
	// Domain is the host of our From/To URIs, default the server's host.
	Domain    string
	UserAgent string
	// Algorithm picks the digest challenge to answer ("MD5" or "SHA-256");
	// empty answers the first one the server offers.
	Algorithm string
	Log       *slog.Logger
	// Media opens each call's media; default SilentMedia.
	Media MediaFactory
	// Codecs we offer and accept, in order of preference (PT 0 PCMU, 8
	// PCMA); default both, PCMU first.
	Codecs []uint8
}

// Phone is one user agent bound to one local SIP socket.
type Phone struct {
	cfg     Config
	log     *slog.Logger
	network string         // "udp" or "tcp"
	local   netip.AddrPort // bound SIP address
	server  endpoint

	ua  *sipgo.UserAgent
	srv *sipgo.Server
	cli *sipgo.Client
	dua *sipgo.DialogUA

	closer    func() error
	wg        sync.WaitGroup
	closeOnce sync.Once

	mu       sync.Mutex
	calls    map[string]*call // by Call-ID
	answerer *answerer        // nil: incoming calls get 480
	reg      regState
	regRec   *recorder // the Register in progress
}

type endpoint struct {
	network string
	addr    netip.AddrPort
}

// parseEndpoint reads "udp:127.0.0.1:5060" (network defaults to udp).
func parseEndpoint(s string) (endpoint, error) {
	network := "udp"
	if n, rest, ok := strings.Cut(s, ":"); ok && (n == "udp" || n == "tcp") {
		network, s = n, rest
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return endpoint{}, fmt.Errorf("phone: address %q: want udp:IP:PORT or tcp:IP:PORT: %w", s, err)
	}
	return endpoint{network: network, addr: ap}, nil
}

// New binds the listen socket and starts serving. Close releases it.
func New(cfg Config) (*Phone, error) {
	if cfg.Listen == "" {
		cfg.Listen = "udp:127.0.0.1:0"
	}
	if cfg.AuthUser == "" {
		cfg.AuthUser = cfg.User
	}
	if len(cfg.Codecs) == 0 {
		cfg.Codecs = []uint8{ptPCMU, ptPCMA}
	}
	for _, c := range cfg.Codecs {
		if _, ok := codecNames[c]; !ok {
			return nil, fmt.Errorf("phone: codec %d: want 0 (PCMU) or 8 (PCMA)", c)
		}
	}
	if cfg.Media == nil {
		cfg.Media = SilentMedia
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "luapbx-phone"
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	listen, err := parseEndpoint(cfg.Listen)
	if err != nil {
		return nil, err
	}
	p := &Phone{cfg: cfg, log: cfg.Log.With("user", cfg.User), network: listen.network, calls: make(map[string]*call)}
	if cfg.Server != "" {
		if p.server, err = parseEndpoint(cfg.Server); err != nil {
			return nil, err
		}
		if p.cfg.Domain == "" {
			p.cfg.Domain = p.server.addr.Addr().String()
		}
	}
	if err := p.bind(listen); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *Phone) bind(listen endpoint) error {
	// sipgo logs through our logger (silent by default) instead of the
	// process-wide default, so the CLI's stderr stays clean.
	ua, err := sipgo.NewUA(sipgo.WithUserAgent(p.cfg.UserAgent),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(p.log)),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(p.log)))
	if err != nil {
		return fmt.Errorf("phone: user agent: %w", err)
	}
	p.ua = ua
	if p.srv, err = sipgo.NewServer(ua, sipgo.WithServerLogger(p.log)); err != nil {
		_ = ua.Close()
		return fmt.Errorf("phone: server: %w", err)
	}
	var serve func() error
	switch listen.network {
	case "udp":
		conn, err := net.ListenPacket("udp", listen.addr.String())
		if err != nil {
			_ = ua.Close()
			return fmt.Errorf("phone: listen: %w", err)
		}
		p.local = conn.LocalAddr().(*net.UDPAddr).AddrPort()
		p.closer = conn.Close
		serve = func() error { return p.srv.ServeUDP(conn) }
	default:
		l, err := net.Listen("tcp", listen.addr.String())
		if err != nil {
			_ = ua.Close()
			return fmt.Errorf("phone: listen: %w", err)
		}
		p.local = l.Addr().(*net.TCPAddr).AddrPort()
		p.closer = l.Close
		serve = func() error { return p.srv.ServeTCP(l) }
	}
	opts := []sipgo.ClientOption{sipgo.WithClientHostname(p.local.Addr().String()), sipgo.WithClientLogger(p.log)}
	if listen.network == "udp" {
		// Send from the listening socket: replies, NAT bindings and the
		// registrar's received/rport then all point at it.
		opts = append(opts, sipgo.WithClientConnectionAddr(p.local.String()))
	}
	if p.cli, err = sipgo.NewClient(ua, opts...); err != nil {
		_ = p.closer()
		_ = ua.Close()
		return fmt.Errorf("phone: client: %w", err)
	}
	p.dua = &sipgo.DialogUA{Client: p.cli, ContactHDR: p.contactHeader()}
	// Responses are recorded as they come off the wire: sipgo handles each
	// message on its own goroutine and may drop a 180 overtaken by the
	// final answer, but a test phone must report every code it saw.
	ua.TransportLayer().OnMessage(p.observe)
	p.srv.OnInvite(p.onInvite)
	p.srv.OnAck(p.onAck)
	p.srv.OnBye(p.onBye)
	p.srv.OnCancel(p.onCancel)
	p.srv.OnOptions(p.onOptions)
	p.wg.Go(func() { _ = serve() })
	if listen.network == "udp" {
		return p.waitServing()
	}
	return nil
}

// waitServing waits until sipgo has put the listening UDP socket into its
// connection pool; before that, a request would try to bind the same port.
func (p *Phone) waitServing() error {
	for range 1000 {
		if pool := p.ua.TransportLayer().Pool("udp"); pool != nil && pool.Size() > 0 {
			return nil
		}
		time.Sleep(time.Millisecond)
	}
	_ = p.Close()
	return errors.New("phone: udp listener did not start")
}

// Addr is the bound SIP address, e.g. "udp:127.0.0.1:40123"; another phone
// can call it directly with Call(ctx, p.URI(), ...).
func (p *Phone) Addr() string { return p.network + ":" + p.local.String() }

// URI is our contact URI as text.
func (p *Phone) URI() string { u := p.contactURI(); return u.String() }

func (p *Phone) contactURI() sip.Uri {
	u := sip.Uri{Scheme: "sip", User: p.cfg.User, Host: p.local.Addr().String(), Port: int(p.local.Port())}
	if p.network == "tcp" {
		u.UriParams = sip.NewParams()
		u.UriParams.Add("transport", "tcp")
	}
	return u
}

func (p *Phone) contactHeader() sip.ContactHeader {
	return sip.ContactHeader{Address: p.contactURI()}
}

// Close stops the phone: calls in progress are abandoned (no BYE).
// Safe to call twice.
func (p *Phone) Close() error {
	p.closeOnce.Do(func() {
		_ = p.closer()
		_ = p.ua.Close()
		p.wg.Wait()
	})
	return nil
}

func (p *Phone) onOptions(req *sip.Request, tx sip.ServerTransaction) {
	_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil))
}

// observe records responses for our calls and registrations in arrival
// order. It runs on the transport's read goroutine: it only takes a lock.
func (p *Phone) observe(msg sip.Message) {
	if p.log.Enabled(context.Background(), slog.LevelDebug) {
		p.log.Debug("sip in", "msg", msg.String())
	}
	res, ok := msg.(*sip.Response)
	if !ok {
		return
	}
	id := res.CallID()
	if id == nil {
		return
	}
	var rec *recorder
	p.mu.Lock()
	c := p.calls[id.Value()]
	if c != nil {
		rec = c.rec
	} else if id.Value() == p.reg.callID {
		rec = p.regRec
	}
	p.mu.Unlock()
	if rec != nil {
		rec.response(res, "in")
	}
	if c != nil {
		c.seen2xx(res)
	}
}

func (p *Phone) findCall(req *sip.Request) *call {
	id := req.CallID()
	if id == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls[id.Value()]
}

func (p *Phone) addCall(c *call) {
	p.mu.Lock()
	p.calls[c.id] = c
	p.mu.Unlock()
}

func (p *Phone) removeCall(c *call) {
	p.mu.Lock()
	if p.calls[c.id] == c {
		delete(p.calls, c.id)
	}
	p.mu.Unlock()
}

func newID() string {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Errorf("phone: crypto/rand: %w", err))
	}
	return hex.EncodeToString(b[:])
}

var errNoServer = errors.New("phone: no --server configured")

// fromHeader is our From with a fresh tag.
func (p *Phone) fromHeader() *sip.FromHeader {
	h := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: p.cfg.User, Host: p.cfg.Domain}, Params: sip.NewParams()}
	if h.Address.Host == "" {
		h.Address.Host = p.local.Addr().String()
	}
	h.Params.Add("tag", sip.GenerateTagN(16))
	return h
}

// serverURI is sip:[user@]server[;transport=tcp].
func (p *Phone) serverURI(user string) sip.Uri {
	u := sip.Uri{Scheme: "sip", User: user, Host: p.server.addr.Addr().String(), Port: int(p.server.addr.Port())}
	if p.server.network == "tcp" {
		u.UriParams = sip.NewParams()
		u.UriParams.Add("transport", "tcp")
	}
	return u
}
