package rtprelay

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"testing"

	"luapbx/media/g711"
	"luapbx/media/portpool"
)

// TestPortsReturnToPool: a relay on pool sockets gives both ports back on Close.
func TestPortsReturnToPool(t *testing.T) {
	lo := 30000 + 2*rand.IntN(14000)
	pool, err := portpool.New(nil, netip.MustParseAddr("127.0.0.1"), fmt.Sprintf("%d-%d", lo, lo+99))
	if err != nil {
		t.Fatal(err)
	}
	pa, err := pool.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	pb, err := pool.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	a, b := newPhone(t), newPhone(t)
	r, err := New(nil, Config{
		A: LegConfig{Socket: pa, Remote: a.addr(), Codec: g711.PTPCMU},
		B: LegConfig{Socket: pb, Remote: b.addr(), Codec: g711.PTPCMU},
	})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { _ = r.Run(context.Background()) })
	if r.LocalPort(A) != pa.Port() || r.LocalPort(B) != pb.Port() {
		t.Errorf("local ports %d %d, pool gave %d %d", r.LocalPort(A), r.LocalPort(B), pa.Port(), pb.Port())
	}
	a.send(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(pa.Port())), pkt{seq: 1, ssrc: 1, payload: ulawFrame(1)})
	b.mustRecv()
	if pool.InUse() != 2 {
		t.Fatalf("in use %d, want 2", pool.InUse())
	}
	r.Close()
	wg.Wait()
	r.Close()
	if pool.InUse() != 0 {
		t.Errorf("in use after Close %d, want 0", pool.InUse())
	}
}
