// Package sipserver is luapbx's SIP front door: one sipgo user agent (server
// and client) on sockets the PBX binds itself, a message-size limit, OPTIONS
// answered locally, REGISTER handed to a registrar and INVITE/ACK/BYE/CANCEL
// handed to the call layer.
package sipserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// DefaultMaxMessageSize is the largest SIP message accepted, in bytes.
// Larger UDP datagrams are dropped unparsed; a larger TCP message closes the
// connection.
const DefaultMaxMessageSize = 16 * 1024

// Registrar serves REGISTER requests.
type Registrar interface {
	ServeRegister(req *sip.Request, tx sip.ServerTransaction)
}

// Calls serves the requests of calls. OnInvite also gets re-INVITEs.
type Calls interface {
	OnInvite(req *sip.Request, tx sip.ServerTransaction)
	OnAck(req *sip.Request, tx sip.ServerTransaction)
	OnBye(req *sip.Request, tx sip.ServerTransaction)
	OnCancel(req *sip.Request, tx sip.ServerTransaction)
}

// Option configures a Server.
type Option func(*Server)

// WithTrace logs every SIP message in and out (--sip-trace).
func WithTrace(on bool) Option { return func(s *Server) { s.trace = on } }

// WithTraceWriter sends the trace to w as readable blocks (header line,
// then the message as sent) instead of one log record per message.
func WithTraceWriter(w io.Writer) Option { return func(s *Server) { s.traceW = w } }

// WithMaxMessageSize sets the message-size limit in bytes.
func WithMaxMessageSize(n int) Option {
	return func(s *Server) {
		if n > 0 {
			s.maxSize = n
		}
	}
}

// WithUserAgent sets the User-Agent/Server name sent in requests.
func WithUserAgent(name string) Option { return func(s *Server) { s.name = name } }

// WithRegistrar hands REGISTER to r (without one REGISTER gets 405).
func WithRegistrar(r Registrar) Option { return func(s *Server) { s.registrar = r } }

// WithCalls hands call requests to c.
func WithCalls(c Calls) Option { return func(s *Server) { s.calls = c } }

// Server is one SIP user agent listening on one or more sockets.
type Server struct {
	log     *slog.Logger
	trace   bool
	traceW  io.Writer
	maxSize int
	name    string

	ua  *sipgo.UserAgent
	srv *sipgo.Server

	mu        sync.Mutex
	registrar Registrar
	calls     Calls
	udp       []net.PacketConn
	tcp       []net.Listener
	clients   map[string]*sipgo.Client // by lower-case transport
	unhandled unhandledLog
	running   bool
	closed    bool
	ready     chan struct{}
}

// New builds the user agent. Listen, then Run.
func New(log *slog.Logger, opts ...Option) (*Server, error) {
	if log == nil {
		log = slog.Default()
	}
	s := &Server{log: log, maxSize: DefaultMaxMessageSize, name: "luapbx", clients: map[string]*sipgo.Client{},
		ready: make(chan struct{})}
	for _, o := range opts {
		o(s)
	}
	setGlobals(log, s.trace, s.traceW)
	parser := sip.NewParser()
	parser.MaxMessageLength = s.maxSize
	ua, err := sipgo.NewUA(
		sipgo.WithUserAgent(s.name),
		sipgo.WithUserAgentParser(parser),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerReadFilter(s.sizeFilter)),
	)
	if err != nil {
		return nil, fmt.Errorf("sip user agent: %w", err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(log.With("component", "sipgo")))
	if err != nil {
		ua.Close()
		return nil, fmt.Errorf("sip server: %w", err)
	}
	s.ua, s.srv = ua, srv
	s.routes()
	return s, nil
}

// SetRegistrar hands REGISTER to r; call it before Run.
func (s *Server) SetRegistrar(r Registrar) {
	s.mu.Lock()
	s.registrar = r
	s.mu.Unlock()
}

// SetCalls hands call requests to c; call it before Run.
func (s *Server) SetCalls(c Calls) {
	s.mu.Lock()
	s.calls = c
	s.mu.Unlock()
}

// UserAgent is the shared sipgo user agent.
func (s *Server) UserAgent() *sipgo.UserAgent { return s.ua }

// sizeFilter drops datagrams over the limit before they are parsed. Stream
// transports are bounded by the parser's MaxMessageLength.
func (s *Server) sizeFilter(p sip.TransportReadProps, data []byte) ([]byte, error) {
	if len(data) > s.maxSize && !sip.IsReliable(p.Transport) {
		s.log.Warn("sip message too large, dropped", "size", len(data), "limit", s.maxSize, "source", p.RemoteAddr.String())
		return nil, nil
	}
	return data, nil
}

// udpReadBuffer is the receive buffer asked for each UDP listener.
const udpReadBuffer = 4 << 20

// Listen binds "udp:host:port" or "tcp:host:port" (port 0 picks a free one).
// Call it before Run.
func (s *Server) Listen(spec string) error {
	network, addr, err := ParseListen(spec)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.running {
		return errors.New("sip server closed or already running: listen before Run")
	}
	switch network {
	case "udp":
		conn, err := net.ListenPacket("udp", addr)
		if err != nil {
			return listenError(spec, err)
		}
		// A burst of calls overflows the default receive buffer and the
		// kernel drops requests; the kernel caps this at net.core.rmem_max.
		if uc, ok := conn.(*net.UDPConn); ok {
			_ = uc.SetReadBuffer(udpReadBuffer)
		}
		if s.trace {
			conn = traceConn(conn)
		}
		s.udp = append(s.udp, conn)
	case "tcp":
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return listenError(spec, err)
		}
		s.tcp = append(s.tcp, l)
	}
	return nil
}

// ParseListen splits "udp:127.0.0.1:5060" into network and address.
func ParseListen(spec string) (network, addr string, err error) {
	network, addr, ok := strings.Cut(strings.TrimSpace(spec), ":")
	network = strings.ToLower(network)
	if !ok || (network != "udp" && network != "tcp") {
		return "", "", fmt.Errorf("bad sip listen address %q (want udp:host:port or tcp:host:port)", spec)
	}
	if _, port, err := net.SplitHostPort(addr); err != nil {
		return "", "", fmt.Errorf("bad sip listen address %q: %w", spec, err)
	} else if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return "", "", fmt.Errorf("bad sip listen address %q: bad port", spec)
	}
	return network, addr, nil
}

// Addrs lists the bound addresses as "udp:127.0.0.1:40000".
func (s *Server) Addrs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, c := range s.udp {
		out = append(out, "udp:"+c.LocalAddr().String())
	}
	for _, l := range s.tcp {
		out = append(out, "tcp:"+l.Addr().String())
	}
	return out
}

// Addr is the first bound address of a transport ("udp" or "tcp"), or "".
func (s *Server) Addr(transport string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch strings.ToLower(transport) {
	case "udp":
		if len(s.udp) > 0 {
			return s.udp[0].LocalAddr().String()
		}
	case "tcp":
		if len(s.tcp) > 0 {
			return s.tcp[0].Addr().String()
		}
	}
	return ""
}

// Run serves every bound socket until ctx ends or Close; it then closes.
func (s *Server) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.closed || s.running {
		s.mu.Unlock()
		return errors.New("sip server closed or already running")
	}
	s.running = true
	udp, tcp := s.udp, s.tcp
	s.mu.Unlock()
	if len(udp)+len(tcp) == 0 {
		return errors.New("sip server: no listen address")
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(udp)+len(tcp))
	for _, c := range udp {
		wg.Go(func() { errs <- s.srv.ServeUDP(c) })
	}
	for _, l := range tcp {
		wg.Go(func() { errs <- s.srv.ServeTCP(l) })
	}
	s.waitServing(ctx, udp)
	s.log.Info("sip listening", "addrs", s.Addrs())
	close(s.ready)
	var err error
	select {
	case <-ctx.Done():
	case err = <-errs:
		if err != nil {
			err = fmt.Errorf("sip serve: %w", err)
		}
	}
	s.Close()
	wg.Wait()
	return err
}

// Ready is closed once Run serves every socket: requests sent through
// Client before then may not leave from the listening socket.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// waitServing waits (bounded) until sipgo has put each UDP listener in its
// connection pool, where clients look for the socket to send from.
func (s *Server) waitServing(ctx context.Context, udp []net.PacketConn) {
	pool := s.ua.TransportLayer().Pool("udp")
	deadline := time.Now().Add(2 * time.Second)
	for _, c := range udp {
		for time.Now().Before(deadline) && ctx.Err() == nil {
			if conn := pool.Get(c.LocalAddr().String()); conn != nil {
				conn.Ref(-1) // Get took a reference
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
}

// Close stops listening and closes the user agent; safe to call twice.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	udp, tcp := s.udp, s.tcp
	s.mu.Unlock()
	for _, c := range udp {
		c.Close()
		untrace(c)
	}
	for _, l := range tcp {
		l.Close()
	}
	return s.ua.Close()
}

// listenError names the listen spec once: net's own error repeats the
// network and address ("listen udp 127.0.0.1:5060: bind: ...").
func listenError(spec string, err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		err = op.Err
	}
	return fmt.Errorf("listen %s: %w", spec, err)
}
