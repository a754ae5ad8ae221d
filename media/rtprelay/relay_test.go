package rtprelay

import (
	"bytes"
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"luapbx/media/g711"
	"luapbx/media/sdpneg"
)

func TestRelayBothWays(t *testing.T) {
	h := start(t)
	const n = 20
	var ssrcB, ssrcA uint32
	for i := range n {
		in := pkt{pt: 0, seq: uint16(1000 + i), ts: uint32(5000 + 160*i), ssrc: 0xAAAA, payload: ulawFrame(byte(i))}
		h.a.send(h.ra, in)
		got := h.b.mustRecv()
		if !bytes.Equal(got.payload, in.payload) || got.pt != 0 {
			t.Fatalf("packet %d: pt %d payload changed", i, got.pt)
		}
		if got.ssrc == 0xAAAA {
			t.Fatal("ssrc not rewritten")
		}
		if i > 0 && got.ssrc != ssrcB {
			t.Fatalf("ssrc changed mid-stream: %x -> %x", ssrcB, got.ssrc)
		}
		ssrcB = got.ssrc
		back := pkt{pt: 0, seq: uint16(i), ts: uint32(160 * i), ssrc: 0xBBBB, payload: ulawFrame(byte(100 + i))}
		h.b.send(h.rb, back)
		gotA := h.a.mustRecv()
		if !bytes.Equal(gotA.payload, back.payload) || gotA.seq != back.seq || gotA.ts != back.ts {
			t.Fatalf("b->a packet %d altered: %+v", i, gotA)
		}
		ssrcA = gotA.ssrc
	}
	if ssrcA == ssrcB {
		t.Error("both legs got the same ssrc")
	}
	// A forwarder counts a packet just after sending it, so the peer can
	// see it a moment before the counter does: let the counters settle.
	sa, sb := h.relay.Stats(A), h.relay.Stats(B)
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline) && (sa.PacketsOut != n || sb.PacketsOut != n); {
		time.Sleep(5 * time.Millisecond)
		sa, sb = h.relay.Stats(A), h.relay.Stats(B)
	}
	if sa.PacketsIn != n || sb.PacketsOut != n || sb.PacketsIn != n || sa.PacketsOut != n {
		t.Errorf("stats a %+v b %+v", sa, sb)
	}
	if sa.BytesIn != n*172 || sb.BytesOut != n*172 {
		t.Errorf("bytes in %d out %d, want %d", sa.BytesIn, sb.BytesOut, n*172)
	}
	if sa.Lost != 0 || !sa.Latched || sa.Remote != h.a.addr() {
		t.Errorf("leg a: lost %d latched %v remote %v", sa.Lost, sa.Latched, sa.Remote)
	}
}

func TestTranscode(t *testing.T) {
	tests := []struct {
		name           string
		codecA, codecB uint8
		decodeIn       func(byte) int16
		decodeOut      func(byte) int16
	}{
		{"pcmu to pcma", g711.PTPCMU, g711.PTPCMA, g711.DecodeUlaw, g711.DecodeAlaw},
		{"pcma to pcmu", g711.PTPCMA, g711.PTPCMU, g711.DecodeAlaw, g711.DecodeUlaw},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := start(t, withA(func(c *LegConfig) { c.Codec = tt.codecA }), withB(func(c *LegConfig) { c.Codec = tt.codecB }))
			payload := make([]byte, 256)
			for i := range payload {
				payload[i] = byte(i)
			}
			h.a.send(h.ra, pkt{pt: tt.codecA, seq: 1, ts: 0, ssrc: 1, payload: payload})
			got := h.b.mustRecv()
			if got.pt != tt.codecB || len(got.payload) != len(payload) {
				t.Fatalf("got pt %d len %d", got.pt, len(got.payload))
			}
			for i, b := range got.payload {
				want := tt.decodeIn(payload[i])
				have := tt.decodeOut(b)
				if d := abs(int(have) - int(want)); d > 8+abs(int(want))/16 {
					t.Errorf("sample %d: in %d out %d (diff %d)", i, want, have, d)
				}
			}
		})
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func TestLatchingNewPort(t *testing.T) {
	h := start(t)
	// Before A sends, B's media goes to the address in A's SDP.
	h.b.send(h.rb, pkt{seq: 1, ssrc: 2, payload: ulawFrame(1)})
	if got := h.a.mustRecv(); got.seq != 1 {
		t.Fatalf("pre-latch packet seq %d", got.seq)
	}
	// A's packets really come from another port (NAT): latch to it.
	nat := newPhone(t)
	nat.send(h.ra, pkt{seq: 10, ssrc: 3, payload: ulawFrame(2)})
	h.b.mustRecv()
	h.b.send(h.rb, pkt{seq: 2, ssrc: 2, payload: ulawFrame(3)})
	if got := nat.mustRecv(); got.seq != 2 {
		t.Fatalf("latched source got seq %d", got.seq)
	}
	if _, _, ok := h.a.recv(100 * time.Millisecond); ok {
		t.Error("sdp address still receives after latching")
	}
	if st := h.relay.Stats(A); !st.Latched || st.Remote != nat.addr() {
		t.Errorf("stats remote %v latched %v, want %v", st.Remote, st.Latched, nat.addr())
	}
}

func TestLatchingOtherIP(t *testing.T) {
	probe, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP("127.0.0.2")})
	if err != nil {
		t.Skipf("127.0.0.2 not usable here: %v", err)
	}
	probe.Close()
	tests := []struct {
		name     string
		allowAny bool
		relayed  bool
	}{
		{"strict rejects", false, false},
		{"any source latches", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := start(t, func(c *Config) { c.AllowAnySource = tt.allowAny })
			stranger := &phone{t: t, conn: listen(t, "127.0.0.2")}
			stranger.send(h.ra, pkt{seq: 7, ssrc: 9, payload: ulawFrame(7)})
			_, _, ok := h.b.recv(waitTime(tt.relayed))
			if ok != tt.relayed {
				t.Fatalf("relayed = %v, want %v", ok, tt.relayed)
			}
			st := h.relay.Stats(A)
			if tt.relayed != (st.Rejected == 0) {
				t.Errorf("rejected = %d", st.Rejected)
			}
		})
	}
}

func TestDTMFMapping(t *testing.T) {
	tests := []struct {
		name    string
		eventB  uint8
		relayed bool
	}{
		{"mapped to b's pt", 96, true},
		{"b has no events", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := start(t, withB(func(c *LegConfig) { c.EventPT = tt.eventB }))
			ev := []byte{5, 0x0a, 0x01, 0x40} // digit 5, volume 10, duration 320
			h.a.send(h.ra, pkt{pt: 101, marker: true, seq: 1, ts: 800, ssrc: 1, payload: ev})
			got, _, ok := h.b.recv(waitTime(tt.relayed))
			if ok != tt.relayed {
				t.Fatalf("relayed = %v, want %v", ok, tt.relayed)
			}
			if !ok {
				if h.relay.Stats(A).Dropped != 1 {
					t.Errorf("dropped = %d, want 1", h.relay.Stats(A).Dropped)
				}
				return
			}
			if got.pt != tt.eventB || !bytes.Equal(got.payload, ev) || !got.marker {
				t.Errorf("event arrived as pt %d marker %v payload %x", got.pt, got.marker, got.payload)
			}
		})
	}
}

func TestContinuityAcrossSourceChange(t *testing.T) {
	h := start(t)
	var got []pkt
	for i := range 5 {
		h.a.send(h.ra, pkt{seq: uint16(100 + i), ts: uint32(1000 + 160*i), ssrc: 0x1111, payload: ulawFrame(1)})
		got = append(got, h.b.mustRecv())
	}
	time.Sleep(40 * time.Millisecond)
	moved := newPhone(t) // new port, new SSRC, new numbering (a re-INVITE, a transfer)
	h.relay.Update(A, LegConfig{Remote: moved.addr(), Codec: g711.PTPCMU, EventPT: 101})
	for i := range 5 {
		moved.send(h.ra, pkt{seq: uint16(60000 + i), ts: uint32(99999 + 160*i), ssrc: 0x2222, payload: ulawFrame(2)})
		got = append(got, h.b.mustRecv())
	}
	for i := 1; i < len(got); i++ {
		if got[i].ssrc != got[0].ssrc {
			t.Errorf("packet %d ssrc %x, want %x", i, got[i].ssrc, got[0].ssrc)
		}
		if got[i].seq != got[i-1].seq+1 {
			t.Errorf("packet %d seq %d after %d", i, got[i].seq, got[i-1].seq)
		}
		if d := int32(got[i].ts - got[i-1].ts); d <= 0 {
			t.Errorf("packet %d ts %d not after %d", i, got[i].ts, got[i-1].ts)
		}
	}
	if d := got[5].ts - got[4].ts; d < 160 {
		t.Errorf("ts step over the switch %d, want at least the 40 ms gap (320)", d)
	}
	if !got[5].marker {
		t.Error("no marker on the first packet of the new source")
	}
}

func TestHold(t *testing.T) {
	h := start(t)
	send := func(seq uint16) { h.a.send(h.ra, pkt{seq: seq, ssrc: 1, payload: ulawFrame(byte(seq))}) }
	send(1)
	h.b.mustRecv()
	hold := LegConfig{Remote: h.b.addr(), Codec: g711.PTPCMU, EventPT: 101, Direction: sdpneg.SendOnly}
	h.relay.Update(B, hold)
	send(2)
	if _, _, ok := h.b.recv(150 * time.Millisecond); ok {
		t.Fatal("leg on hold received media")
	}
	waitFor(t, "drop counted", func() bool { return h.relay.Stats(A).Dropped == 1 })
	// B on hold still sends (music on hold) and A gets it.
	h.b.send(h.rb, pkt{seq: 1, ssrc: 5, payload: ulawFrame(9)})
	h.a.mustRecv()
	hold.Direction = sdpneg.SendRecv
	h.relay.Update(B, hold)
	send(3)
	if got := h.b.mustRecv(); got.payload[0] != 3 {
		t.Errorf("after resume got payload %d", got.payload[0])
	}
}

func TestTimeout(t *testing.T) {
	tests := []struct {
		name    string
		dirB    sdpneg.Direction
		wantLeg Leg
	}{
		{"silent b", sdpneg.SendRecv, B},
		{"b recvonly is not watched, a goes silent", sdpneg.RecvOnly, A},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := start(t, func(c *Config) { c.Timeout = 150 * time.Millisecond }, withB(func(c *LegConfig) { c.Direction = tt.dirB }))
			// A talks for 300 ms, then stops.
			for i := range 15 {
				h.a.send(h.ra, pkt{seq: uint16(i), ssrc: 1, payload: ulawFrame(1)})
				time.Sleep(20 * time.Millisecond)
			}
			select {
			case err := <-h.errc:
				var te *TimeoutError
				if !errors.Is(err, ErrTimeout) || !errors.As(err, &te) {
					t.Fatalf("Run returned %v", err)
				}
				if te.Leg != tt.wantLeg || te.Silent < 150*time.Millisecond {
					t.Errorf("timeout on leg %v after %v, want leg %v", te.Leg, te.Silent, tt.wantLeg)
				}
			case <-time.After(3 * time.Second):
				t.Fatal("no timeout")
			}
		})
	}
}

func TestLossStats(t *testing.T) {
	h := start(t)
	seqs := []uint16{65530, 65531, 65533, 65534, 2, 3, 4, 6} // lost: 65532, 65535, 0, 1, 5
	for _, s := range seqs {
		h.a.send(h.ra, pkt{seq: s, ts: uint32(s) * 160, ssrc: 1, payload: ulawFrame(1)})
		h.b.mustRecv()
	}
	st := h.relay.Stats(A)
	if st.Lost != 5 || st.PacketsIn != uint64(len(seqs)) {
		t.Errorf("lost %d packets in %d, want 5 and %d", st.Lost, st.PacketsIn, len(seqs))
	}
	if st.JitterMs < 0 || st.JitterMs > 1e6 {
		t.Errorf("jitter %v", st.JitterMs)
	}
}

func TestJitter(t *testing.T) {
	tests := []struct {
		name     string
		skew     func(i int) uint32
		min, max float64
	}{
		{"steady", func(int) uint32 { return 0 }, 0, 0},
		{"alternating 80", func(i int) uint32 { return uint32(i%2) * 80 }, 75, 80},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s rxStats
			for i := range 300 {
				ts := uint32(160 * i)
				s.update(7, uint16(i), ts, ts+1234+tt.skew(i), true)
			}
			if s.jitter < tt.min || s.jitter > tt.max {
				t.Errorf("jitter %.2f, want %v..%v", s.jitter, tt.min, tt.max)
			}
			if s.lost() != 0 {
				t.Errorf("lost %d", s.lost())
			}
		})
	}
}

type recTap struct {
	mu   sync.Mutex
	got  map[int][][]byte
	pts  map[int]uint8
	seen int
}

func (r *recTap) WriteRTP(ch int, pt uint8, _ uint32, payload []byte, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got[ch] = append(r.got[ch], append([]byte(nil), payload...))
	r.pts[ch] = pt
	r.seen++
}

func TestTap(t *testing.T) {
	tap := &recTap{got: map[int][][]byte{}, pts: map[int]uint8{}}
	h := start(t, func(c *Config) { c.Tap = tap }, withB(func(c *LegConfig) { c.Codec = g711.PTPCMA }))
	h.a.send(h.ra, pkt{pt: 0, seq: 1, ssrc: 1, payload: ulawFrame(1)})
	h.b.mustRecv()
	h.b.send(h.rb, pkt{pt: 8, seq: 1, ssrc: 2, payload: ulawFrame(50)})
	h.a.mustRecv()
	tap.mu.Lock()
	defer tap.mu.Unlock()
	if tap.seen != 2 || !bytes.Equal(tap.got[0][0], ulawFrame(1)) || !bytes.Equal(tap.got[1][0], ulawFrame(50)) {
		t.Errorf("tap saw %d packets: %v", tap.seen, tap.got)
	}
	if tap.pts[0] != 0 || tap.pts[1] != 8 {
		t.Errorf("tap pts %v", tap.pts)
	}
}

func TestMalformedAndRTCP(t *testing.T) {
	h := start(t)
	h.a.conn.WriteToUDPAddrPort([]byte("hello"), h.ra)
	h.a.conn.WriteToUDPAddrPort([]byte{0x80, 200, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0}, h.ra)  // RTCP SR header
	h.a.conn.WriteToUDPAddrPort([]byte{0x40, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1}, h.ra) // version 1
	if _, _, ok := h.b.recv(150 * time.Millisecond); ok {
		t.Fatal("junk was relayed")
	}
	waitFor(t, "counters", func() bool {
		st := h.relay.Stats(A)
		return st.Malformed == 2 && st.Dropped == 1 && st.PacketsIn == 0
	})
}

func TestCloseAndRun(t *testing.T) {
	sa, sb := listen(t, "127.0.0.1"), listen(t, "127.0.0.1")
	r, err := New(nil, Config{A: LegConfig{Socket: sa}, B: LegConfig{Socket: sb}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- r.Run(ctx) }()
	waitFor(t, "run started", func() bool { r.mu.Lock(); defer r.mu.Unlock(); return r.started })
	if err := r.Run(ctx); !errors.Is(err, ErrRunning) {
		t.Errorf("second Run: %v", err)
	}
	cancel()
	if err := <-errc; err != nil {
		t.Errorf("Run after cancel: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
	if _, err := sa.WriteToUDPAddrPort([]byte{1}, addrOf(sb)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("socket still open after Close: %v", err)
	}
	if err := r.Run(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Run after Close: %v", err)
	}
	if _, err := New(nil, Config{A: LegConfig{Socket: sa}}); err == nil {
		t.Error("New without a b socket succeeded")
	}
}

func TestCloseStopsRun(t *testing.T) {
	h := start(t)
	h.relay.Close()
	select {
	case err := <-h.errc:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("Run returned %v, want ErrClosed", err)
		}
	case <-time.After(readWait):
		t.Fatal("Run did not return after Close")
	}
}

func TestUpdateSameAddressKeepsLatch(t *testing.T) {
	h := start(t)
	nat := newPhone(t)
	nat.send(h.ra, pkt{seq: 1, ssrc: 3, payload: ulawFrame(1)})
	h.b.mustRecv()
	// re-INVITE with the same SDP address, now PCMA: the latch survives.
	h.relay.Update(A, LegConfig{Remote: h.a.addr(), Codec: g711.PTPCMA, EventPT: 101})
	h.b.send(h.rb, pkt{pt: 0, seq: 2, ssrc: 2, payload: ulawFrame(3)})
	got := nat.mustRecv()
	if got.pt != g711.PTPCMA {
		t.Errorf("codec update not applied: pt %d", got.pt)
	}
	if st := h.relay.Stats(A); !st.Latched || st.Remote != nat.addr() {
		t.Errorf("latch lost: %+v", st)
	}
}

// waitTime is how long to wait for a packet: long when one must come, short
// when the test checks that none does.
func waitTime(expect bool) time.Duration {
	if expect {
		return readWait
	}
	return 200 * time.Millisecond
}
