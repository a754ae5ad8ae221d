// Package portpool hands out RTP sockets: even UDP ports from a configured
// range (listen.rtp_ports, e.g. "20000-20999"), bound on the media IP.
// Ports that something else holds are skipped; a released port goes to the
// back of the queue, so a new call does not reuse the port a call just left
// (late packets of the old call would reach it). Safe for concurrent use.
package portpool

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// ErrExhausted is returned by Allocate when every even port of the range is
// taken (by us or by another process).
var ErrExhausted = errors.New("no free rtp port")

// ErrClosed is returned by Allocate after Close.
var ErrClosed = errors.New("port pool closed")

// ParseRange reads "lo-hi" (inclusive) and checks it holds at least one even
// port above 0 and no port above 65535.
func ParseRange(s string) (lo, hi int, err error) {
	a, b, ok := strings.Cut(strings.TrimSpace(s), "-")
	if !ok {
		return 0, 0, fmt.Errorf("rtp port range %q: want lo-hi", s)
	}
	if lo, err = strconv.Atoi(strings.TrimSpace(a)); err != nil {
		return 0, 0, fmt.Errorf("rtp port range %q: bad low port: %w", s, err)
	}
	if hi, err = strconv.Atoi(strings.TrimSpace(b)); err != nil {
		return 0, 0, fmt.Errorf("rtp port range %q: bad high port: %w", s, err)
	}
	switch {
	case lo < 1 || hi > 65535:
		return 0, 0, fmt.Errorf("rtp port range %q: ports must be within 1-65535", s)
	case lo > hi:
		return 0, 0, fmt.Errorf("rtp port range %q: low port above high port", s)
	case lo == hi && lo%2 == 1:
		return 0, 0, fmt.Errorf("rtp port range %q: holds no even port", s)
	}
	return lo, hi, nil
}

// Pool allocates RTP ports from one range on one IP.
type Pool struct {
	log *slog.Logger
	ip  netip.Addr

	mu     sync.Mutex
	free   []int // even ports not handed out, in order of next use
	closed bool
	inUse  int
}

// New parses portRange and returns a pool binding on ip (the listen IP).
func New(log *slog.Logger, ip netip.Addr, portRange string) (*Pool, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if !ip.IsValid() {
		return nil, errors.New("port pool: invalid ip")
	}
	lo, hi, err := ParseRange(portRange)
	if err != nil {
		return nil, err
	}
	p := &Pool{log: log, ip: ip.Unmap()}
	for port := lo + lo%2; port <= hi; port += 2 {
		p.free = append(p.free, port)
	}
	return p, nil
}

// Size is the number of even ports in the range.
func (p *Pool) Size() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.free) + p.inUse
}

// InUse is the number of ports handed out and not yet released.
func (p *Pool) InUse() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.inUse
}

// Allocate binds a UDP socket on the next free even port. Ports another
// process holds are skipped (and retried later); after one pass over the
// range it gives up with ErrExhausted.
func (p *Pool) Allocate() (*Port, error) {
	p.mu.Lock()
	tries := len(p.free)
	p.mu.Unlock()
	for range tries {
		num, err := p.take()
		if err != nil {
			return nil, err
		}
		local := netip.AddrPortFrom(p.ip, uint16(num))
		port := &Port{num: num, pool: p, local: net.UDPAddrFromAddrPort(local), fd: -1}
		if err = bind(port, local); err == nil {
			return port, nil
		}
		p.giveBack(num)
		if !errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("bind rtp port %d: %w", num, err)
		}
		p.log.Debug("rtp port busy, skipped", "port", num)
	}
	return nil, ErrExhausted
}

// listenGo binds a socket of Go's network poller on local.
func listenGo(port *Port, local netip.AddrPort) error {
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(local))
	if err != nil {
		return err
	}
	port.conn.Store(c)
	return nil
}

func (p *Pool) take() (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return 0, ErrClosed
	}
	if len(p.free) == 0 {
		return 0, ErrExhausted
	}
	port := p.free[0]
	p.free = p.free[1:]
	p.inUse++
	return port, nil
}

// giveBack puts a port at the back of the queue.
func (p *Pool) giveBack(port int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.inUse--
	p.free = append(p.free, port)
}

// Close makes later Allocate calls fail; ports already out stay valid until
// their Close. Safe to call twice.
func (p *Pool) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	return nil
}

// Port is an RTP socket from the pool: a Socket for the RTP relay
// (rtprelay.Socket) and an fd the relay's poller can take (TakeFD). Close
// closes the socket and returns the port; it is safe to call twice.
//
// On Linux the socket starts as a bare non-blocking descriptor: the relay
// takes it as it is, with no system call, and only a Port read or written
// through its own methods first (an IVR's endpoint) becomes a socket of
// Go's network poller. Everywhere else it is a *net.UDPConn from the start.
type Port struct {
	num   int
	pool  *Pool
	local *net.UDPAddr

	conn atomic.Pointer[net.UDPConn] // the Go socket, once there is one

	mu     sync.Mutex
	fd     int  // the bare descriptor (Linux), or the one TakeFD gave out; else -1
	taken  bool // TakeFD gave fd out
	closed bool
	err    error
}

// Port is the UDP port number.
func (p *Port) Port() int { return p.num }

// LocalAddr is the address the socket is bound on.
func (p *Port) LocalAddr() net.Addr { return p.local }

// ReadFromUDPAddrPort reads a datagram (see net.UDPConn).
func (p *Port) ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error) {
	c, err := p.goConn()
	if err != nil {
		return 0, netip.AddrPort{}, err
	}
	return c.ReadFromUDPAddrPort(b)
}

// WriteToUDPAddrPort sends a datagram (see net.UDPConn).
func (p *Port) WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	c, err := p.goConn()
	if err != nil {
		return 0, err
	}
	return c.WriteToUDPAddrPort(b, addr)
}

// SetReadDeadline sets the deadline of reads (see net.UDPConn).
func (p *Port) SetReadDeadline(t time.Time) error {
	c, err := p.goConn()
	if err != nil {
		return err
	}
	return c.SetReadDeadline(t)
}

// goConn is the port's Go socket, made from the bare descriptor the first
// time one is needed. After TakeFD or Close the Go socket's own calls fail.
func (p *Port) goConn() (*net.UDPConn, error) {
	if c := p.conn.Load(); c != nil {
		return c, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if c := p.conn.Load(); c != nil {
		return c, nil
	}
	switch {
	case p.closed:
		return nil, net.ErrClosed
	case p.taken:
		return nil, errors.New("rtp port: descriptor taken by the relay")
	}
	c, err := fdConn(p.fd, p.num)
	p.fd = -1 // the Go socket holds it now, or it is closed
	if err != nil {
		p.taken = true // nothing left to hand over
		return nil, err
	}
	p.conn.Store(c)
	return c, nil
}

// Close closes the socket (or the descriptor TakeFD gave out) and returns
// the port to the pool.
func (p *Port) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return p.err
	}
	p.closed = true
	if p.fd >= 0 {
		p.err = closeFD(p.fd)
	} else if c := p.conn.Load(); c != nil {
		p.err = c.Close()
	}
	p.pool.giveBack(p.num)
	return p.err
}
