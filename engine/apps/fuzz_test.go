package apps

import (
	"encoding/binary"
	"testing"

	"luapbx/media/g711"
)

// countSink counts what a vmWriter writes.
type countSink struct{ samples int64 }

func (c *countSink) WriteSamples(s []int16) error    { c.samples += int64(len(s)); return nil }
func (c *countSink) WriteSilence(frames int64) error { c.samples += frames; return nil }
func (c *countSink) Close() error                    { return nil }

// FuzzVMWriter feeds the voicemail writer packet headers as a hostile
// caller could send them: 9 bytes per packet (timestamp, SSRC, payload
// length). The file never exceeds its limit, its length matches the
// writer's count, and never more audio is taken than was sent.
func FuzzVMWriter(f *testing.F) {
	f.Add(uint16(8000), []byte{0, 0, 0, 0, 0, 0, 0, 1, 160, 0, 0, 0, 160, 0, 0, 0, 1, 160})
	f.Add(uint16(500), []byte{0xff, 0xff, 0xff, 0x60, 0, 0, 0, 1, 160, 0, 0, 0, 0, 0, 0, 0, 1, 160})
	f.Add(uint16(100), []byte{0, 0, 0, 0, 0, 0, 0, 1, 160, 0, 0, 0x90, 0, 0, 0, 0, 1, 240})
	f.Fuzz(func(t *testing.T, limit uint16, data []byte) {
		sink := &countSink{}
		vw := &vmWriter{w: sink, limit: int64(limit)}
		var sent int64
		for len(data) >= 9 {
			p := Packet{PT: g711.PTPCMU, Timestamp: binary.BigEndian.Uint32(data), SSRC: binary.BigEndian.Uint32(data[4:]),
				n: min(int(data[8])*2, MaxPayload)}
			data = data[9:]
			sent += int64(p.n)
			full, err := vw.write(&p)
			if err != nil {
				t.Fatal(err)
			}
			if full != (vw.written >= vw.limit) {
				t.Fatalf("full %v with %d of %d written", full, vw.written, vw.limit)
			}
		}
		if sink.samples != vw.written || vw.written > vw.limit || vw.received > sent || vw.received > vw.written {
			t.Fatalf("sink %d written %d limit %d received %d sent %d", sink.samples, vw.written, vw.limit, vw.received, sent)
		}
	})
}
