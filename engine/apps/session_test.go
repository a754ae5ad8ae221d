package apps

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"luapbx/media/dtmf"
	"luapbx/media/g711"
	"luapbx/media/rtprelay"
)

// fakeMedia is a Media fed from a channel; closing it (or in) ends reads.
type fakeMedia struct {
	in     chan rtprelay.Packet
	closed chan struct{}
	once   sync.Once

	mu     sync.Mutex
	audio  int
	pts    []uint8
	events int
}

func newFakeMedia() *fakeMedia {
	return &fakeMedia{in: make(chan rtprelay.Packet, 64), closed: make(chan struct{})}
}

func (f *fakeMedia) ReadPacket(buf []byte) (rtprelay.Packet, error) {
	select {
	case p, ok := <-f.in:
		if !ok {
			return rtprelay.Packet{}, errors.New("read rtp: eof")
		}
		p.Payload = buf[:copy(buf, p.Payload)]
		return p, nil
	case <-f.closed:
		return rtprelay.Packet{}, net.ErrClosed
	}
}

func (f *fakeMedia) WriteAudio(payload []byte, pt uint8) error {
	f.mu.Lock()
	f.audio++
	f.pts = append(f.pts, pt)
	f.mu.Unlock()
	return nil
}

func (f *fakeMedia) WriteEvent(payload []byte, start bool) error {
	f.mu.Lock()
	f.events++
	f.mu.Unlock()
	return nil
}

func (f *fakeMedia) Close() error {
	f.once.Do(func() { close(f.closed) })
	return nil
}

type codecMedia struct {
	*fakeMedia
	pt uint8
}

func (c codecMedia) Codec() uint8 { return c.pt }

func eventPacket(digit rune, ts uint32, marker, end bool) rtprelay.Packet {
	code, _ := dtmf.Code(digit)
	return rtprelay.Packet{PT: eventPT, Event: true, Marker: marker, Timestamp: ts, SSRC: 9,
		Payload: dtmf.Event{Code: code, End: end, Duration: 160}.Marshal(nil)}
}

func runSession(t *testing.T, m Media) (*Session, context.CancelFunc, chan error) {
	t.Helper()
	s := NewSession(nil, m)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-errc
	})
	return s, cancel, errc
}

func TestSessionPackets(t *testing.T) {
	f := newFakeMedia()
	s, _, _ := runSession(t, f)
	frame := make([]byte, 160)
	f.in <- rtprelay.Packet{PT: g711.PTPCMA, Timestamp: 1, SSRC: 9, Payload: frame}
	// One key press: start repeated, three ends; then another press.
	f.in <- eventPacket('7', 320, true, false)
	f.in <- eventPacket('7', 320, false, false)
	f.in <- eventPacket('7', 320, false, true)
	f.in <- eventPacket('7', 320, false, true)
	f.in <- eventPacket('#', 960, true, false)
	f.in <- rtprelay.Packet{PT: g711.PTPCMU, Payload: make([]byte, MaxPayload+1)} // too big
	var digits []rune
	for range 6 {
		select {
		case p := <-s.pkts:
			if p.Digit != 0 {
				digits = append(digits, p.Digit)
			}
			if p.PT == g711.PTPCMA && p.n != len(frame) {
				t.Errorf("audio payload %d bytes", p.n)
			}
		case <-time.After(2 * time.Second):
			t.Fatal("packet not delivered")
		}
	}
	if string(digits) != "7#" {
		t.Errorf("digits %q, want \"7#\"", string(digits))
	}
	if !waitFor(time.Second, func() bool { return s.Stats().Dropped == 1 }) {
		t.Errorf("stats %+v, want 1 dropped", s.Stats())
	}
	if s.Codec() != g711.PTPCMA {
		t.Errorf("codec %d, want the peer's PCMA", s.Codec())
	}
	if st := s.Stats(); st.Digits != 2 {
		t.Errorf("digits counted %d", st.Digits)
	}
}

func TestSessionCodecFromMedia(t *testing.T) {
	f := newFakeMedia()
	s := NewSession(nil, codecMedia{f, g711.PTPCMA})
	if s.Codec() != g711.PTPCMA {
		t.Errorf("codec %d, want the Media's PCMA", s.Codec())
	}
	if s2 := NewSession(nil, f); s2.Codec() != g711.PTPCMU {
		t.Errorf("codec before any audio %d, want PCMU", s2.Codec())
	}
}

func TestSessionEnd(t *testing.T) {
	tests := []struct {
		name    string
		end     func(f *fakeMedia, cancel context.CancelFunc)
		wantRun bool // Run returns an error
	}{
		{"context ends and closes the media", func(_ *fakeMedia, cancel context.CancelFunc) { cancel() }, false},
		{"read fails", func(f *fakeMedia, _ context.CancelFunc) { close(f.in) }, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeMedia()
			s, cancel, errc := runSession(t, f)
			if s.Err() != nil {
				t.Fatalf("Err before the end: %v", s.Err())
			}
			appErr := make(chan error, 1)
			go func() { appErr <- Echo(context.Background(), s) }()
			tc.end(f, cancel)
			select {
			case err := <-errc:
				if (err != nil) != tc.wantRun {
					t.Errorf("Run: %v", err)
				}
				errc <- err // for the cleanup
			case <-time.After(2 * time.Second):
				t.Fatal("Run did not return")
			}
			if err := <-appErr; !errors.Is(err, ErrMediaEnded) {
				t.Errorf("Echo: %v, want ErrMediaEnded", err)
			}
			if s.Err() == nil {
				t.Error("Err is nil after the end")
			}
		})
	}
}

func TestSessionRTPTimeout(t *testing.T) {
	ph := newPhone(t, g711.PTPCMU)
	defer ph.close()
	sock, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	ep, err := rtprelay.NewEndpoint(nil, rtprelay.EndpointConfig{
		Leg:     rtprelay.LegConfig{Socket: sock, Remote: ph.addr(), Codec: g711.PTPCMU, EventPT: eventPT},
		Timeout: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Close()
	s := NewSession(nil, ep)
	runErr := make(chan error, 1)
	go func() { runErr <- s.Run(context.Background()) }()
	err = Echo(context.Background(), s)
	if !errors.Is(err, ErrMediaEnded) || !errors.Is(err, rtprelay.ErrTimeout) {
		t.Errorf("Echo: %v, want ErrMediaEnded wrapping rtprelay.ErrTimeout", err)
	}
	if err := <-runErr; !errors.Is(err, rtprelay.ErrTimeout) {
		t.Errorf("Run: %v, want rtprelay.ErrTimeout", err)
	}
}

func TestVoicemailNeedsDir(t *testing.T) {
	s := NewSession(nil, newFakeMedia())
	if _, err := Voicemail(context.Background(), s, VoicemailConfig{CallID: "x"}); err == nil {
		t.Error("voicemail without a directory accepted")
	}
}
