package sipserver

import (
	"net"
	"sync"
)

// tracedConn is a UDP listener under --sip-trace: it traces a datagram
// before sending it. sipgo's own hook traces after the send returns, so a
// peer's answer (the caller's ACK) read meanwhile on another goroutine was
// traced before the message it answers (our 200 OK).
type tracedConn struct {
	net.PacketConn
	laddr string
}

func (c *tracedConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, addr, err := c.PacketConn.ReadFrom(b)
	if err == nil {
		if t := traceTo.Load(); t != nil {
			t.write("sip in", "UDP", c.laddr, "<-", addr.String(), b[:n])
		}
	}
	return n, addr, err
}

func (c *tracedConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if t := traceTo.Load(); t != nil {
		t.write("sip out", "UDP", c.laddr, "->", addr.String(), b)
	}
	return c.PacketConn.WriteTo(b, addr)
}

// tracedAddrs are the local addresses of tracedConns: sipgo's hook skips
// them (they are traced already), and traces every other socket (TCP).
var tracedAddrs sync.Map // laddr string -> struct{}

// traceConn wraps a UDP listener for --sip-trace.
func traceConn(conn net.PacketConn) net.PacketConn {
	laddr := conn.LocalAddr().String()
	tracedAddrs.Store(laddr, struct{}{})
	return &tracedConn{PacketConn: conn, laddr: laddr}
}

// untrace forgets a closed listener's address (a later server may bind it
// without tracing).
func untrace(conn net.PacketConn) {
	if tc, ok := conn.(*tracedConn); ok {
		tracedAddrs.Delete(tc.laddr)
	}
}

// tracedAlready says whether sipgo's hook reports a socket a tracedConn
// traces itself.
func tracedAlready(transport, laddr string) bool {
	if transport != "UDP" {
		return false
	}
	_, ok := tracedAddrs.Load(laddr)
	return ok
}
