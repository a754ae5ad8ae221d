package apps

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"luapbx/media/correlate"
	"luapbx/media/dtmf"
	"luapbx/media/g711"
	"luapbx/media/player"
	"luapbx/media/rtprelay"
)

const eventPT = 101

// rig is a Session on a real rtprelay.Endpoint on 127.0.0.1 and a fake
// phone on the other end.
type rig struct {
	s      *Session
	ep     *rtprelay.Endpoint
	ph     *phone
	cancel context.CancelFunc
	runErr chan error
	dir    string // a voicemail directory, when a test sets one
}

func newRig(t *testing.T, codec uint8) *rig {
	t.Helper()
	ph := newPhone(t, codec)
	sock, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	ep, err := rtprelay.NewEndpoint(nil, rtprelay.EndpointConfig{
		Leg: rtprelay.LegConfig{Socket: sock, Remote: ph.addr(), Codec: codec, EventPT: eventPT},
	})
	if err != nil {
		t.Fatal(err)
	}
	ph.to = sock.LocalAddr().(*net.UDPAddr).AddrPort()
	ctx, cancel := context.WithCancel(context.Background())
	r := &rig{s: NewSession(nil, ep), ep: ep, ph: ph, cancel: cancel, runErr: make(chan error, 1)}
	go func() { r.runErr <- r.s.Run(ctx) }()
	t.Cleanup(func() {
		r.cancel()
		select {
		case err := <-r.runErr:
			if err != nil && !errors.Is(err, net.ErrClosed) {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after cancel")
		}
		ph.close()
	})
	return r
}

// phone is a fake SIP phone's RTP side: a UDP socket that sends paced
// G.711 frames and RFC 4733 events and records what it receives.
type phone struct {
	t    testing.TB
	conn *net.UDPConn
	to   netip.AddrPort
	pt   uint8
	ssrc uint32
	seq  uint16
	ts   uint32
	stop chan struct{}

	senders sync.WaitGroup
	reader  sync.WaitGroup
	mu      sync.Mutex
	got     []rtpPkt
}

type rtpPkt struct {
	pt      uint8
	marker  bool
	seq     uint16
	ts      uint32
	ssrc    uint32
	payload []byte
	at      time.Time
}

func newPhone(t testing.TB, pt uint8) *phone {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	p := &phone{t: t, conn: c, pt: pt, ssrc: 0x1234, seq: 100, ts: 8000, stop: make(chan struct{})}
	p.reader.Add(1)
	go p.read()
	return p
}

func (p *phone) addr() netip.AddrPort { return p.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// close stops the senders, then the reader.
func (p *phone) close() {
	close(p.stop)
	p.senders.Wait()
	p.conn.Close()
	p.reader.Wait()
}

func (p *phone) read() {
	defer p.reader.Done()
	buf := make([]byte, 1500)
	for {
		n, _, err := p.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				p.t.Errorf("phone read: %v", err)
			}
			return
		}
		if n < 12 {
			continue
		}
		k := rtpPkt{pt: buf[1] & 0x7f, marker: buf[1]&0x80 != 0, seq: binary.BigEndian.Uint16(buf[2:]),
			ts: binary.BigEndian.Uint32(buf[4:]), ssrc: binary.BigEndian.Uint32(buf[8:]), payload: append([]byte(nil), buf[12:n]...), at: time.Now()}
		p.mu.Lock()
		p.got = append(p.got, k)
		p.mu.Unlock()
	}
}

// received returns a copy of what the phone got so far.
func (p *phone) received() []rtpPkt {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]rtpPkt(nil), p.got...)
}

// audio decodes the received G.711 packets in arrival order.
func (p *phone) audio() []int16 {
	var pcm []int16
	for _, k := range p.received() {
		pcm = append(pcm, decode(k.pt, k.payload)...)
	}
	return pcm
}

func decode(pt uint8, b []byte) []int16 {
	out := make([]int16, len(b))
	switch pt {
	case g711.PTPCMU:
		g711.DecodeUlawTo(out, b)
	case g711.PTPCMA:
		g711.DecodeAlawTo(out, b)
	default:
		return nil
	}
	return out
}

func (p *phone) send(pt uint8, marker bool, ts uint32, payload []byte) {
	b := make([]byte, 12+len(payload))
	b[0], b[1] = 0x80, pt
	if marker {
		b[1] |= 0x80
	}
	binary.BigEndian.PutUint16(b[2:], p.seq)
	binary.BigEndian.PutUint32(b[4:], ts)
	binary.BigEndian.PutUint32(b[8:], p.ssrc)
	copy(b[12:], payload)
	p.seq++
	if _, err := p.conn.WriteToUDPAddrPort(b, p.to); err != nil {
		p.t.Errorf("phone send: %v", err)
	}
}

// stopped waits d, returning true early when the phone is being closed.
func (p *phone) stopped(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.stop:
		return true
	case <-t.C:
		return false
	}
}

// sendPCM sends pcm as 20 ms frames on a drift-free schedule and returns
// what a receiver decodes from them.
func (p *phone) sendPCM(pcm []int16) []int16 {
	frames, err := player.Frames(pcm, p.pt)
	if err != nil {
		p.t.Errorf("frames: %v", err)
		return nil
	}
	var sent []int16
	start := time.Now()
	for i, f := range frames {
		if p.stopped(time.Until(start.Add(time.Duration(i) * FrameInterval))) {
			break
		}
		p.send(p.pt, i == 0, p.ts, f)
		p.ts += uint32(len(f))
		sent = append(sent, decode(p.pt, f)...)
	}
	return sent
}

// sendDigit sends one 100 ms RFC 4733 event.
func (p *phone) sendDigit(d rune) {
	pkts, err := dtmf.Generator{}.Packets(d, 0)
	if err != nil {
		p.t.Errorf("digit: %v", err)
		return
	}
	start := time.Now()
	for _, k := range pkts {
		if p.stopped(time.Until(start.Add(k.At))) {
			return
		}
		p.send(eventPT, k.Marker, p.ts, k.Payload[:])
	}
	p.ts += uint32(dtmf.Generator{}.Samples(dtmf.DefaultDuration))
}

// script runs steps one after another on a sender goroutine that the
// phone's close waits for.
func (p *phone) script(steps ...func()) {
	p.senders.Add(1)
	go func() {
		defer p.senders.Done()
		for _, s := range steps {
			select {
			case <-p.stop:
				return
			default:
			}
			s()
		}
	}()
}

// scripted steps
func (p *phone) after(d time.Duration) func() { return func() { p.stopped(d) } }
func (p *phone) digit(d rune) func()          { return func() { p.sendDigit(d) } }
func (p *phone) digits(ds string) func() {
	return func() {
		for _, d := range ds {
			p.sendDigit(d)
		}
	}
}

// testPrompt is deterministic speech-band noise lasting d.
func testPrompt(d time.Duration, seed uint64) *player.Prompt {
	n := int(d * player.SampleRate / time.Second)
	return player.NewPrompt("test", correlate.TestSignal(n, seed))
}

// assertCorrelates checks that got holds sent (best lag within maxLag).
func assertCorrelates(t *testing.T, sent, got []int16, maxLag int) {
	t.Helper()
	if len(sent) == 0 || len(got) == 0 {
		t.Fatalf("nothing to correlate: sent %d samples, got %d", len(sent), len(got))
	}
	c, lag := correlate.Best(sent, got, maxLag)
	if c < 0.9 {
		t.Errorf("correlation %.3f at lag %d, want >= 0.9 (sent %d samples, got %d)", c, lag, len(sent), len(got))
	}
}

// waitFor polls cond every 10 ms for up to d.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return cond()
}
