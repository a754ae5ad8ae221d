package rtprelay

import (
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"luapbx/media/g711"
)

const readWait = 2 * time.Second

func listen(t testing.TB, ip string) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func addrOf(c *net.UDPConn) netip.AddrPort {
	return c.LocalAddr().(*net.UDPAddr).AddrPort()
}

// phone is a fake SIP phone's RTP socket.
type phone struct {
	t    testing.TB
	conn *net.UDPConn
}

func newPhone(t testing.TB) *phone { return &phone{t: t, conn: listen(t, "127.0.0.1")} }

func (p *phone) addr() netip.AddrPort { return addrOf(p.conn) }

type pkt struct {
	pt      uint8
	marker  bool
	seq     uint16
	ts      uint32
	ssrc    uint32
	payload []byte
}

func (k pkt) marshal() []byte {
	b := make([]byte, 12+len(k.payload))
	b[0] = 0x80
	b[1] = k.pt
	if k.marker {
		b[1] |= 0x80
	}
	binary.BigEndian.PutUint16(b[2:], k.seq)
	binary.BigEndian.PutUint32(b[4:], k.ts)
	binary.BigEndian.PutUint32(b[8:], k.ssrc)
	copy(b[12:], k.payload)
	return b
}

func (p *phone) send(to netip.AddrPort, k pkt) {
	p.t.Helper()
	if _, err := p.conn.WriteToUDPAddrPort(k.marshal(), to); err != nil {
		p.t.Fatal(err)
	}
}

// recv waits up to d for a packet; ok is false on timeout.
func (p *phone) recv(d time.Duration) (pkt, netip.AddrPort, bool) {
	p.t.Helper()
	buf := make([]byte, 1500)
	p.conn.SetReadDeadline(time.Now().Add(d))
	n, from, err := p.conn.ReadFromUDPAddrPort(buf)
	if err != nil {
		return pkt{}, netip.AddrPort{}, false
	}
	b := buf[:n]
	if n < 12 {
		p.t.Fatalf("short packet %d bytes", n)
	}
	return pkt{pt: b[1] & 0x7f, marker: b[1]&0x80 != 0, seq: binary.BigEndian.Uint16(b[2:]),
		ts: binary.BigEndian.Uint32(b[4:]), ssrc: binary.BigEndian.Uint32(b[8:]),
		payload: append([]byte(nil), b[12:]...)}, from, true
}

func (p *phone) mustRecv() pkt {
	p.t.Helper()
	k, _, ok := p.recv(readWait)
	if !ok {
		p.t.Fatal("no packet received")
	}
	return k
}

func ulawFrame(seed byte) []byte {
	b := make([]byte, 160)
	for i := range b {
		b[i] = seed + byte(i)
	}
	return b
}

// harness is a running relay between two fake phones.
type harness struct {
	relay  *Relay
	a, b   *phone
	ra, rb netip.AddrPort // the relay's sockets, as each phone sees them
	errc   chan error
}

type opt func(*Config)

func start(t *testing.T, opts ...opt) *harness {
	t.Helper()
	h := &harness{a: newPhone(t), b: newPhone(t), errc: make(chan error, 1)}
	sa, sb := listen(t, "127.0.0.1"), listen(t, "127.0.0.1")
	h.ra, h.rb = addrOf(sa), addrOf(sb)
	cfg := Config{
		A: LegConfig{Socket: sa, Remote: h.a.addr(), Codec: g711.PTPCMU, EventPT: 101},
		B: LegConfig{Socket: sb, Remote: h.b.addr(), Codec: g711.PTPCMU, EventPT: 101},
	}
	for _, o := range opts {
		o(&cfg)
	}
	r, err := New(nil, cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.relay = r
	var wg sync.WaitGroup
	wg.Go(func() { h.errc <- r.Run(context.Background()) })
	t.Cleanup(func() {
		r.Close()
		wg.Wait()
	})
	return h
}

func withB(f func(*LegConfig)) opt { return func(c *Config) { f(&c.B) } }
func withA(f func(*LegConfig)) opt { return func(c *Config) { f(&c.A) } }

// waitFor polls cond for up to readWait.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(readWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
