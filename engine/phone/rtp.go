package phone

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"time"

	"luapbx/engine/apps"
	"luapbx/media/dtmf"
	"luapbx/media/g711"
	"luapbx/media/wav"
)

// frameSamples is one 20 ms G.711 frame at 8 kHz.
const (
	frameSamples  = 160
	frameInterval = 20 * time.Millisecond
	// maxCatchUp is how many packets late the sender catches up back to
	// back. The test phone measures the PBX: its stream must keep real
	// time through the stalls of a loaded machine.
	maxCatchUp = 10
)

// MediaOptions says what an RTPMedia call sends and keeps.
type MediaOptions struct {
	// Play is 8 kHz mono audio sent once after the answer, as paced 20 ms
	// RTP frames in the negotiated codec. PlayFile is loaded into it.
	Play     []int16
	PlayFile string
	// Record is a WAV file (8 kHz mono 16-bit) written at the end of the
	// call with what was received, placed by RTP timestamp (silence where
	// packets were lost).
	Record string
	// DTMF digits are sent as RFC 4733 events after the answer, before Play.
	DTMF string
	// DTMFDelay waits before the first digit (default 200 ms).
	DTMFDelay time.Duration
	// SDPPort, when set, is the RTP port written in our SDP instead of the
	// socket's: the phone then looks like one behind a NAT, and only a
	// peer that latches onto where packets come from can reach it.
	SDPPort int
}

// RTPMedia returns a MediaFactory sending and recording real audio as opts
// say. A PlayFile that is not 8 kHz mono 16-bit PCM WAV is an error here.
func RTPMedia(opts MediaOptions) (MediaFactory, error) {
	if opts.PlayFile != "" {
		pcm, err := wav.LoadPrompt(opts.PlayFile)
		if err != nil {
			return nil, fmt.Errorf("phone: play %s: %w", opts.PlayFile, err)
		}
		opts.Play = pcm
	}
	if err := dtmf.Valid(opts.DTMF); err != nil {
		return nil, fmt.Errorf("phone: dtmf: %w", err)
	}
	if opts.DTMFDelay == 0 {
		opts.DTMFDelay = 200 * time.Millisecond
	}
	return func(ip netip.Addr) (Media, error) {
		conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
		if err != nil {
			return nil, err
		}
		return &rtpMedia{conn: conn, opts: opts, evPT: -1}, nil
	}, nil
}

type rtpMedia struct {
	conn      *net.UDPConn
	opts      MediaOptions
	startOnce sync.Once
	closeOnce sync.Once
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	// stall, when set (tests), runs on the sender after each wait, as a
	// descheduled goroutine would lose time.
	stall func()

	mu     sync.Mutex // guards below
	out    uint64
	in     rxStats
	recv   []int16
	evPT   int // telephone-event PT, -1 none
	det    dtmf.Detector
	digits []rune
}

func (m *rtpMedia) Port() int {
	if m.opts.SDPPort > 0 {
		return m.opts.SDPPort
	}
	return m.conn.LocalAddr().(*net.UDPAddr).Port
}

func (m *rtpMedia) Start(ctx context.Context, s Session) error {
	m.startOnce.Do(func() {
		ctx, m.cancel = context.WithCancel(ctx)
		m.mu.Lock()
		m.evPT = s.EventsPT
		m.mu.Unlock()
		m.wg.Go(m.receive)
		m.wg.Go(func() { m.send(ctx, s) })
	})
	return nil
}

func (m *rtpMedia) Stats() MediaStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return MediaStats{PacketsIn: m.in.packets, PacketsOut: m.out, Lost: m.in.lost(), JitterMs: m.in.jitter / 8,
		DTMF: string(m.digits)}
}

func (m *rtpMedia) Close() error {
	var err error
	m.closeOnce.Do(func() {
		if m.cancel != nil {
			m.cancel()
		}
		err = m.conn.Close()
		m.wg.Wait()
		if m.opts.Record != "" {
			if werr := m.writeRecording(); werr != nil && err == nil {
				err = werr
			}
		}
	})
	return err
}

func (m *rtpMedia) writeRecording() error {
	w, err := wav.Create(m.opts.Record, wav.Mono8k)
	if err != nil {
		return fmt.Errorf("phone: record: %w", err)
	}
	m.mu.Lock()
	pcm := m.recv
	m.mu.Unlock()
	if err := w.WriteSamples(pcm); err != nil {
		_ = w.Close()
		return fmt.Errorf("phone: record: %w", err)
	}
	return w.Close()
}

// sender keeps one outgoing RTP stream's header state.
type sender struct {
	conn   *net.UDPConn
	remote netip.AddrPort
	seq    uint16
	ts     uint32
	ssrc   uint32
	buf    [12 + 1500]byte
}

func (s *sender) write(pt uint8, marker bool, ts uint32, payload []byte) error {
	b := s.buf[:12]
	b[0] = 0x80
	b[1] = pt
	if marker {
		b[1] |= 0x80
	}
	binary.BigEndian.PutUint16(b[2:], s.seq)
	binary.BigEndian.PutUint32(b[4:], ts)
	binary.BigEndian.PutUint32(b[8:], s.ssrc)
	b = append(b, payload...)
	s.seq++
	_, err := s.conn.WriteToUDPAddrPort(b, s.remote)
	return err
}

// send paces DTMF then Play as 20 ms packets on an absolute schedule:
// packet n is due at start + n*20 ms (apps.Pacer), so the stream keeps
// real time however late each wake-up is (a time.Ticker drops ticks when
// the sender wakes more than a period late: the stream fell ~0.7 %
// behind on a loaded machine). Packets that fell behind go out back to
// back, up to maxCatchUp (200 ms, which a jitter buffer absorbs); a
// longer stall moves the schedule instead of bursting.
func (m *rtpMedia) send(ctx context.Context, sess Session) {
	if !sess.Remote.IsValid() || sess.Remote.Port() == 0 || (len(m.opts.Play) == 0 && m.opts.DTMF == "") {
		return
	}
	s := &sender{conn: m.conn, remote: sess.Remote, seq: uint16(rand.Uint32()), ts: rand.Uint32(), ssrc: rand.Uint32()}
	if m.opts.DTMF != "" && sess.EventsPT >= 0 {
		t := time.NewTimer(m.opts.DTMFDelay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
	pc := apps.NewPacer(frameInterval) // the first packet is due now
	pc.SetMaxLate(maxCatchUp)
	defer pc.Stop()
	started := false
	wait := func() bool {
		if started {
			pc.Next()
		}
		started = true
		select {
		case <-ctx.Done():
			return false
		case <-pc.C():
		}
		if m.stall != nil {
			m.stall()
		}
		return true
	}
	if m.opts.DTMF != "" && sess.EventsPT >= 0 {
		if !m.sendDigits(s, uint8(sess.EventsPT), wait) {
			return
		}
	}
	payload := make([]byte, frameSamples)
	first := true
	for off := 0; off < len(m.opts.Play); off += frameSamples {
		frame := m.opts.Play[off:min(off+frameSamples, len(m.opts.Play))]
		if sess.PayloadType == ptPCMA {
			g711.EncodeAlawFrom(payload, frame)
		} else {
			g711.EncodeUlawFrom(payload, frame)
		}
		if !wait() {
			return
		}
		if s.write(sess.PayloadType, first, s.ts, payload[:len(frame)]) != nil {
			return
		}
		first = false
		s.ts += frameSamples
		m.count()
	}
}

func (m *rtpMedia) sendDigits(s *sender, pt uint8, wait func() bool) bool {
	var gen dtmf.Generator
	for _, d := range m.opts.DTMF {
		pkts, err := gen.Packets(d, 0)
		if err != nil {
			return false
		}
		for i, p := range pkts {
			// The three end packets go back to back; the rest are paced.
			if (i == 0 || !p.Event.End || !pkts[i-1].Event.End) && !wait() {
				return false
			}
			if s.write(pt, p.Marker, s.ts, p.Payload[:]) != nil {
				return false
			}
			m.count()
		}
		s.ts += uint32(gen.Samples(dtmf.DefaultDuration))
		// A pause between digits.
		for range 3 {
			if !wait() {
				return false
			}
		}
	}
	return true
}

func (m *rtpMedia) count() {
	m.mu.Lock()
	m.out++
	m.mu.Unlock()
}

// receive reads RTP until the socket closes.
func (m *rtpMedia) receive() {
	buf := make([]byte, 2048)
	pcm := make([]int16, 2048)
	for {
		n, _, err := m.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		h, payload, ok := parseRTP(buf[:n])
		if !ok {
			continue
		}
		arrival := time.Now()
		m.mu.Lock()
		m.in.packet(h, arrival)
		if h.pt == ptPCMU || h.pt == ptPCMA {
			samples := pcm[:len(payload)]
			if h.pt == ptPCMA {
				g711.DecodeAlawTo(samples, payload)
			} else {
				g711.DecodeUlawTo(samples, payload)
			}
			m.place(h.ts, samples)
		} else if m.evPT >= 0 && int(h.pt) == m.evPT {
			if d, ok, err := m.det.Packet(h.ts, payload); err == nil && ok {
				m.digits = append(m.digits, d)
			}
		}
		m.mu.Unlock()
	}
}

// maxGap bounds how far ahead (in samples) a timestamp may place audio;
// beyond it the audio is appended (a new stream, not a loss).
const maxGap = 8000 * 10

// place puts samples at their timestamp position in recv (under mu).
func (m *rtpMedia) place(ts uint32, samples []int16) {
	if !m.in.tsSet {
		m.in.tsSet, m.in.ts0, m.in.tsBase = true, ts, len(m.recv)
	}
	pos := m.in.tsBase + int(int32(ts-m.in.ts0))
	if pos < 0 || pos > len(m.recv)+maxGap {
		// Timestamp jump (new SSRC): restart the mapping at the end.
		m.in.ts0, m.in.tsBase, pos = ts, len(m.recv), len(m.recv)
	}
	if end := pos + len(samples); end > len(m.recv) {
		m.recv = append(m.recv, make([]int16, end-len(m.recv))...)
	}
	copy(m.recv[pos:], samples)
}

type rtpHeader struct {
	pt   uint8
	seq  uint16
	ts   uint32
	ssrc uint32
}

// parseRTP reads an RTP version 2 header (CSRCs and extension skipped).
func parseRTP(b []byte) (rtpHeader, []byte, bool) {
	if len(b) < 12 || b[0]>>6 != 2 {
		return rtpHeader{}, nil, false
	}
	h := rtpHeader{pt: b[1] & 0x7f, seq: binary.BigEndian.Uint16(b[2:]),
		ts: binary.BigEndian.Uint32(b[4:]), ssrc: binary.BigEndian.Uint32(b[8:])}
	if h.pt >= 72 && h.pt <= 76 { // RTCP
		return rtpHeader{}, nil, false
	}
	off := 12 + 4*int(b[0]&0x0f)
	if b[0]&0x10 != 0 {
		if len(b) < off+4 {
			return rtpHeader{}, nil, false
		}
		off += 4 + 4*int(binary.BigEndian.Uint16(b[off+2:]))
	}
	end := len(b)
	if b[0]&0x20 != 0 && end > off {
		end -= int(b[end-1])
	}
	if off > end {
		return rtpHeader{}, nil, false
	}
	return h, b[off:end], true
}
