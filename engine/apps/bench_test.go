package apps

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"luapbx/media/g711"
	"luapbx/media/rtprelay"
)

func BenchmarkPacerAdvance(b *testing.B) {
	b.ReportAllocs()
	t0 := time.Now()
	p := newPacer(FrameInterval, func() time.Time { return t0 })
	defer p.Stop()
	now := t0
	for b.Loop() {
		now = now.Add(FrameInterval)
		p.advance(now)
	}
}

// discardMedia accepts writes and never delivers a packet.
type discardMedia struct{ closed chan struct{} }

func (d discardMedia) ReadPacket([]byte) (rtprelay.Packet, error) {
	<-d.closed
	return rtprelay.Packet{}, net.ErrClosed
}
func (discardMedia) WriteAudio([]byte, uint8) error { return nil }
func (discardMedia) WriteEvent([]byte, bool) error  { return nil }

// BenchmarkSendFrame is the paced sender's cost per frame without the
// wait: the select, the timer re-armed for the next frame, and WriteAudio
// (to nothing, or through a real Endpoint to a loopback socket).
func BenchmarkSendFrame(b *testing.B) {
	frame := make([]byte, 160)
	for i := range frame {
		frame[i] = g711.EncodeUlaw(int16(i * 50))
	}
	b.Run("discard", func(b *testing.B) {
		m := discardMedia{closed: make(chan struct{})}
		defer close(m.closed)
		benchSend(b, NewSession(nil, m), frame)
	})
	b.Run("endpoint", func(b *testing.B) {
		sink, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			b.Fatal(err)
		}
		drained := make(chan struct{})
		go func() { // keep the socket buffer from filling
			defer close(drained)
			buf := make([]byte, 1500)
			for {
				if _, _, err := sink.ReadFromUDPAddrPort(buf); err != nil {
					return
				}
			}
		}()
		defer func() { sink.Close(); <-drained }()
		sock, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			b.Fatal(err)
		}
		ep, err := rtprelay.NewEndpoint(nil, rtprelay.EndpointConfig{
			Leg: rtprelay.LegConfig{Socket: sock, Remote: sink.LocalAddr().(*net.UDPAddr).AddrPort(), Codec: g711.PTPCMU, EventPT: eventPT},
		})
		if err != nil {
			b.Fatal(err)
		}
		defer ep.Close()
		benchSend(b, NewSession(nil, ep), frame)
	})
}

func benchSend(b *testing.B, s *Session, frame []byte) {
	s.interval = time.Nanosecond
	frames := make([][]byte, b.N)
	for i := range frames {
		frames[i] = frame
	}
	b.ReportAllocs()
	b.ResetTimer()
	if _, err := s.send(context.Background(), frames, g711.PTPCMU, false, nil); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkPump is the Session reader's cost per received packet after
// ReadPacket: copy, DTMF check, hand-over to the application (the
// application's receive included).
func BenchmarkPump(b *testing.B) {
	tests := []struct {
		name string
		pkt  rtprelay.Packet
	}{
		{"audio", rtprelay.Packet{PT: g711.PTPCMU, SSRC: 1, Payload: make([]byte, 160)}},
		{"event", eventPacket('5', 160, true, false)},
	}
	for _, tc := range tests {
		b.Run(tc.name, func(b *testing.B) {
			s := NewSession(nil, newFakeMedia())
			var pm pump
			pkt := tc.pkt
			b.ReportAllocs()
			for b.Loop() {
				s.deliver(&pm, &pkt)
				<-s.pkts
				pkt.Timestamp += 160
			}
		})
	}
}

// BenchmarkVoicemailWrite is recording one 20 ms frame to the WAV.
func BenchmarkVoicemailWrite(b *testing.B) {
	vw, err := newVMWriter(filepath.Join(b.TempDir(), "m.wav"), 1<<40)
	if err != nil {
		b.Fatal(err)
	}
	p := frameOf(g711.PTPCMU, 1000, 0, 1)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := vw.write(&p); err != nil {
			b.Fatal(err)
		}
		p.Timestamp += 160
	}
	b.StopTimer()
	if err := vw.close(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkSilence is the cost of one silence frame while an application
// waits (IVR, voicemail): the clock's tick, the frame picked for the codec,
// WriteAudio (to nothing) and the timer re-armed.
func BenchmarkSilence(b *testing.B) {
	m := discardMedia{closed: make(chan struct{})}
	defer close(m.closed)
	s := NewSession(nil, m)
	s.interval = time.Nanosecond
	pc := s.clock()
	b.ReportAllocs()
	for b.Loop() {
		<-pc.C()
		if err := s.silence(pc); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	pc.Stop()
	if s.Stats().Silence == 0 {
		b.Fatal("no silence sent")
	}
}
