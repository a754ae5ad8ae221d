package rtprelay

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"sync"
	"testing"
	"time"

	"luapbx/media/g711"
)

// goroutineEnv makes the test binary run with UsePoller off (see
// TestGoroutinePath).
const goroutineEnv = "LUAPBX_RTPRELAY_GOROUTINES"

func TestMain(m *testing.M) {
	if os.Getenv(goroutineEnv) == "1" {
		UsePoller = false
	}
	os.Exit(m.Run())
}

// TestGoroutinePath runs the package's tests again with a goroutine per
// leg (the path other systems take, and UsePoller=false on Linux).
func TestGoroutinePath(t *testing.T) {
	if !UsePoller {
		t.Skip("already the goroutine run")
	}
	if testing.Short() {
		t.Skip("-short: the goroutine path's run of the package is skipped")
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^Test", "-test.count", "1")
	cmd.Env = append(os.Environ(), goroutineEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("tests with a goroutine per leg failed: %v\n%s", err, out)
	}
}

// TestPollerOwnsSockets: on Linux a relay's sockets go to the poller, and
// Close frees their ports.
func TestPollerOwnsSockets(t *testing.T) {
	if !UsePoller {
		t.Skip("goroutine run")
	}
	h := start(t)
	h.a.send(h.ra, pkt{seq: 1, ssrc: 1, payload: ulawFrame(1)})
	h.b.mustRecv()
	h.relay.Close() // Run has returned: raw is ours to read
	if h.relay.raw[A] == nil || h.relay.raw[B] == nil {
		t.Fatal("relay did not hand its sockets to the poller")
	}
	for _, ap := range []netip.AddrPort{h.ra, h.rb} {
		c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(ap))
		if err != nil {
			t.Fatalf("port %d still bound after Close: %v", ap.Port(), err)
		}
		c.Close()
	}
}

// TestPollerManyRelays: many relays at once, some closed while packets
// flow; each phone gets its own peer's packets only.
func TestPollerManyRelays(t *testing.T) {
	const n = 40
	hs := make([]*harness, n)
	for i := range hs {
		hs[i] = start(t)
	}
	var wg sync.WaitGroup
	for i, h := range hs {
		wg.Go(func() {
			for j := range 10 {
				h.a.send(h.ra, pkt{seq: uint16(j), ts: uint32(160 * j), ssrc: 7, payload: ulawFrame(byte(i))})
				got := h.b.mustRecv()
				if !bytes.Equal(got.payload, ulawFrame(byte(i))) {
					t.Errorf("relay %d: got another relay's payload", i)
					return
				}
				h.b.send(h.rb, pkt{seq: uint16(j), ts: uint32(160 * j), ssrc: 8, payload: ulawFrame(byte(i + 100))})
				if got := h.a.mustRecv(); !bytes.Equal(got.payload, ulawFrame(byte(i+100))) {
					t.Errorf("relay %d: b->a got another relay's payload", i)
					return
				}
			}
		})
	}
	wg.Wait()
	// Flood and close every other relay while the rest keep going.
	for i := range hs {
		h := hs[i]
		wg.Go(func() {
			if i%2 == 0 {
				for j := range 50 {
					h.a.send(h.ra, pkt{seq: uint16(100 + j), ssrc: 9, payload: ulawFrame(1)})
				}
				h.relay.Close()
				return
			}
			for j := range 10 {
				h.a.send(h.ra, pkt{seq: uint16(500 + j), ts: uint32(80000 + 160*j), ssrc: 7, payload: ulawFrame(byte(42 + j))})
				if got := h.b.mustRecv(); !bytes.Equal(got.payload, ulawFrame(byte(42+j))) {
					t.Errorf("relay %d while others close: wrong payload", i)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestPollerIPv6 relays between IPv6 phones through IPv6 sockets.
func TestPollerIPv6(t *testing.T) {
	l6 := func() *net.UDPConn {
		c, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
		if err != nil {
			t.Skipf("no IPv6 loopback here: %v", err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	a, b := &phone{t: t, conn: l6()}, &phone{t: t, conn: l6()}
	sa, sb := l6(), l6()
	ra, rb := addrOf(sa), addrOf(sb)
	r, err := New(nil, Config{
		A: LegConfig{Socket: sa, Remote: a.addr(), Codec: g711.PTPCMU},
		B: LegConfig{Socket: sb, Remote: b.addr(), Codec: g711.PTPCMA},
	})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { _ = r.Run(context.Background()) })
	defer func() { r.Close(); wg.Wait() }()
	a.send(ra, pkt{seq: 1, ssrc: 1, payload: ulawFrame(3)})
	got := b.mustRecv()
	want := make([]byte, 160)
	g711.UlawToAlaw(want, ulawFrame(3))
	if got.pt != g711.PTPCMA || !bytes.Equal(got.payload, want) {
		t.Fatalf("b got pt %d, payload transcoded right: %v", got.pt, bytes.Equal(got.payload, want))
	}
	b.send(rb, pkt{seq: 1, ssrc: 2, pt: g711.PTPCMA, payload: want})
	if got := a.mustRecv(); got.pt != g711.PTPCMU {
		t.Fatalf("a got pt %d", got.pt)
	}
}

// TestSockaddr round-trips addresses through the kernel's layout.
func TestSockaddr(t *testing.T) {
	for _, tc := range []struct {
		dst  string
		v6   bool
		ok   bool
		want string
	}{
		{"127.0.0.1:4000", false, true, "127.0.0.1:4000"},
		{"[::ffff:10.1.2.3]:5", false, true, "10.1.2.3:5"},
		{"[::1]:6000", false, false, ""},
		{"[::1]:6000", true, true, "[::1]:6000"},
		{"192.0.2.7:65535", true, true, "192.0.2.7:65535"},
	} {
		t.Run(tc.dst, func(t *testing.T) {
			var raw [sockaddrLen]byte
			n, ok := putSockaddr(&raw, netip.MustParseAddrPort(tc.dst), tc.v6)
			if ok != tc.ok {
				t.Fatalf("ok %v, want %v", ok, tc.ok)
			}
			if !ok {
				return
			}
			if got := parseSockaddr(&raw, n); got.String() != tc.want {
				t.Errorf("round trip %s, want %s", got, tc.want)
			}
		})
	}
	var raw [sockaddrLen]byte
	if got := parseSockaddr(&raw, 0); got.IsValid() {
		t.Errorf("empty sockaddr parsed as %s", got)
	}
}

// TestPollerRoundBound: one round reads at most maxReads x batchMsgs
// datagrams from a socket, so a flooded leg cannot hold the poller; the
// rest waits for the next rounds.
func TestPollerRoundBound(t *testing.T) {
	p, err := newPoller()
	if err != nil {
		t.Fatal(err)
	}
	pa, pb := newPhone(t), newPhone(t)
	_ = pb.conn.SetReadBuffer(1 << 20)
	sa, sb := listen(t, "127.0.0.1"), listen(t, "127.0.0.1")
	_ = sa.SetReadBuffer(1 << 20)
	to := addrOf(sa)
	r, err := New(nil, Config{
		A: LegConfig{Socket: sa, Remote: pa.addr(), Codec: g711.PTPCMU},
		B: LegConfig{Socket: sb, Remote: pb.addr(), Codec: g711.PTPCMU},
	})
	if err != nil {
		t.Fatal(err)
	}
	for l, s := range []Socket{sa, sb} {
		if r.raw[l], err = takeSocket(s); err != nil {
			t.Fatal(err)
		}
	}
	ids, err := p.register(r, &forwarder{r: r, in: r.legs[A], out: r.legs[B]},
		&forwarder{r: r, in: r.legs[B], out: r.legs[A]}, r.raw[A], r.raw[B])
	if err != nil {
		t.Fatal(err)
	}
	defer func() { p.unregister(ids); r.Close() }()
	const queued = 3*maxReads*batchMsgs + 5
	for i := range queued {
		pa.send(to, pkt{seq: uint16(i), ts: uint32(160 * i), ssrc: 5, payload: ulawFrame(1)})
	}
	time.Sleep(50 * time.Millisecond) // loopback delivery is synchronous; be generous
	var perRound []uint64
	for range 4 {
		n, err := p.wait(0)
		if err != nil {
			t.Fatal(err)
		}
		before := r.Stats(A).PacketsIn
		p.round(n)
		perRound = append(perRound, r.Stats(A).PacketsIn-before)
	}
	want := []uint64{maxReads * batchMsgs, maxReads * batchMsgs, maxReads * batchMsgs, 5}
	if !slices.Equal(perRound, want) {
		t.Errorf("packets read per round %v, want %v", perRound, want)
	}
}
