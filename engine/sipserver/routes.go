package sipserver

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// routes registers the request handlers.
func (s *Server) routes() {
	s.srv.OnOptions(s.onOptions)
	s.srv.OnRegister(func(req *sip.Request, tx sip.ServerTransaction) {
		s.mu.Lock()
		r := s.registrar
		s.mu.Unlock()
		if r == nil {
			respond(s.log, tx, req, 405, "Method Not Allowed")
			return
		}
		r.ServeRegister(req, tx)
	})
	s.srv.OnInvite(s.callHandler(func(c Calls) func(*sip.Request, sip.ServerTransaction) {
		return func(req *sip.Request, tx sip.ServerTransaction) { serveInvite(c.OnInvite, req, tx) }
	}))
	s.srv.OnAck(s.callHandler(func(c Calls) func(*sip.Request, sip.ServerTransaction) { return c.OnAck }))
	s.srv.OnBye(s.callHandler(func(c Calls) func(*sip.Request, sip.ServerTransaction) { return c.OnBye }))
	s.srv.OnCancel(s.callHandler(func(c Calls) func(*sip.Request, sip.ServerTransaction) { return c.OnCancel }))
	s.srv.OnSubscribe(s.onSubscribe)
	s.srv.OnInfo(s.onInfo)
	// REFER, MESSAGE, NOTIFY, PUBLISH, PRACK, UPDATE and unknown methods:
	// sipgo's default logs a WARN per request and sends 405 without Allow.
	s.srv.OnNoRoute(s.notAllowed)
}

func (s *Server) callHandler(pick func(Calls) func(*sip.Request, sip.ServerTransaction)) sipgo.RequestHandler {
	return func(req *sip.Request, tx sip.ServerTransaction) {
		s.mu.Lock()
		c := s.calls
		s.mu.Unlock()
		if c == nil {
			if !req.IsAck() {
				respond(s.log, tx, req, 503, "Service Unavailable")
			}
			return
		}
		pick(c)(req, tx)
	}
}

// allowed is the Allow header of our OPTIONS answer and of 405 (INFO is
// added when the call layer relays it, see allow).
const allowed = "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER"

func (s *Server) onOptions(req *sip.Request, tx sip.ServerTransaction) {
	res := sip.NewResponseFromRequest(req, 200, "OK", nil)
	res.AppendHeader(sip.NewHeader("Allow", s.allow()))
	res.AppendHeader(sip.NewHeader("Accept", "application/sdp"))
	if err := tx.Respond(res); err != nil {
		s.log.Debug("options answer failed", "error", err)
	}
}

func respond(log *slog.Logger, tx sip.ServerTransaction, req *sip.Request, code int, reason string) {
	if err := tx.Respond(sip.NewResponseFromRequest(req, code, reason, nil)); err != nil {
		log.Debug("respond failed", "code", code, "error", err)
	}
}

// Client returns a client sending on our socket of transport ("udp" or
// "tcp"): requests carry our bound address in Via and reuse the listener.
func (s *Server) Client(transport string) (*sipgo.Client, error) {
	transport = strings.ToLower(transport)
	if transport == "" {
		transport = "udp"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.clients[transport]; c != nil {
		return c, nil
	}
	addr := ""
	switch transport {
	case "udp":
		if len(s.udp) > 0 {
			addr = s.udp[0].LocalAddr().String()
		}
	case "tcp":
		if len(s.tcp) > 0 {
			addr = s.tcp[0].Addr().String()
		}
	}
	if addr == "" {
		return nil, fmt.Errorf("no %s listener", transport)
	}
	opts := []sipgo.ClientOption{sipgo.WithClientAddr(addr), sipgo.WithClientLogger(s.log.With("component", "sipgo"))}
	if transport == "udp" {
		opts = append(opts, sipgo.WithClientConnectionAddr(addr))
	}
	c, err := sipgo.NewClient(s.ua, opts...)
	if err != nil {
		return nil, fmt.Errorf("sip client: %w", err)
	}
	s.clients[transport] = c
	return c, nil
}

// Contact is our contact URI for transport, from the bound address.
func (s *Server) Contact(transport string) sip.ContactHeader {
	addr := s.Addr(transport)
	host, port, _ := sip.ParseAddr(addr)
	uri := sip.Uri{Scheme: "sip", User: "luapbx", Host: host, Port: port}
	if strings.EqualFold(transport, "tcp") {
		uri.UriParams = sip.NewParams()
		uri.UriParams.Add("transport", "tcp")
	}
	return sip.ContactHeader{Address: uri}
}

// Globals of sipgo (its default logger and the trace hook) are unguarded:
// they are set once per process, before the first server serves. Later
// servers only swap where the trace goes.
var (
	globalsOnce sync.Once
	debugOnce   sync.Once
	traceTo     atomic.Pointer[traceSink]
)

// traceSink is where --sip-trace goes: whole messages as readable blocks
// on w, or one log record each when w is nil.
type traceSink struct {
	log *slog.Logger
	mu  sync.Mutex // one block at a time
	w   io.Writer
}

func setGlobals(log *slog.Logger, trace bool, w io.Writer) {
	globalsOnce.Do(func() {
		sip.SetDefaultLogger(log.With("component", "sipgo"))
		sip.SIPDebugTracer(tracer{})
	})
	if trace {
		// sipgo formats both addresses of every datagram read or written
		// while SIPDebug is on, traced or not: it stays off (a few µs and
		// allocations per message) until a server asks for a trace, and
		// then stays on for the process (servers after the first one only
		// swap the sink; a process has one server outside tests).
		debugOnce.Do(func() { sip.SIPDebug = true })
		traceTo.Store(&traceSink{log: log, w: w})
	} else {
		traceTo.Store(nil)
	}
}

// tracer logs messages when a server asked for --sip-trace.
type tracer struct{}

func (tracer) SIPTraceRead(transport, laddr, raddr string, msg []byte) {
	if t := traceTo.Load(); t != nil && !tracedAlready(transport, laddr) {
		t.write("sip in", transport, laddr, "<-", raddr, msg)
	}
}

func (tracer) SIPTraceWrite(transport, laddr, raddr string, msg []byte) {
	if t := traceTo.Load(); t != nil && !tracedAlready(transport, laddr) {
		t.write("sip out", transport, laddr, "->", raddr, msg)
	}
}

func (t *traceSink) write(what, transport, laddr, arrow, raddr string, msg []byte) {
	if t.w == nil {
		t.log.Info(what, "transport", transport, "local", laddr, "remote", raddr, "msg", string(msg))
		return
	}
	// One Write per block, so that log lines sharing the writer do not
	// land inside a message.
	var b bytes.Buffer
	fmt.Fprintf(&b, "----- %s %s %s %s %s %s (%d bytes)\n", time.Now().UTC().Format("15:04:05.000000"), what,
		transport, laddr, arrow, raddr, len(msg))
	b.Write(bytes.ReplaceAll(msg, []byte("\r\n"), []byte("\n")))
	if len(msg) > 0 && msg[len(msg)-1] != '\n' {
		b.WriteByte('\n')
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	_, _ = t.w.Write(b.Bytes())
}
