package rtprelay

import (
	"encoding/binary"
	"testing"
	"time"

	"luapbx/media/g711"
)

// FuzzProcess feeds arbitrary datagrams to the packet path: no panic, and
// whatever is forwarded keeps its length, is RTP version 2 with our SSRC and
// a payload type the other leg negotiated.
func FuzzProcess(f *testing.F) {
	f.Add(pkt{pt: 0, seq: 1, ts: 160, ssrc: 7, payload: ulawFrame(1)}.marshal())
	f.Add(pkt{pt: 101, marker: true, seq: 2, ts: 320, ssrc: 7, payload: []byte{1, 10, 0, 160}}.marshal())
	f.Add([]byte{0x80, 200, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0xb0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0xbe, 0xde, 0, 1, 0x10, 0xff, 0, 0, 1, 2, 2})
	r, pa, _ := benchRelay(f, g711.PTPCMA)
	src := pa.addr()
	f.Fuzz(func(t *testing.T, data []byte) {
		fw := &forwarder{r: r, in: r.legs[A], out: r.legs[B]}
		b := append([]byte(nil), data...)
		if _, ok := fw.process(b, src, time.Now()); !ok {
			return
		}
		if len(b) != len(data) || b[0]>>6 != 2 {
			t.Fatalf("forwarded packet changed length or version: %x", b)
		}
		if pt := b[1] & 0x7f; pt != g711.PTPCMA && pt != 96 {
			t.Fatalf("forwarded pt %d", pt)
		}
		if binary.BigEndian.Uint32(b[8:]) != r.legs[B].tx.ssrc {
			t.Fatal("ssrc not ours")
		}
	})
}
