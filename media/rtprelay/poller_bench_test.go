//go:build linux

package rtprelay

import (
	"net/netip"
	"testing"
	"time"

	"luapbx/media/g711"
)

// BenchmarkPollerRound is the poller's work per relayed packet: 100 relays
// (PCMU to PCMA, tapped) each get one packet on leg A, then rounds
// (epoll_wait, recvmmsg, processing, sendmmsg) relay them. The fake
// phones' syscalls are outside the timer, and so is the sleep between two
// rounds (see PollInterval).
func BenchmarkPollerRound(b *testing.B) {
	const relays = 100
	p, err := newPoller()
	if err != nil {
		b.Fatal(err)
	}
	var senders, receivers [relays]*phone
	var to [relays]netip.AddrPort
	for i := range relays {
		pa, pb := newPhone(b), newPhone(b)
		_ = pb.conn.SetReadBuffer(1 << 20)
		sa, sb := listen(b, "127.0.0.1"), listen(b, "127.0.0.1")
		to[i], senders[i], receivers[i] = addrOf(sa), pa, pb
		r, err := New(nil, Config{
			A:   LegConfig{Socket: sa, Remote: pa.addr(), Codec: g711.PTPCMU},
			B:   LegConfig{Socket: sb, Remote: pb.addr(), Codec: g711.PTPCMA},
			Tap: nopTap{},
		})
		if err != nil {
			b.Fatal(err)
		}
		for l, s := range []Socket{sa, sb} {
			if r.raw[l], err = takeSocket(s); err != nil {
				b.Fatal(err)
			}
		}
		ids, err := p.register(r, &forwarder{r: r, in: r.legs[A], out: r.legs[B]},
			&forwarder{r: r, in: r.legs[B], out: r.legs[A]}, r.raw[A], r.raw[B])
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { p.unregister(ids); r.Close() })
	}
	in := make([]byte, 1500)
	var seq uint16
	relayed := 0
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		seq++
		for i, s := range senders {
			s.send(to[i], pkt{seq: seq, ts: uint32(seq) * 160, ssrc: 7, payload: ulawFrame(byte(i))})
		}
		b.StartTimer()
		for got, deadline := 0, time.Now().Add(5*time.Second); got < relays; {
			n, err := p.wait(0)
			if err != nil {
				b.Fatal(err)
			}
			if time.Now().After(deadline) {
				b.Fatalf("only %d of %d sockets became ready", got, relays)
			}
			p.round(n)
			got += n
		}
		b.StopTimer()
		for _, r := range receivers {
			if _, _, err := r.conn.ReadFromUDPAddrPort(in); err != nil {
				b.Fatal(err)
			}
			relayed++
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(relayed), "ns/packet")
}
