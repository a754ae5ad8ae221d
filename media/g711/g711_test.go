package g711

import (
	"math"
	"testing"
)

// The reference functions below are a direct transcription of the ITU/Sun
// g711.c reference code (linear search over segment end points), kept
// independent from the bit tricks used in the package.

var segUEnd = [8]int32{0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF}
var segAEnd = [8]int32{0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF}

func search(v int32, table [8]int32) int {
	for i, e := range table {
		if v <= e {
			return i
		}
	}
	return 8
}

func refLinearToUlaw(pcm int16) byte {
	v := int32(pcm) >> 2
	var mask byte
	if v < 0 {
		v = -v
		mask = 0x7F
	} else {
		mask = 0xFF
	}
	if v > 8159 {
		v = 8159
	}
	v += 0x84 >> 2
	seg := search(v, segUEnd)
	if seg >= 8 {
		return 0x7F ^ mask
	}
	return byte(seg<<4|int(v>>(seg+1))&0xF) ^ mask
}

func refLinearToAlaw(pcm int16) byte {
	v := int32(pcm) >> 3
	var mask byte
	if v >= 0 {
		mask = 0xD5
	} else {
		mask = 0x55
		v = -v - 1
	}
	seg := search(v, segAEnd)
	if seg >= 8 {
		return 0x7F ^ mask
	}
	a := seg << 4
	if seg < 2 {
		a |= int(v>>1) & 0xF
	} else {
		a |= int(v>>seg) & 0xF
	}
	return byte(a) ^ mask
}

func TestKnownCodePoints(t *testing.T) {
	tests := []struct {
		name string
		got  int
		want int
	}{
		{"ulaw encode 0", int(EncodeUlaw(0)), 0xFF},
		{"alaw encode 0", int(EncodeAlaw(0)), 0xD5},
		{"alaw encode -1", int(EncodeAlaw(-1)), 0x55},
		{"ulaw encode max", int(EncodeUlaw(math.MaxInt16)), 0x80},
		{"ulaw encode min", int(EncodeUlaw(math.MinInt16)), 0x00},
		{"alaw encode max", int(EncodeAlaw(math.MaxInt16)), 0xAA},
		{"alaw encode min", int(EncodeAlaw(math.MinInt16)), 0x2A},
		{"ulaw decode 0xFF", int(DecodeUlaw(0xFF)), 0},
		{"ulaw decode 0x7F", int(DecodeUlaw(0x7F)), 0},
		{"ulaw decode 0x80", int(DecodeUlaw(0x80)), 32124},
		{"ulaw decode 0x00", int(DecodeUlaw(0x00)), -32124},
		{"alaw decode 0xD5", int(DecodeAlaw(0xD5)), 8},
		{"alaw decode 0x55", int(DecodeAlaw(0x55)), -8},
		{"alaw decode 0xAA", int(DecodeAlaw(0xAA)), 32256},
		{"alaw decode 0x2A", int(DecodeAlaw(0x2A)), -32256},
		{"silence constants ulaw", int(DecodeUlaw(SilenceUlaw)), 0},
		{"silence constants alaw", int(EncodeAlaw(DecodeAlaw(SilenceAlaw))), int(SilenceAlaw)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Fatalf("got %#x, want %#x", tt.got, tt.want)
			}
		})
	}
}

func TestEncodeMatchesReference(t *testing.T) {
	for s := math.MinInt16; s <= math.MaxInt16; s++ {
		if got, want := EncodeUlaw(int16(s)), refLinearToUlaw(int16(s)); got != want {
			t.Fatalf("EncodeUlaw(%d) = %#x, reference %#x", s, got, want)
		}
		if got, want := EncodeAlaw(int16(s)), refLinearToAlaw(int16(s)); got != want {
			t.Fatalf("EncodeAlaw(%d) = %#x, reference %#x", s, got, want)
		}
		if encodeUlaw(int16(s)) != EncodeUlaw(int16(s)) || encodeAlaw(int16(s)) != EncodeAlaw(int16(s)) {
			t.Fatalf("table and computed encoders differ at %d", s)
		}
	}
}

func TestRoundTripProperties(t *testing.T) {
	laws := []struct {
		name   string
		enc    func(int16) byte
		dec    func(byte) int16
		maxErr func(s int16) int // quantisation step bound for a sample
	}{
		{"ulaw", EncodeUlaw, DecodeUlaw, func(s int16) int {
			a := abs(int(s))
			return max(4, a/16+64) // half-step bound, generous at segment edges
		}},
		{"alaw", EncodeAlaw, DecodeAlaw, func(s int16) int {
			a := abs(int(s))
			return max(16, a/16+64)
		}},
	}
	for _, law := range laws {
		t.Run(law.name+"/code idempotent", func(t *testing.T) {
			for b := range 256 {
				v := law.dec(byte(b))
				if law.dec(law.enc(v)) != v {
					t.Fatalf("decode(encode(decode(%#x)=%d)) = %d", b, v, law.dec(law.enc(v)))
				}
			}
		})
		t.Run(law.name+"/monotonic and bounded error", func(t *testing.T) {
			prev := law.dec(law.enc(math.MinInt16))
			for s := math.MinInt16; s <= math.MaxInt16; s++ {
				d := law.dec(law.enc(int16(s)))
				if d < prev {
					t.Fatalf("not monotonic at %d: %d < %d", s, d, prev)
				}
				prev = d
				if e := abs(int(d) - s); e > law.maxErr(int16(s)) {
					t.Fatalf("sample %d decodes to %d, error %d", s, d, e)
				}
				if s != 0 && d != 0 && (s > 0) != (d > 0) {
					t.Fatalf("sign flipped: %d -> %d", s, d)
				}
			}
		})
	}
}

func TestTranscodeTablesMatchDecodeEncode(t *testing.T) {
	src := make([]byte, 256)
	for i := range src {
		src[i] = byte(i)
	}
	toA := make([]byte, 256)
	toU := make([]byte, 256)
	UlawToAlaw(toA, src)
	AlawToUlaw(toU, src)
	for i := range 256 {
		if want := EncodeAlaw(DecodeUlaw(byte(i))); toA[i] != want {
			t.Fatalf("UlawToAlaw(%#x) = %#x, want %#x", i, toA[i], want)
		}
		if want := EncodeUlaw(DecodeAlaw(byte(i))); toU[i] != want {
			t.Fatalf("AlawToUlaw(%#x) = %#x, want %#x", i, toU[i], want)
		}
	}
	// Transcoding must not lose more than one quantisation step of
	// the coarser law: u->a->u stays close to the original.
	for i := range 256 {
		orig := int(DecodeUlaw(byte(i)))
		back := int(DecodeUlaw(toU[toA[i]]))
		if e := abs(orig - back); e > max(16, abs(orig)/16+64) {
			t.Fatalf("u-law %#x: %d -> %d after u->a->u", i, orig, back)
		}
	}
}

// The relay transcodes a packet's payload in place: dst == src must give
// what a separate dst gives.
func TestTranscodeInPlace(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    func(dst, src []byte)
	}{{"UlawToAlaw", UlawToAlaw}, {"AlawToUlaw", AlawToUlaw}} {
		t.Run(tc.name, func(t *testing.T) {
			buf, want := make([]byte, 256), make([]byte, 256)
			for i := range buf {
				buf[i] = byte(255 - i)
			}
			tc.f(want, buf)
			tc.f(buf, buf)
			for i := range buf {
				if buf[i] != want[i] {
					t.Fatalf("byte %d: in place %#x, separate %#x", i, buf[i], want[i])
				}
			}
		})
	}
}

func TestSliceHelpers(t *testing.T) {
	pcm := make([]int16, 160)
	for i := range pcm {
		pcm[i] = int16(10000 * math.Sin(2*math.Pi*440*float64(i)/8000))
	}
	u := make([]byte, 170) // longer dst is allowed
	a := make([]byte, 160)
	EncodeUlawFrom(u, pcm)
	EncodeAlawFrom(a, pcm)
	du := make([]int16, 160)
	da := make([]int16, 160)
	DecodeUlawTo(du, u[:160])
	DecodeAlawTo(da, a)
	for i, s := range pcm {
		if u[i] != EncodeUlaw(s) || a[i] != EncodeAlaw(s) {
			t.Fatalf("encode slice mismatch at %d", i)
		}
		if du[i] != DecodeUlaw(u[i]) || da[i] != DecodeAlaw(a[i]) {
			t.Fatalf("decode slice mismatch at %d", i)
		}
	}
	if u[160] != 0 {
		t.Fatalf("wrote past len(src)")
	}
}

func TestShortDstPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("expected panic for short dst")
		}
	}()
	UlawToAlaw(make([]byte, 1), make([]byte, 2))
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
