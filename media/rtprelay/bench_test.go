package rtprelay

import (
	"context"
	"sync"
	"syscall"
	"testing"
	"time"

	"luapbx/media/g711"
)

// benchRelay is a relay that is not running: the benchmark drives its packet
// path directly.
func benchRelay(b testing.TB, codecB uint8) (*Relay, *phone, *phone) {
	pa, pb := newPhone(b), newPhone(b)
	r, err := New(nil, Config{
		A: LegConfig{Socket: listen(b, "127.0.0.1"), Remote: pa.addr(), Codec: g711.PTPCMU, EventPT: 101},
		B: LegConfig{Socket: listen(b, "127.0.0.1"), Remote: pb.addr(), Codec: codecB, EventPT: 96},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Close() })
	return r, pa, pb
}

// BenchmarkProcess is the per-packet work without the socket calls:
// latching check, parse, stats, tap, PT mapping, transcoding, header rewrite.
func BenchmarkProcess(b *testing.B) {
	tests := []struct {
		name   string
		codecB uint8
		pkt    pkt
		tap    Tap
	}{
		{"passthrough", g711.PTPCMU, pkt{pt: 0, seq: 1, ts: 160, ssrc: 7, payload: ulawFrame(1)}, nil},
		{"transcode", g711.PTPCMA, pkt{pt: 0, seq: 1, ts: 160, ssrc: 7, payload: ulawFrame(1)}, nil},
		{"event", g711.PTPCMU, pkt{pt: 101, seq: 1, ts: 160, ssrc: 7, payload: []byte{1, 10, 0, 160}}, nil},
		{"passthrough+tap", g711.PTPCMU, pkt{pt: 0, seq: 1, ts: 160, ssrc: 7, payload: ulawFrame(1)}, nopTap{}},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			r, pa, _ := benchRelay(b, tt.codecB)
			r.SetTap(tt.tap)
			f := &forwarder{r: r, in: r.legs[A], out: r.legs[B]}
			orig := tt.pkt.marshal()
			buf := make([]byte, len(orig))
			src := pa.addr()
			b.ReportAllocs()
			seq := uint16(0)
			for b.Loop() {
				copy(buf, orig)
				seq++
				buf[2], buf[3] = byte(seq>>8), byte(seq)
				if _, ok := f.process(buf, src, time.Now()); !ok {
					b.Fatal("packet dropped")
				}
			}
		})
	}
}

// cpuTime is the process's user+system CPU time: in BenchmarkLoopback it
// covers the relay and both fake phones (whose syscalls are as many as the
// relay's).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type nopTap struct{}

func (nopTap) WriteRTP(int, uint8, uint32, []byte, time.Time) {}

// BenchmarkHandle adds the send syscall: the full per-packet cost after the
// read (one sendto on loopback).
func BenchmarkHandle(b *testing.B) {
	r, pa, _ := benchRelay(b, g711.PTPCMU)
	f := &forwarder{r: r, in: r.legs[A], out: r.legs[B]}
	orig := pkt{pt: 0, seq: 1, ts: 160, ssrc: 7, payload: ulawFrame(1)}.marshal()
	buf := make([]byte, len(orig))
	src := pa.addr()
	b.ReportAllocs()
	for b.Loop() {
		copy(buf, orig)
		f.handle(buf, src, time.Now())
	}
	if r.Stats(B).PacketsOut == 0 {
		b.Fatal("nothing sent")
	}
}

// BenchmarkLoopback sends RTP from a fake phone through a running relay to
// another fake phone on 127.0.0.1; ns/op is per relayed packet including both
// phones' syscalls. "pingpong" waits for each packet, "window16" keeps 16 in
// flight.
func BenchmarkLoopback(b *testing.B) {
	for _, window := range []int{1, 16} {
		name := "pingpong"
		if window > 1 {
			name = "window16"
		}
		b.Run(name, func(b *testing.B) {
			pa, pb := newPhone(b), newPhone(b)
			sa, sb := listen(b, "127.0.0.1"), listen(b, "127.0.0.1")
			_ = sa.SetReadBuffer(1 << 20)
			_ = pb.conn.SetReadBuffer(1 << 20)
			r, err := New(nil, Config{
				A: LegConfig{Socket: sa, Remote: pa.addr(), Codec: g711.PTPCMU},
				B: LegConfig{Socket: sb, Remote: pb.addr(), Codec: g711.PTPCMU},
			})
			if err != nil {
				b.Fatal(err)
			}
			var wg sync.WaitGroup
			wg.Go(func() { _ = r.Run(context.Background()) })
			defer func() { r.Close(); wg.Wait() }()
			to := addrOf(sa)
			out := pkt{pt: 0, seq: 1, ts: 160, ssrc: 7, payload: ulawFrame(1)}.marshal()
			in := make([]byte, 1500)
			pb.conn.SetReadDeadline(time.Now().Add(time.Minute))
			b.ReportAllocs()
			cpu0 := cpuTime()
			sent, recvd := 0, 0
			for b.Loop() {
				for sent-recvd < window {
					out[3]++
					if _, err := pa.conn.WriteToUDPAddrPort(out, to); err != nil {
						b.Fatal(err)
					}
					sent++
				}
				if _, _, err := pb.conn.ReadFromUDPAddrPort(in); err != nil {
					b.Fatalf("after %d packets: %v", recvd, err)
				}
				recvd++
			}
			b.StopTimer()
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
			st := r.Stats(A)
			if st.PacketsIn < uint64(recvd) {
				b.Fatalf("stats in %d < received %d", st.PacketsIn, recvd)
			}
		})
	}
}
