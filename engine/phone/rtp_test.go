package phone

import (
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"luapbx/media/correlate"
	"luapbx/media/g711"
	"luapbx/media/wav"
)

func mustFactory(t *testing.T, o MediaOptions) MediaFactory {
	t.Helper()
	f, err := RTPMedia(o)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func readWAV(t *testing.T, path string) []int16 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pcm, format, err := wav.ReadPCM(f)
	if err != nil {
		t.Fatal(err)
	}
	if format != wav.Mono8k {
		t.Fatalf("format %+v", format)
	}
	return pcm
}

// TestPlayRecord plays a known signal each way between two phones and
// checks what each side recorded correlates with what the other sent.
func TestPlayRecord(t *testing.T) {
	tests := []struct {
		name         string
		callerCodecs []uint8
		calleeCodecs []uint8
		wantCodec    string
	}{
		{"pcmu", nil, nil, "PCMU"},
		{"pcma", []uint8{ptPCMA}, nil, "PCMA"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			sigA := correlate.TestSignal(8000, 1) // 1 s
			sigB := correlate.TestSignal(8000, 2)
			recA, recB := filepath.Join(dir, "a.wav"), filepath.Join(dir, "b.wav")
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			a := newPhone(t, Config{User: "201", Codecs: tc.callerCodecs,
				Media: mustFactory(t, MediaOptions{Play: sigA, Record: recA})})
			b := newPhone(t, Config{User: "202", Codecs: tc.calleeCodecs,
				Media: mustFactory(t, MediaOptions{Play: sigB, Record: recB})})
			wait := answerAsync(ctx, t, b, AnswerOptions{NoRinging: true})
			s, err := a.Call(ctx, b.URI(), CallOptions{HangupAfter: 1500 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			bs := wait()
			if s.Codec != tc.wantCodec || len(bs) != 1 {
				t.Fatalf("codec %q, callee summaries %d", s.Codec, len(bs))
			}
			for _, st := range []MediaStats{s.Media, bs[0].Media} {
				if st.PacketsOut != 50 || st.PacketsIn != 50 || st.Lost != 0 || st.JitterMs < 0 || st.JitterMs > 50 {
					t.Errorf("stats %+v", st)
				}
			}
			if c, _ := correlate.Best(sigA, readWAV(t, recB), 800); c < 0.9 {
				t.Errorf("b received a: correlation %.3f", c)
			}
			if c, _ := correlate.Best(sigB, readWAV(t, recA), 800); c < 0.9 {
				t.Errorf("a received b: correlation %.3f", c)
			}
		})
	}
}

func TestRTPMediaBadInput(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "x.wav")
	if err := os.WriteFile(bad, []byte("not a wav"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, o := range map[string]MediaOptions{
		"missing file": {PlayFile: filepath.Join(t.TempDir(), "none.wav")},
		"not a wav":    {PlayFile: bad},
		"bad digit":    {DTMF: "12x"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := RTPMedia(o); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

func TestParseRTP(t *testing.T) {
	pkt := []byte{0x80, 0x08, 0, 5, 0, 0, 1, 0, 0, 0, 0, 9, 1, 2, 3}
	h, p, ok := parseRTP(pkt)
	if !ok || h.pt != 8 || h.seq != 5 || h.ts != 256 || h.ssrc != 9 || len(p) != 3 {
		t.Fatalf("%+v %v %v", h, p, ok)
	}
	for _, b := range [][]byte{nil, pkt[:11], {0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, {0x80, 200, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}} {
		if _, _, ok := parseRTP(b); ok {
			t.Errorf("accepted %x", b)
		}
	}
}

func TestRxStatsLoss(t *testing.T) {
	var s rxStats
	now := time.Now()
	for _, seq := range []uint16{65534, 65535, 1, 2} { // 0 lost across the wrap
		s.packet(rtpHeader{pt: 0, seq: seq, ssrc: 1}, now)
	}
	if s.lost() != 1 || s.packets != 4 {
		t.Fatalf("lost %d packets %d", s.lost(), s.packets)
	}
}

func FuzzParseRTP(f *testing.F) {
	f.Add([]byte{0x80, 0x00, 0, 1, 0, 0, 0, 160, 0, 0, 0, 1, 0xff, 0xff})
	f.Add([]byte{0x90, 0x08, 0, 1, 0, 0, 0, 160, 0, 0, 0, 1, 0xbe, 0xde, 0, 1, 1, 2, 3, 4, 0xd5})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, p, ok := parseRTP(b)
		if !ok {
			return
		}
		if len(p) > len(b)-12 || h.pt > 127 {
			t.Fatalf("payload %d of %d, pt %d", len(p), len(b), h.pt)
		}
		var m rtpMedia
		m.place(h.ts, make([]int16, len(p)))
		m.in.packet(h, time.Now())
	})
}

func BenchmarkReceivePath(b *testing.B) {
	pkt := make([]byte, 12+160)
	pkt[0] = 0x80
	var m rtpMedia
	pcm := make([]int16, 160)
	now := time.Now()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		pkt[2], pkt[3] = byte(i>>8), byte(i)
		ts := uint32(i * 160)
		pkt[4], pkt[5], pkt[6], pkt[7] = byte(ts>>24), byte(ts>>16), byte(ts>>8), byte(ts)
		h, p, _ := parseRTP(pkt)
		m.in.packet(h, now)
		g711.DecodeUlawTo(pcm, p)
		m.place(h.ts, pcm)
		if len(m.recv) > 8000*60 {
			m.recv, m.in = m.recv[:0], rxStats{}
		}
	}
}

func TestMainMediaFlags(t *testing.T) {
	dir := t.TempDir()
	for name, args := range map[string][]string{
		"bad codec":    {"call", "sip:1@127.0.0.1:9", "--codec", "G729"},
		"missing play": {"call", "sip:1@127.0.0.1:9", "--play", filepath.Join(dir, "none.wav")},
		"bad dtmf":     {"call", "sip:1@127.0.0.1:9", "--dtmf", "1x"},
	} {
		t.Run(name, func(t *testing.T) {
			if code, sums, _ := runMain(context.Background(), args...); code != 2 || len(sums) != 0 {
				t.Fatalf("code %d sums %+v", code, sums)
			}
		})
	}
	t.Run("play record dtmf", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		sig := correlate.TestSignal(4000, 7)
		play, rec, heard := filepath.Join(dir, "play.wav"), filepath.Join(dir, "rec.wav"), filepath.Join(dir, "heard.wav")
		w, err := wav.Create(play, wav.Mono8k)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WriteSamples(sig); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		b := newPhone(t, Config{User: "202", Codecs: []uint8{ptPCMA},
			Media: mustFactory(t, MediaOptions{Play: sig, Record: heard})})
		wait := answerAsync(ctx, t, b, AnswerOptions{NoRinging: true})
		code, sums, stderr := runMain(ctx, "call", b.URI(), "--user", "201", "--play", play, "--record", rec,
			"--dtmf", "42", "--hangup-after", "2")
		bs := wait()
		if code != 0 || len(sums) != 1 || len(bs) != 1 {
			t.Fatalf("code %d sums %+v stderr %s", code, sums, stderr)
		}
		s := sums[0]
		if s.Codec != "PCMA" || bs[0].Media.DTMF != "42" || s.Media.PacketsIn != 25 || s.Media.PacketsOut < 25+2*5 || bs[0].Media.PacketsIn != s.Media.PacketsOut {
			t.Errorf("caller %+v callee %+v", s, bs[0].Media)
		}
		got := readWAV(t, rec)
		if c, _ := correlate.Best(sig, got, 1600); c < 0.9 {
			t.Errorf("caller recording correlation %.3f", c)
		}
		got = readWAV(t, heard)
		if c, _ := correlate.Best(sig, got, 1600); c < 0.9 {
			t.Errorf("callee heard correlation %.3f", c)
		}
	})
}

// TestSendKeepsRealTime: the phone's stream keeps real time when its
// sender is descheduled now and then (a loaded machine): packet n leaves
// at start + n*20 ms, late ones are caught up, so the last of 100 packets
// leaves ~1.98 s after the first. (A time.Ticker drops the ticks of a
// 50 ms stall: 10 stalls made the stream 200 ms late.)
func TestSendKeepsRealTime(t *testing.T) {
	tests := []struct {
		name  string
		every int           // stall after every this many packets (0: never)
		stall time.Duration // for this long
	}{
		{"no stall", 0, 0},
		{"50 ms stalls", 10, 50 * time.Millisecond},
		{"30 ms stalls", 5, 30 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			const packets = 100
			rx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				t.Fatal(err)
			}
			defer rx.Close()
			f := mustFactory(t, MediaOptions{Play: correlate.TestSignal(packets*frameSamples, 3)})
			med, err := f(netip.MustParseAddr("127.0.0.1"))
			if err != nil {
				t.Fatal(err)
			}
			m := med.(*rtpMedia)
			n := 0
			if tc.every > 0 {
				m.stall = func() {
					if n++; n%tc.every == 0 && n < packets { // not before the last
						time.Sleep(tc.stall)
					}
				}
			}
			if err := m.Start(context.Background(), Session{Remote: rx.LocalAddr().(*net.UDPAddr).AddrPort(),
				PayloadType: ptPCMU, EventsPT: -1}); err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			var first, last time.Time
			buf := make([]byte, 1500)
			got := 0
			_ = rx.SetReadDeadline(time.Now().Add(5 * time.Second))
			for got < packets {
				if _, err := rx.Read(buf); err != nil {
					t.Fatalf("after %d packets: %v", got, err)
				}
				if got == 0 {
					first = time.Now()
				}
				last = time.Now()
				got++
			}
			took := last.Sub(first)
			want := (packets - 1) * frameInterval
			if took < want-20*time.Millisecond || took > want+60*time.Millisecond {
				t.Errorf("%d packets over %v, want %v (%.2f %% off real time)", packets, took, want,
					100*(took-want).Seconds()/want.Seconds())
			}
		})
	}
}
