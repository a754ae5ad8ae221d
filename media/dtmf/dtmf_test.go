package dtmf

import (
	"errors"
	"testing"
	"time"
)

func TestEventRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		ev   Event
		wire [4]byte
	}{
		{"start 5", Event{Code: 5, Volume: 10, Duration: 160}, [4]byte{5, 0x0A, 0x00, 0xA0}},
		{"end #", Event{Code: 11, End: true, Volume: 63, Duration: 800}, [4]byte{11, 0xBF, 0x03, 0x20}},
		{"max duration", Event{Code: 15, Duration: 0xFFFF}, [4]byte{15, 0, 0xFF, 0xFF}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.ev.Marshal(nil)
			if [4]byte(b) != tt.wire {
				t.Fatalf("Marshal = % x, want % x", b, tt.wire)
			}
			got, err := Parse(b)
			if err != nil || got != tt.ev {
				t.Fatalf("Parse = %+v, %v", got, err)
			}
		})
	}
}

func TestParseIgnoresReservedBit(t *testing.T) {
	ev, err := Parse([]byte{3, 0x40 | 0x80 | 7, 0, 1})
	if err != nil || ev != (Event{Code: 3, End: true, Volume: 7, Duration: 1}) {
		t.Fatalf("got %+v, %v", ev, err)
	}
}

func TestParseErrors(t *testing.T) {
	for _, b := range [][]byte{nil, {1, 2, 3}, {1, 2, 3, 4, 5}} {
		if _, err := Parse(b); !errors.Is(err, ErrPayload) {
			t.Fatalf("Parse(% x) err = %v", b, err)
		}
	}
}

func TestDigitCodes(t *testing.T) {
	for i, r := range "0123456789*#ABCD" {
		c, ok := Code(r)
		if !ok || int(c) != i {
			t.Fatalf("Code(%q) = %d, %v", r, c, ok)
		}
		d, ok := Digit(c)
		if !ok || d != r {
			t.Fatalf("Digit(%d) = %q", c, d)
		}
	}
	if c, ok := Code('b'); !ok || c != 13 {
		t.Fatalf("lower case b: %d %v", c, ok)
	}
	for _, r := range "xE+ 9"[:4] {
		if _, ok := Code(r); ok {
			t.Fatalf("Code(%q) accepted", r)
		}
	}
	if _, ok := Digit(16); ok {
		t.Fatal("Digit(16) accepted")
	}
	if Valid("0123456789*#abcdABCD") != nil || Valid("12x") == nil {
		t.Fatal("Valid")
	}
}

func TestGeneratorSequence(t *testing.T) {
	pk, err := Generator{}.Packets('7', 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	// 800 samples: updates at 160..640, then 3 ends at 800.
	wantDur := []uint16{160, 320, 480, 640, 800, 800, 800}
	if len(pk) != len(wantDur) {
		t.Fatalf("%d packets, want %d", len(pk), len(wantDur))
	}
	for i, p := range pk {
		if p.Marker != (i == 0) {
			t.Fatalf("packet %d marker %v", i, p.Marker)
		}
		if p.At != time.Duration(i)*20*time.Millisecond {
			t.Fatalf("packet %d at %v", i, p.At)
		}
		ev, err := Parse(p.Payload[:])
		if err != nil || ev != p.Event {
			t.Fatalf("packet %d payload % x vs %+v", i, p.Payload, p.Event)
		}
		if ev.Code != 7 || ev.Duration != wantDur[i] || ev.End != (i >= 4) || ev.Volume != DefaultVolume {
			t.Fatalf("packet %d: %+v", i, ev)
		}
	}
	if n := (Generator{}).Samples(100 * time.Millisecond); n != 800 {
		t.Fatalf("Samples = %d", n)
	}
}

func TestGeneratorErrors(t *testing.T) {
	if _, err := (Generator{}).Packets('x', 0); err == nil {
		t.Fatal("bad digit accepted")
	}
	if _, err := (Generator{}).Packets('1', 10*time.Second); err == nil {
		t.Fatal("event longer than 16-bit duration accepted")
	}
	pk, err := Generator{Volume: 99}.Packets('#', 10*time.Millisecond)
	if err != nil || len(pk) != 3 || !pk[0].Marker || !pk[0].Event.End || pk[0].Event.Volume != 99&MaxVolume {
		t.Fatalf("short event: %+v %v", pk, err)
	}
}

// stream builds packets (ts, payload) for digits, one event every 400 ms.
type pkt struct {
	ts      uint32
	payload []byte
}

func stream(t *testing.T, digits string, baseTS uint32) []pkt {
	t.Helper()
	var out []pkt
	ts := baseTS
	for _, d := range digits {
		pk, err := Generator{}.Packets(d, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pk {
			out = append(out, pkt{ts, append([]byte(nil), p.Payload[:]...)})
		}
		ts += 3200
	}
	return out
}

func feed(t *testing.T, d *Detector, in []pkt) string {
	t.Helper()
	var got []rune
	for _, p := range in {
		r, ok, err := d.Packet(p.ts, p.payload)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			got = append(got, r)
		}
	}
	return string(got)
}

func TestDetector(t *testing.T) {
	tests := []struct {
		name string
		in   func(t *testing.T) []pkt
		want string
	}{
		{"clean sequence", func(t *testing.T) []pkt { return stream(t, "123#*ABCD0", 1000) }, "123#*ABCD0"},
		{"same digit twice", func(t *testing.T) []pkt { return stream(t, "55", 1000) }, "55"},
		{"repeated start packets", func(t *testing.T) []pkt {
			s := stream(t, "9", 1000)
			return append([]pkt{s[0], s[0], s[0]}, s[1:]...)
		}, "9"},
		{"lost start packet", func(t *testing.T) []pkt { return stream(t, "4", 1000)[1:] }, "4"},
		{"only end packets", func(t *testing.T) []pkt { s := stream(t, "8", 1000); return s[len(s)-3:] }, "8"},
		{"lost end packets", func(t *testing.T) []pkt {
			a := stream(t, "1", 1000)
			return append(a[:4], stream(t, "2", 5000)...)
		}, "12"},
		{"late end of previous digit", func(t *testing.T) []pkt {
			a := stream(t, "1", 1000)
			b := stream(t, "2", 5000)
			out := append([]pkt{}, a[:5]...)
			out = append(out, b[:2]...)
			return append(out, a[5:]...) // retransmitted ends of '1' after '2' began
		}, "12"},
		{"timestamp wraps", func(t *testing.T) []pkt { return stream(t, "36", 0xFFFFFF00) }, "36"},
		{"non-DTMF event ignored", func(t *testing.T) []pkt {
			flash := Event{Code: 16, Duration: 160}.Marshal(nil)
			return append([]pkt{{7, flash}}, stream(t, "7", 1000)...)
		}, "7"},
		{"event longer than 16-bit duration continues", func(t *testing.T) []pkt {
			start := Event{Code: 0, Duration: 0xFFFF}.Marshal(nil)
			cont := Event{Code: 0, Duration: 160}.Marshal(nil)
			end := Event{Code: 0, End: true, Duration: 320}.Marshal(nil)
			return []pkt{{100, start}, {100 + longEventStep, cont}, {100 + longEventStep, end}}
		}, "0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d Detector
			if got := feed(t, &d, tt.in(t)); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDetectorResetAndErrors(t *testing.T) {
	var d Detector
	s := stream(t, "1", 1000)
	if got := feed(t, &d, s); got != "1" {
		t.Fatalf("got %q", got)
	}
	if got := feed(t, &d, s); got != "" {
		t.Fatalf("replayed event reported again: %q", got)
	}
	d.Reset()
	if got := feed(t, &d, s); got != "1" {
		t.Fatalf("after Reset got %q", got)
	}
	if _, ok, err := d.Packet(1, []byte{1}); ok || !errors.Is(err, ErrPayload) {
		t.Fatalf("short payload: %v %v", ok, err)
	}
}

func BenchmarkDetectorPacket(b *testing.B) {
	var d Detector
	payload := Event{Code: 5, Duration: 160}.Marshal(nil)
	b.ReportAllocs()
	ts := uint32(0)
	for i := 0; b.Loop(); i++ {
		if i%8 == 0 {
			ts += 3200
		}
		if _, _, err := d.Packet(ts, payload); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte{5, 0x0A, 0, 160}, uint32(1000))
	f.Add([]byte{11, 0x8A, 3, 32}, uint32(0xFFFFFFFF))
	f.Add([]byte{200, 0xFF, 0xFF, 0xFF}, uint32(0))
	f.Add([]byte{1, 2, 3}, uint32(7))
	f.Fuzz(func(t *testing.T, b []byte, ts uint32) {
		ev, err := Parse(b)
		if err != nil {
			if len(b) == PayloadSize {
				t.Fatalf("4-byte payload rejected: %v", err)
			}
			return
		}
		again, err := Parse(ev.Marshal(nil))
		if err != nil || again != ev {
			t.Fatalf("round trip %+v -> %+v", ev, again)
		}
		var d Detector
		_, ok1, _ := d.Packet(ts, b)
		_, ok2, _ := d.Packet(ts, b)
		if ok2 {
			t.Fatal("same packet reported twice")
		}
		if _, isDigit := Digit(ev.Code); ok1 != isDigit {
			t.Fatalf("code %d reported=%v", ev.Code, ok1)
		}
	})
}
