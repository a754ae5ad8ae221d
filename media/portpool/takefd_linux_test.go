package portpool

import (
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestTakeFD: a fresh port gives its bare descriptor; one already used
// through the Go socket API gives a duplicate. Either way the Port's own
// I/O fails afterwards and Close frees the port for a new bind.
func TestTakeFD(t *testing.T) {
	for _, usedFirst := range []bool{false, true} {
		t.Run(fmt.Sprintf("used_first=%v", usedFirst), func(t *testing.T) {
			lo, hi := freeRange(t, 4)
			p, err := New(nil, loopback, fmt.Sprintf("%d-%d", lo, hi))
			if err != nil {
				t.Fatal(err)
			}
			port, err := p.Allocate()
			if err != nil {
				t.Fatal(err)
			}
			self := netip.AddrPortFrom(loopback, uint16(port.Port()))
			if usedFirst {
				if _, err := port.WriteToUDPAddrPort([]byte("ping"), self); err != nil {
					t.Fatal(err)
				}
				_ = port.SetReadDeadline(time.Now().Add(2 * time.Second))
				buf := make([]byte, 16)
				if n, from, err := port.ReadFromUDPAddrPort(buf); err != nil || string(buf[:n]) != "ping" || from != self {
					t.Fatalf("read %q from %v: %v", buf[:n], from, err)
				}
			}
			fd, err := port.TakeFD()
			if err != nil || fd < 0 {
				t.Fatalf("TakeFD = %d, %v", fd, err)
			}
			if _, err := port.TakeFD(); err == nil {
				t.Error("a second TakeFD succeeded")
			}
			receivesOn(t, fd, self)
			if _, err := port.WriteToUDPAddrPort([]byte("x"), self); err == nil {
				t.Error("the Port still writes after TakeFD")
			}
			if got := port.LocalAddr().(*net.UDPAddr).Port; got != port.Port() {
				t.Errorf("LocalAddr port %d", got)
			}
			if err := port.Close(); err != nil {
				t.Fatal(err)
			}
			c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(self))
			if err != nil {
				t.Fatalf("port still bound after Close: %v", err)
			}
			c.Close()
			if p.InUse() != 0 {
				t.Errorf("in use %d after Close", p.InUse())
			}
		})
	}
}

// receivesOn checks fd is the non-blocking socket bound on addr: a
// datagram sent there is read from fd, and an empty read does not block.
func receivesOn(t *testing.T, fd int, addr netip.AddrPort) {
	t.Helper()
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil || flags&unix.O_NONBLOCK == 0 {
		t.Fatalf("descriptor flags %#x, %v: want non-blocking", flags, err)
	}
	network := "udp4"
	if addr.Addr().Is6() {
		network = "udp6"
	}
	c, err := net.DialUDP(network, nil, net.UDPAddrFromAddrPort(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("rtp")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	for range 200 {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err == nil {
			if string(buf[:n]) != "rtp" {
				t.Fatalf("read %q", buf[:n])
			}
			return
		}
		if err != unix.EAGAIN {
			t.Fatalf("recvfrom: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("nothing arrived on the descriptor in 2 s")
}

// TestIPv6Port: a port on ::1 is an IPv6 socket, read through the Go
// socket API or handed over bare.
func TestIPv6Port(t *testing.T) {
	probe, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	lo := probe.LocalAddr().(*net.UDPAddr).Port
	probe.Close()
	lo -= lo % 2
	p, err := New(nil, netip.IPv6Loopback(), fmt.Sprintf("%d-%d", lo, lo+1))
	if err != nil {
		t.Fatal(err)
	}
	port, err := p.Allocate()
	if err != nil {
		t.Skipf("port %d taken meanwhile: %v", lo, err)
	}
	defer port.Close()
	self := netip.AddrPortFrom(netip.IPv6Loopback(), uint16(port.Port()))
	if got := port.LocalAddr().String(); got != self.String() {
		t.Errorf("LocalAddr %s, want %s", got, self)
	}
	fd, err := port.TakeFD()
	if err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := sa.(*unix.SockaddrInet6); !ok {
		t.Fatalf("socket %T, want IPv6", sa)
	}
	receivesOn(t, fd, self)
}

// BenchmarkAllocateTakeClose is a relayed call's port: bound, handed to
// the relay's poller, closed.
func BenchmarkAllocateTakeClose(b *testing.B) {
	p, err := New(nil, loopback, "41000-41999")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		port, err := p.Allocate()
		if err != nil {
			b.Fatal(err)
		}
		if _, err := port.TakeFD(); err != nil {
			b.Fatal(err)
		}
		port.Close()
	}
}

// TestUnspecifiedIsDualStack: a pool on 0.0.0.0 (SIP listening on every
// address) gives sockets that take IPv4 and IPv6 peers, as net.ListenUDP's
// do, and says so in LocalAddr ([::]) for the relay's sockaddrs.
func TestUnspecifiedIsDualStack(t *testing.T) {
	lo, hi := freeRange(t, 4)
	p, err := New(nil, netip.IPv4Unspecified(), fmt.Sprintf("%d-%d", lo, hi))
	if err != nil {
		t.Fatal(err)
	}
	port, err := p.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	defer port.Close()
	fd, err := port.TakeFD()
	if err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	if _, v6 := sa.(*unix.SockaddrInet6); !v6 {
		t.Skipf("no IPv6 on this machine: an IPv4 socket (%T)", sa)
	}
	if a := port.LocalAddr().(*net.UDPAddr); a.IP.To4() != nil || a.Port != port.Port() {
		t.Errorf("LocalAddr %v, want [::]:%d", a, port.Port())
	}
	receivesOn(t, fd, netip.AddrPortFrom(loopback, uint16(port.Port())))
	if c, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback}); err == nil {
		c.Close()
		receivesOn(t, fd, netip.AddrPortFrom(netip.IPv6Loopback(), uint16(port.Port())))
	}
}
