package portpool

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"testing"
)

var loopback = netip.MustParseAddr("127.0.0.1")

// freeRange finds n consecutive ports on 127.0.0.1 that bind right now, so a
// test can expect exact counts. It probes random blocks in 30000-59999.
func freeRange(t *testing.T, n int) (lo, hi int) {
	t.Helper()
	for range 50 {
		lo = 30000 + 2*rand.IntN(15000-n)
		var conns []*net.UDPConn
		ok := true
		for port := lo; port < lo+n; port++ {
			c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, uint16(port))))
			if err != nil {
				ok = false
				break
			}
			conns = append(conns, c)
		}
		for _, c := range conns {
			c.Close()
		}
		if ok {
			return lo, lo + n - 1
		}
	}
	t.Fatal("no free port block found")
	return 0, 0
}

func TestParseRange(t *testing.T) {
	tests := []struct {
		in     string
		lo, hi int
		ok     bool
	}{
		{"20000-20999", 20000, 20999, true},
		{" 10000 - 10001 ", 10000, 10001, true},
		{"20000-20000", 20000, 20000, true},
		{"20001-20001", 0, 0, false},
		{"20000", 0, 0, false},
		{"a-b", 0, 0, false},
		{"20000-x", 0, 0, false},
		{"30000-20000", 0, 0, false},
		{"0-100", 0, 0, false},
		{"60000-70000", 0, 0, false},
		{"", 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			lo, hi, err := ParseRange(tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
			if lo != tt.lo || hi != tt.hi {
				t.Errorf("got %d-%d, want %d-%d", lo, hi, tt.lo, tt.hi)
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	if _, err := New(nil, netip.Addr{}, "20000-20010"); err == nil {
		t.Error("invalid ip accepted")
	}
	if _, err := New(nil, loopback, "bad"); err == nil {
		t.Error("bad range accepted")
	}
	p, err := New(nil, loopback, "20001-20010")
	if err != nil {
		t.Fatal(err)
	}
	if p.Size() != 5 {
		t.Errorf("odd start: size %d, want 5 (20002..20010)", p.Size())
	}
}

func TestAllocateExhaustRelease(t *testing.T) {
	lo, hi := freeRange(t, 10)
	p, err := New(nil, loopback, fmt.Sprintf("%d-%d", lo, hi))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	var ports []*Port
	for range 5 {
		port, err := p.Allocate()
		if err != nil {
			t.Fatal(err)
		}
		n := port.Port()
		if n%2 != 0 || n < lo || n > hi || seen[n] {
			t.Fatalf("bad port %d (range %d-%d, seen %v)", n, lo, hi, seen)
		}
		if got := port.LocalAddr().(*net.UDPAddr).Port; got != n {
			t.Fatalf("socket bound on %d, Port() says %d", got, n)
		}
		seen[n] = true
		ports = append(ports, port)
	}
	if p.InUse() != 5 {
		t.Errorf("in use %d, want 5", p.InUse())
	}
	if _, err := p.Allocate(); !errors.Is(err, ErrExhausted) {
		t.Fatalf("6th allocate: %v, want ErrExhausted", err)
	}
	first := ports[0].Port()
	if err := ports[0].Close(); err != nil {
		t.Fatal(err)
	}
	_ = ports[0].Close() // second close must not return the port twice
	if p.InUse() != 4 {
		t.Errorf("in use after release %d, want 4", p.InUse())
	}
	again, err := p.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	if again.Port() != first {
		t.Errorf("reallocated %d, want released %d", again.Port(), first)
	}
	if _, err := p.Allocate(); !errors.Is(err, ErrExhausted) {
		t.Errorf("double close returned the port twice: %v", err)
	}
	for _, port := range append(ports[1:], again) {
		port.Close()
	}
	if p.InUse() != 0 {
		t.Errorf("in use at end %d", p.InUse())
	}
}

func TestSkipsBusyPorts(t *testing.T) {
	lo, hi := freeRange(t, 6)
	busy, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, uint16(lo))))
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	p, err := New(nil, loopback, fmt.Sprintf("%d-%d", lo, hi))
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	for {
		port, err := p.Allocate()
		if errors.Is(err, ErrExhausted) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		defer port.Close()
		got = append(got, port.Port())
		if len(got) > 3 {
			t.Fatal("allocated more ports than the range holds")
		}
	}
	if len(got) != 2 || got[0] == lo || got[1] == lo {
		t.Errorf("allocated %v, want the two ports other than busy %d", got, lo)
	}
	if p.InUse() != 2 {
		t.Errorf("busy port counted as in use: %d", p.InUse())
	}
}

func TestClosedPool(t *testing.T) {
	lo, hi := freeRange(t, 4)
	p, err := New(nil, loopback, fmt.Sprintf("%d-%d", lo, hi))
	if err != nil {
		t.Fatal(err)
	}
	port, err := p.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
	p.Close()
	if _, err := p.Allocate(); !errors.Is(err, ErrClosed) {
		t.Errorf("allocate after close: %v", err)
	}
	if err := port.Close(); err != nil {
		t.Errorf("port close after pool close: %v", err)
	}
}

func TestConcurrent(t *testing.T) {
	lo, hi := freeRange(t, 40)
	p, err := New(nil, loopback, fmt.Sprintf("%d-%d", lo, hi))
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		holder = map[int]int{}
		errs   = make(chan error, 8)
	)
	for w := range 8 {
		wg.Go(func() {
			for range 50 {
				port, err := p.Allocate()
				if errors.Is(err, ErrExhausted) {
					continue
				}
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				if other, ok := holder[port.Port()]; ok {
					mu.Unlock()
					errs <- fmt.Errorf("port %d held by %d and %d", port.Port(), other, w)
					return
				}
				holder[port.Port()] = w
				mu.Unlock()
				mu.Lock()
				delete(holder, port.Port())
				mu.Unlock()
				port.Close()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if p.InUse() != 0 || p.Size() != 20 {
		t.Errorf("in use %d size %d after concurrent use", p.InUse(), p.Size())
	}
}

func BenchmarkAllocateRelease(b *testing.B) {
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
		port.Close()
	}
}
