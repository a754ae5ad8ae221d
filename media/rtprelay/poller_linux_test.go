package rtprelay

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

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
		// A link-local peer keeps its interface (the scope id).
		{"[fe80::1%4000000]:7078", true, true, "[fe80::1%4000000]:7078"}, // no such interface: numeric
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
	// A zone named by its interface is sent with that interface's index.
	if lo, err := net.InterfaceByName("lo"); err == nil {
		n, _ := putSockaddr(&raw, netip.MustParseAddrPort("[fe80::1%lo]:7078"), true)
		if got := *(*uint32)(unsafe.Pointer(&raw[24])); got != uint32(lo.Index) {
			t.Errorf("zone lo sent with scope id %d, want %d", got, lo.Index)
		}
		// and read back by name, as Go's own sockets name it
		if got := parseSockaddr(&raw, n).Addr().Zone(); got != "lo" {
			t.Errorf("scope id %d read as zone %q, want lo", lo.Index, got)
		}
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

// TestPollerPriority: the poller runs on a thread of its own with
// PollerRTPriority (SCHED_RR) or else PollerNice, when the process may
// raise a thread's priority; otherwise it keeps the priority it inherited.
// Without it, a poller among many runnable threads of other programs got a
// few % of a CPU and every socket overflowed (tests/bench/media.sh at 400
// calls). TestPollerRealtime runs it again with LUAPBX_RTP_RTPRIO=1.
func TestPollerPriority(t *testing.T) {
	if !UsePoller {
		t.Skip("goroutine run")
	}
	h := start(t)
	h.a.send(h.ra, pkt{seq: 1, ssrc: 1, payload: ulawFrame(1)})
	h.b.mustRecv()                                                      // the poller is up
	if _, err := getPoller(slog.New(slog.DiscardHandler)); err != nil { // its once: pollers and the settings are ours to read
		t.Fatal(err)
	}
	can, inherited := canRaisePriority(t)
	for i, p := range pollers {
		tid := int(p.tid.Load())
		if tid == 0 {
			t.Fatalf("poller %d did not record its thread", i)
		}
		if tid == unix.Gettid() {
			t.Errorf("poller %d shares the test's thread", i)
		}
		attr, err := unix.SchedGetAttr(tid, 0)
		if err != nil {
			t.Fatal(err)
		}
		nice, err := threadNice(tid)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case PollerRTPriority > 0 && can.rt:
			if attr.Policy != unix.SCHED_RR || attr.Priority != uint32(PollerRTPriority) {
				t.Errorf("poller %d: thread %d has policy %d priority %d, want SCHED_RR %d", i, tid, attr.Policy, attr.Priority, PollerRTPriority)
			}
		case can.nice:
			if attr.Policy != unix.SCHED_NORMAL || nice != PollerNice {
				t.Errorf("poller %d: thread %d has policy %d nice %d, want SCHED_NORMAL nice %d", i, tid, attr.Policy, nice, PollerNice)
			}
		default:
			if attr.Policy != unix.SCHED_NORMAL || nice != inherited {
				t.Errorf("poller %d: thread %d has policy %d nice %d, want the inherited SCHED_NORMAL nice %d (not allowed to raise it)",
					i, tid, attr.Policy, nice, inherited)
			}
		}
	}
}

// TestPollerRealtime runs TestPollerPriority in a process whose poller
// asks for SCHED_RR (the pollers start once per process).
func TestPollerRealtime(t *testing.T) {
	if !UsePoller || os.Getenv("LUAPBX_RTP_RTPRIO") != "" {
		t.Skip("goroutine run, or already the real-time run")
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^TestPollerPriority$", "-test.count", "1", "-test.v")
	cmd.Env = append(os.Environ(), "LUAPBX_RTP_RTPRIO=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("--- PASS: TestPollerPriority")) {
		t.Fatalf("TestPollerPriority with LUAPBX_RTP_RTPRIO=1: %v\n%s", err, out)
	}
}

// raisable says what this process may do to a thread's priority.
type raisable struct{ nice, rt bool }

// canRaisePriority tries, on a thread of its own, to lower its nice value
// and to make it SCHED_RR (CAP_SYS_NICE, RLIMIT_NICE, RLIMIT_RTPRIO);
// inherited is the nice a new thread starts with.
func canRaisePriority(t *testing.T) (can raisable, inherited int) {
	t.Helper()
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread() // the thread ends with the goroutine: its priority goes with it
		tid := unix.Gettid()
		if inherited, err = threadNice(tid); err != nil {
			return
		}
		can.nice = unix.Setpriority(unix.PRIO_PROCESS, tid, inherited-1) == nil
		can.rt = unix.SchedSetAttr(tid, &unix.SchedAttr{Policy: unix.SCHED_RR, Priority: 1}, 0) == nil
	}()
	<-done
	if err != nil {
		t.Fatal(err)
	}
	return can, inherited
}

// threadNice reads a thread's nice value (field 19 of its stat file).
func threadNice(tid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/stat", tid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 17 {
		return 0, fmt.Errorf("thread %d stat: %d fields", tid, len(f))
	}
	n, err := strconv.Atoi(f[16]) // fields 3.. from here: 19 is index 16
	if err != nil {
		return 0, fmt.Errorf("thread %d stat: %w", tid, err)
	}
	return n, nil
}

// TestPollerOverflowReported: datagrams the kernel drops because the
// poller did not read in time (here: held off with its lock) show in
// Stats.Overflow and in a warning when the relay stops; before, that loss
// left no trace in the relay.
func TestPollerOverflowReported(t *testing.T) {
	if !UsePoller {
		t.Skip("goroutine run")
	}
	a, b := newPhone(t), newPhone(t)
	sa, sb := listen(t, "127.0.0.1"), listen(t, "127.0.0.1")
	if err := sa.SetReadBuffer(4096); err != nil { // the kernel's floor: a few datagrams
		t.Fatal(err)
	}
	ra := addrOf(sa)
	var logBuf lockedBuffer
	r, err := New(slog.New(slog.NewTextHandler(&logBuf, nil)), Config{
		A: LegConfig{Socket: sa, Remote: a.addr(), Codec: g711.PTPCMU},
		B: LegConfig{Socket: sb, Remote: b.addr(), Codec: g711.PTPCMU},
	})
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- r.Run(context.Background()) }()
	a.send(ra, pkt{seq: 0, ssrc: 9, payload: ulawFrame(0)})
	b.mustRecv()                                                        // registered with a poller
	if _, err := getPoller(slog.New(slog.DiscardHandler)); err != nil { // its once: pollers is ours to read
		t.Fatal(err)
	}

	const flood = 200
	for _, p := range pollers {
		p.mu.Lock() // no round can read meanwhile
	}
	for i := 1; i <= flood; i++ {
		a.send(ra, pkt{seq: uint16(i), ts: uint32(160 * i), ssrc: 9, payload: ulawFrame(byte(i))})
	}
	for _, p := range pollers {
		p.mu.Unlock()
	}
	b.mustRecv() // what the buffer held is relayed
	r.Close()
	select {
	case <-errc:
	case <-time.After(readWait):
		t.Fatal("Run did not return after Close")
	}
	st := r.Stats(A)
	if st.Overflow == 0 {
		t.Fatalf("no overflow counted after %d datagrams into a %d-byte buffer: %+v", flood, 4096, st)
	}
	if got := st.Overflow + st.PacketsIn; got != flood+1 {
		t.Errorf("overflow %d + read %d = %d, want the %d sent", st.Overflow, st.PacketsIn, got, flood+1)
	}
	if bst := r.Stats(B); bst.Overflow != 0 {
		t.Errorf("leg b overflowed %d, it got nothing", bst.Overflow)
	}
	want := fmt.Sprintf("leg=a dropped=%d", st.Overflow)
	if out := logBuf.String(); !strings.Contains(out, "rtp receive buffer overflowed") || !strings.Contains(out, want) {
		t.Errorf("log does not report the overflow (%s):\n%s", want, out)
	}
}

// lockedBuffer is a bytes.Buffer the relay's logger and the test share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestPollerPOnlyWhileBusy: a poller has a P of its own while media flows
// and gives it back once idle, so signalling without media runs on as
// many Ps as CPUs.
func TestPollerPOnlyWhileBusy(t *testing.T) {
	if !UsePoller {
		t.Skip("goroutine run")
	}
	if os.Getenv("GOMAXPROCS") != "" {
		t.Skip("GOMAXPROCS set in the environment: the pollers add no P (see getPoller)")
	}
	h := start(t)
	h.a.send(h.ra, pkt{seq: 1, ssrc: 1, payload: ulawFrame(1)})
	h.b.mustRecv() // the relay is in a poller
	procs.Lock()
	base := procs.base
	procs.Unlock()
	if base == 0 {
		t.Fatal("the pollers did not record the base GOMAXPROCS")
	}
	idle := func() bool { return runtime.GOMAXPROCS(0) == base }
	waitFor(t, "the idle poller to give its P back", idle)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for seq := uint16(2); ; seq++ {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
				h.a.send(h.ra, pkt{seq: seq, ssrc: 1, payload: ulawFrame(1)})
			}
		}
	}()
	waitFor(t, "a P for the busy poller", func() bool { return runtime.GOMAXPROCS(0) == base+1 })
	close(stop)
	<-done
	waitFor(t, "the P back once media stopped", idle)
}

// A link-local peer's packets carry its interface (a zone) while its SDP
// address has none: they are still its packets.
func TestLatchLinkLocalZone(t *testing.T) {
	cfg := LegConfig{Remote: netip.MustParseAddrPort("[fe80::1]:4000"), Codec: g711.PTPCMU}
	l := newLeg(A, cfg, 1, false)
	if !l.accept(netip.MustParseAddrPort("[fe80::1%lo]:4000"), 1) {
		t.Fatal("the SDP's link-local peer, arriving with its zone, was rejected")
	}
	if l.accept(netip.MustParseAddrPort("[fe80::2%lo]:4000"), 2) {
		t.Error("another link-local address was accepted")
	}
}
