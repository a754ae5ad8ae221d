package rtprelay

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"luapbx/media/g711"
)

// recordingTap counts tapped packets per channel.
type recordingTap struct {
	mu sync.Mutex
	n  [2]int
}

func (r *recordingTap) WriteRTP(ch int, _ uint8, _ uint32, _ []byte, _ time.Time) {
	r.mu.Lock()
	r.n[ch]++
	r.mu.Unlock()
}

func (r *recordingTap) count(ch int) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n[ch]
}

// TestHandover answers a caller on an Endpoint (as an IVR does), then
// hands its socket to a Relay towards a callee: the caller keeps its
// address, and what it receives stays one stream.
func TestHandover(t *testing.T) {
	for _, tc := range []struct {
		name     string
		sent     int   // packets the Endpoint sent before the hand-over
		codecB   uint8 // the callee's codec
		wantPT   uint8 // what the caller gets
		tapAfter bool
	}{
		{name: "continues the stream", sent: 3, codecB: g711.PTPCMU, wantPT: g711.PTPCMU},
		{name: "nothing sent before", sent: 0, codecB: g711.PTPCMU, wantPT: g711.PTPCMU},
		{name: "callee in pcma", sent: 2, codecB: g711.PTPCMA, wantPT: g711.PTPCMU, tapAfter: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, caller := newEndpoint(t, g711.PTPCMU, 5*time.Second)
			epAddr := addrOf(e.leg.sock.(*net.UDPConn))
			// The caller talks first (latching) and is read by a reader
			// goroutine, as apps.Session does.
			caller.send(epAddr, pkt{pt: 0, seq: 100, ts: 1000, ssrc: 9, payload: ulawFrame(1)})
			readErr := make(chan error, 1)
			go func() {
				buf := make([]byte, 1500)
				for {
					if _, err := e.ReadPacket(buf); err != nil {
						readErr <- err
						return
					}
				}
			}()
			waitFor(t, "the endpoint read", func() bool { return e.Stats().PacketsIn == 1 })
			var last pkt
			for i := range tc.sent {
				if err := e.WriteAudio(ulawFrame(byte(i)), g711.PTPCMU); err != nil {
					t.Fatal(err)
				}
				last = caller.mustRecv()
			}
			if _, err := e.Detach(); err == nil {
				t.Fatal("detach before StopReading worked")
			}
			e.StopReading()
			select {
			case err := <-readErr:
				if !errors.Is(err, ErrDetached) {
					t.Fatalf("reader ended with %v", err)
				}
			case <-time.After(readWait):
				t.Fatal("reader did not stop")
			}
			h, err := e.Detach()
			if err != nil {
				t.Fatal(err)
			}
			if err := e.Close(); err != nil {
				t.Fatal(err)
			}
			callee := newPhone(t)
			sb := listen(t, "127.0.0.1")
			tap := &recordingTap{}
			cfg := Config{HandoverA: h, B: LegConfig{Socket: sb, Remote: callee.addr(), Codec: tc.codecB, EventPT: 101}}
			if !tc.tapAfter {
				cfg.Tap = tap
			}
			r, err := New(nil, cfg)
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			wg.Go(func() { _ = r.Run(context.Background()) })
			defer func() { r.Close(); wg.Wait() }()
			if tc.tapAfter {
				r.SetTap(tap)
			}
			// The callee's packets reach the caller on the same stream.
			callee.send(addrOf(sb), pkt{pt: tc.codecB, seq: 5000, ts: 77777, ssrc: 1234, payload: ulawFrame(9)})
			got := caller.mustRecv()
			if got.pt != tc.wantPT || got.marker != (tc.sent > 0) {
				t.Errorf("caller got pt %d marker %v", got.pt, got.marker)
			}
			if tc.sent > 0 {
				if got.ssrc != last.ssrc || got.seq != last.seq+1 || got.ts-last.ts == 0 || got.ts-last.ts > 8000 {
					t.Errorf("stream broke: last %d/%d/%d, then %d/%d/%d", last.ssrc, last.seq, last.ts, got.ssrc, got.seq, got.ts)
				}
			}
			// The caller's packets (still latched on its address) reach the callee.
			caller.send(epAddr, pkt{pt: 0, seq: 101, ts: 1160, ssrc: 9, payload: ulawFrame(2)})
			if k := callee.mustRecv(); k.pt != tc.codecB {
				t.Errorf("callee got pt %d", k.pt)
			}
			waitFor(t, "tapped packets", func() bool { return tap.count(0) == 1 && tap.count(1) == 1 })
			if st := r.Stats(A); st.PacketsIn != 2 || !st.Latched {
				t.Errorf("caller stats carried over: %+v", st)
			}
			if r.LocalPort(A) != int(epAddr.Port()) {
				t.Errorf("relay leg a on port %d, endpoint was on %d", r.LocalPort(A), epAddr.Port())
			}
		})
	}
}

func TestDetachAfterClose(t *testing.T) {
	e, _ := newEndpoint(t, g711.PTPCMU, 0)
	e.StopReading()
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Detach(); err == nil {
		t.Fatal("detach after close worked")
	}
}

// BenchmarkHandover is the once-per-call cost of bridging an answered
// caller: stop the Endpoint's reader, detach, build the relay, close it
// (two sockets bound and closed per iteration, as a call does).
func BenchmarkHandover(b *testing.B) {
	peer := newPhone(b)
	b.ReportAllocs()
	for b.Loop() {
		sa, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			b.Fatal(err)
		}
		sb, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			b.Fatal(err)
		}
		e, err := NewEndpoint(nil, EndpointConfig{Leg: LegConfig{Socket: sa, Remote: peer.addr(), Codec: g711.PTPCMU}})
		if err != nil {
			b.Fatal(err)
		}
		e.StopReading() // no reader running: nothing to wait for
		h, err := e.Detach()
		if err != nil {
			b.Fatal(err)
		}
		r, err := New(nil, Config{HandoverA: h, B: LegConfig{Socket: sb, Remote: peer.addr(), Codec: g711.PTPCMU}})
		if err != nil {
			b.Fatal(err)
		}
		if err := r.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
