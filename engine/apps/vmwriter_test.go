package apps

import (
	"os"
	"path/filepath"
	"testing"

	"luapbx/media/g711"
	"luapbx/media/wav"
)

// frameOf is a 160-sample frame whose samples all decode to about v.
func frameOf(pt uint8, v int16, ts, ssrc uint32) Packet {
	p := Packet{PT: pt, Timestamp: ts, SSRC: ssrc, n: 160}
	for i := range 160 {
		if pt == g711.PTPCMA {
			p.buf[i] = g711.EncodeAlaw(v)
		} else {
			p.buf[i] = g711.EncodeUlaw(v)
		}
	}
	return p
}

func TestVMWriterTimeline(t *testing.T) {
	const u, a = g711.PTPCMU, g711.PTPCMA
	tests := []struct {
		name     string
		frames   []Packet
		limit    int64
		want     []int16 // one value per 160-sample frame, 0 = silence
		received int64
		full     bool
	}{
		{"contiguous", []Packet{frameOf(u, 1000, 0, 1), frameOf(a, 2000, 160, 1)}, 8000,
			[]int16{1000, 2000}, 320, false},
		{"lost packet becomes silence", []Packet{frameOf(u, 1000, 0, 1), frameOf(u, 2000, 320, 1)}, 8000,
			[]int16{1000, 0, 2000}, 320, false},
		{"duplicate and late packets dropped",
			[]Packet{frameOf(u, 1000, 0, 1), frameOf(u, 2000, 160, 1), frameOf(u, 3000, 160, 1), frameOf(u, 3000, 0, 1)}, 8000,
			[]int16{1000, 2000}, 320, false},
		{"timestamp jump is no gap", []Packet{frameOf(u, 1000, 0, 1), frameOf(u, 2000, 1_000_000, 1)}, 8000,
			[]int16{1000, 2000}, 320, false},
		{"new ssrc continues", []Packet{frameOf(u, 1000, 5000, 1), frameOf(u, 2000, 77, 2)}, 8000,
			[]int16{1000, 2000}, 320, false},
		{"timestamp wraps", []Packet{frameOf(u, 1000, 0xFFFFFF60, 1), frameOf(u, 2000, 0, 1)}, 8000,
			[]int16{1000, 2000}, 320, false},
		{"limit cuts", []Packet{frameOf(u, 1000, 0, 1), frameOf(u, 2000, 160, 1), frameOf(u, 3000, 320, 1)}, 320,
			[]int16{1000, 2000}, 320, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "vm", "m.wav")
			vw, err := newVMWriter(path, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			var full bool
			for i := range tc.frames {
				if full, err = vw.write(&tc.frames[i]); err != nil {
					t.Fatal(err)
				}
			}
			if err := vw.close(); err != nil {
				t.Fatal(err)
			}
			if full != tc.full || vw.received != tc.received {
				t.Errorf("full %v received %d, want %v %d", full, vw.received, tc.full, tc.received)
			}
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			pcm, _, err := wav.ReadPCM(f)
			if err != nil {
				t.Fatal(err)
			}
			if len(pcm) != 160*len(tc.want) {
				t.Fatalf("%d samples, want %d", len(pcm), 160*len(tc.want))
			}
			for i, v := range tc.want {
				got := pcm[i*160+80]
				if d := int(got) - int(v); d < -100 || d > 100 {
					t.Errorf("frame %d holds %d, want about %d", i, got, v)
				}
			}
		})
	}
}

// TestVMWriterPadTo: silence up to a length (the message aligned to the
// time recording stopped), never shortening, never past the limit.
func TestVMWriterPadTo(t *testing.T) {
	tests := []struct {
		name        string
		frames      int // 160-sample frames written first
		pad         int64
		limit       int64
		wantWritten int64
	}{
		{"pads after the audio", 2, 1000, 8000, 1000},
		{"pads an empty message", 0, 480, 8000, 480},
		{"never shortens", 3, 100, 8000, 480},
		{"stops at the limit", 1, 9000, 800, 800},
		{"negative is nothing", 1, -5, 8000, 160},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "m.wav")
			vw, err := newVMWriter(path, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			for i := range tc.frames {
				p := frameOf(g711.PTPCMU, 1000, uint32(i*160), 1)
				if _, err := vw.write(&p); err != nil {
					t.Fatal(err)
				}
			}
			if err := vw.padTo(tc.pad); err != nil {
				t.Fatal(err)
			}
			if err := vw.close(); err != nil {
				t.Fatal(err)
			}
			if vw.written != tc.wantWritten || vw.received != int64(tc.frames*160) {
				t.Errorf("written %d received %d, want %d and %d", vw.written, vw.received, tc.wantWritten, tc.frames*160)
			}
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			pcm, _, err := wav.ReadPCM(f)
			if err != nil {
				t.Fatal(err)
			}
			if int64(len(pcm)) != tc.wantWritten {
				t.Fatalf("file holds %d samples, want %d", len(pcm), tc.wantWritten)
			}
			for i, v := range pcm[min(tc.frames*160, len(pcm)):] {
				if v != 0 {
					t.Fatalf("padding sample %d is %d", i, v)
				}
			}
		})
	}
}
