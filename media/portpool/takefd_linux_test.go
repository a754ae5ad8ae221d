package portpool

import (
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"
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
