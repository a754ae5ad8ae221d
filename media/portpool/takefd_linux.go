package portpool

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"

	"golang.org/x/sys/unix"
)

// bind opens the port as a bare non-blocking descriptor bound on local:
// socket and bind, nothing else. (net.ListenUDP would also register it
// with Go's poller, which the relay's poller would then undo: ~10 system
// calls per port instead of 2, on every call's set-up.) An address with a
// zone takes Go's way, which resolves it.
func bind(port *Port, local netip.AddrPort) error {
	ip := local.Addr()
	if ip.Zone() != "" {
		return listenGo(port, local)
	}
	if ip == netip.IPv4Unspecified() {
		// "0.0.0.0" takes IPv6 peers too, as net.ListenUDP's socket does:
		// a dual-stack socket on "::", and its address says so (the relay
		// builds its sockaddrs by it). Without IPv6, a plain IPv4 one.
		dual := netip.AddrPortFrom(netip.IPv6Unspecified(), local.Port())
		err := bindFD(port, dual)
		if err == nil {
			port.local = net.UDPAddrFromAddrPort(dual)
		}
		if !errors.Is(err, unix.EAFNOSUPPORT) {
			return err
		}
	}
	return bindFD(port, local)
}

// bindFD is socket and bind of local (and, on "::", IPV6_V6ONLY off).
func bindFD(port *Port, local netip.AddrPort) error {
	ip := local.Addr()
	var family int
	var sa unix.Sockaddr
	if ip.Is4() {
		family, sa = unix.AF_INET, &unix.SockaddrInet4{Port: int(local.Port()), Addr: ip.As4()}
	} else {
		family, sa = unix.AF_INET6, &unix.SockaddrInet6{Port: int(local.Port()), Addr: ip.As16()}
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return os.NewSyscallError("socket", err)
	}
	if family == unix.AF_INET6 && ip.IsUnspecified() {
		// "::" takes IPv4 too, as Go's listeners do.
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0); err != nil {
			_ = unix.Close(fd)
			return os.NewSyscallError("setsockopt", err)
		}
	}
	if err := unix.Bind(fd, sa); err != nil {
		_ = unix.Close(fd)
		return os.NewSyscallError("bind", err)
	}
	port.fd = fd
	return nil
}

// fdConn makes a Go socket of a bare descriptor, which it takes over (the
// descriptor is closed whatever happens).
func fdConn(fd, num int) (*net.UDPConn, error) {
	if fd < 0 {
		return nil, fmt.Errorf("rtp port %d: no socket", num)
	}
	f := os.NewFile(uintptr(fd), fmt.Sprintf("rtp-%d", num))
	c, err := net.FilePacketConn(f) // a duplicate in Go's poller
	_ = f.Close()
	if err != nil {
		return nil, fmt.Errorf("rtp port %d: %w", num, err)
	}
	uc, ok := c.(*net.UDPConn)
	if !ok {
		_ = c.Close()
		return nil, fmt.Errorf("rtp port %d: not a udp socket", num)
	}
	return uc, nil
}

// TakeFD hands the socket's descriptor to the caller (the relay's poller),
// non-blocking. A port nobody read or wrote through the Go socket API gives
// its bare descriptor at no cost; otherwise the Go socket gives a duplicate
// and is closed, which takes it out of Go's poller (it would wake for every
// packet nobody waits for). Afterwards the port stays bound, its own I/O
// fails and its Close closes the descriptor. One call per port.
func (p *Port) TakeFD() (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.taken || p.closed {
		return -1, errors.New("rtp port: descriptor already taken or closed")
	}
	c := p.conn.Load()
	if c == nil {
		p.taken = true
		return p.fd, nil
	}
	rc, err := c.SyscallConn()
	if err != nil {
		return -1, fmt.Errorf("rtp port %d: %w", p.num, err)
	}
	fd := -1
	var dupErr error
	if err := rc.Control(func(s uintptr) {
		fd, dupErr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return -1, fmt.Errorf("rtp port %d: %w", p.num, err)
	}
	if dupErr != nil {
		return -1, fmt.Errorf("rtp port %d: dup: %w", p.num, dupErr)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		_ = unix.Close(fd)
		return -1, fmt.Errorf("rtp port %d: %w", p.num, err)
	}
	_ = c.Close()
	p.fd, p.taken = fd, true
	return fd, nil
}

func closeFD(fd int) error { return unix.Close(fd) }
