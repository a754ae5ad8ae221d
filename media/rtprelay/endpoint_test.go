package rtprelay

import (
	"bytes"
	"errors"
	"net"
	"testing"
	"time"

	"luapbx/media/g711"
	"luapbx/media/sdpneg"
)

func newEndpoint(t *testing.T, codec uint8, tmo time.Duration) (*Endpoint, *phone) {
	t.Helper()
	ph := newPhone(t)
	sock := listen(t, "127.0.0.1")
	e, err := NewEndpoint(nil, EndpointConfig{
		Leg:     LegConfig{Socket: sock, Remote: ph.addr(), Codec: codec, EventPT: 101},
		Timeout: tmo,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e, ph
}

func TestEndpointRead(t *testing.T) {
	e, ph := newEndpoint(t, g711.PTPCMU, 0)
	to := addrOf(e.leg.sock.(*net.UDPConn))
	ph.send(to, pkt{pt: 0, seq: 9, ts: 160, ssrc: 4, payload: ulawFrame(3)})
	ph.send(to, pkt{pt: 101, marker: true, seq: 10, ts: 320, ssrc: 4, payload: []byte{1, 10, 0, 160}})
	buf := make([]byte, 1500)
	p, err := e.ReadPacket(buf)
	if err != nil {
		t.Fatal(err)
	}
	if p.PT != 0 || p.Event || p.Seq != 9 || !bytes.Equal(p.Payload, ulawFrame(3)) {
		t.Errorf("audio packet %+v", p)
	}
	p, err = e.ReadPacket(buf)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Event || !p.Marker || p.Payload[0] != 1 {
		t.Errorf("event packet %+v", p)
	}
	if st := e.Stats(); st.PacketsIn != 2 || !st.Latched {
		t.Errorf("stats %+v", st)
	}
}

func TestEndpointWrite(t *testing.T) {
	e, ph := newEndpoint(t, g711.PTPCMA, 0)
	frame := ulawFrame(7)
	if err := e.WriteAudio(frame, g711.PTPCMU); err != nil {
		t.Fatal(err)
	}
	first := ph.mustRecv()
	want := make([]byte, len(frame))
	g711.UlawToAlaw(want, frame)
	if first.pt != g711.PTPCMA || !bytes.Equal(first.payload, want) || !first.marker {
		t.Fatalf("first frame pt %d marker %v", first.pt, first.marker)
	}
	ev := []byte{5, 10, 0, 160}
	for i := range 3 {
		if err := e.WriteEvent(ev, i == 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.WriteAudio(frame, g711.PTPCMU); err != nil {
		t.Fatal(err)
	}
	var got []pkt
	for range 4 {
		got = append(got, ph.mustRecv())
	}
	for i, k := range got[:3] {
		if k.pt != 101 || k.ts != first.ts+160 || k.marker != (i == 0) || k.ssrc != first.ssrc {
			t.Errorf("event packet %d: %+v", i, k)
		}
	}
	if last := got[3]; last.ts != first.ts+4*160 || last.seq != first.seq+4 || last.marker {
		t.Errorf("audio after event: ts %d seq %d, want %d %d", last.ts, last.seq, first.ts+4*160, first.seq+4)
	}
	if err := e.WriteAudio(frame, 18); err == nil {
		t.Error("G.729 payload accepted")
	}
	if st := e.Stats(); st.PacketsOut != 5 {
		t.Errorf("packets out %d", st.PacketsOut)
	}
}

func TestEndpointHoldAndNoEvents(t *testing.T) {
	e, ph := newEndpoint(t, g711.PTPCMU, 0)
	e.Update(LegConfig{Remote: ph.addr(), Codec: g711.PTPCMU, Direction: sdpneg.Inactive})
	if err := e.WriteAudio(ulawFrame(1), g711.PTPCMU); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := ph.recv(100 * time.Millisecond); ok {
		t.Error("held peer received audio")
	}
	if err := e.WriteEvent([]byte{1, 0, 0, 0}, true); err == nil {
		t.Error("event sent without negotiated telephone-event")
	}
}

func TestEndpointTimeoutAndClose(t *testing.T) {
	start := time.Now() // the silence is counted from the Endpoint's creation
	e, _ := newEndpoint(t, g711.PTPCMU, 100*time.Millisecond)
	buf := make([]byte, 1500)
	_, err := e.ReadPacket(buf)
	if !errors.Is(err, ErrTimeout) || time.Since(start) < 100*time.Millisecond {
		t.Fatalf("ReadPacket: %v after %v", err, time.Since(start))
	}
	e2, _ := newEndpoint(t, g711.PTPCMU, 0)
	errc := make(chan error, 1)
	go func() { _, err := e2.ReadPacket(buf[:0:0]); errc <- err }()
	time.Sleep(20 * time.Millisecond)
	e2.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("read after close: %v", err)
		}
	case <-time.After(readWait):
		t.Fatal("Close did not unblock ReadPacket")
	}
	if err := e2.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
}

// TestEndpointTap: what the peer sends is channel 0, what we send channel
// 1 (in the leg's codec); telephone-events are not tapped.
func TestEndpointTap(t *testing.T) {
	e, ph := newEndpoint(t, g711.PTPCMA, 0)
	tap := &recTap{got: map[int][][]byte{}, pts: map[int]uint8{}}
	e.SetTap(tap)
	to := addrOf(e.leg.sock.(*net.UDPConn))
	ph.send(to, pkt{pt: 8, seq: 1, ts: 160, ssrc: 4, payload: ulawFrame(3)})
	ph.send(to, pkt{pt: 101, marker: true, seq: 2, ts: 320, ssrc: 4, payload: []byte{1, 10, 0, 160}})
	buf := make([]byte, 1500)
	for range 2 {
		if _, err := e.ReadPacket(buf); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.WriteAudio(ulawFrame(9), g711.PTPCMU); err != nil {
		t.Fatal(err)
	}
	ph.mustRecv()
	want := make([]byte, 160)
	g711.UlawToAlaw(want, ulawFrame(9))
	tap.mu.Lock()
	if len(tap.got[0]) != 1 || !bytes.Equal(tap.got[0][0], ulawFrame(3)) || tap.pts[0] != 8 {
		t.Errorf("channel 0: %d payloads, pt %d", len(tap.got[0]), tap.pts[0])
	}
	if len(tap.got[1]) != 1 || !bytes.Equal(tap.got[1][0], want) || tap.pts[1] != g711.PTPCMA {
		t.Errorf("channel 1: %d payloads, pt %d", len(tap.got[1]), tap.pts[1])
	}
	tap.mu.Unlock()
	e.SetTap(nil)
	if err := e.WriteAudio(ulawFrame(9), g711.PTPCMU); err != nil {
		t.Fatal(err)
	}
	tap.mu.Lock()
	defer tap.mu.Unlock()
	if len(tap.got[1]) != 1 {
		t.Error("tapped after SetTap(nil)")
	}
}
