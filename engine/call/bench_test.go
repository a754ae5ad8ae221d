package call

import (
	"testing"

	"luapbx/engine/phone"
)

// BenchmarkCall is one whole authenticated call through the B2BUA on
// loopback: INVITE/407/INVITE, 180, 200, ACK, BYE on both legs. Besides
// time and allocations it reports the process's CPU time per call
// (cpu-us/op: the PBX and both phones, which run in this process): wall
// time per call is mostly waiting for the other side.
func BenchmarkCall(b *testing.B) {
	p := newPBXB(b)
	_, wait := p.callee("202", phone.AnswerOptions{Count: 1 << 30, NoRinging: true})
	a := p.phone("201")
	b.ReportAllocs()
	b.ResetTimer()
	cpu := processCPU()
	for b.Loop() {
		if s := p.call(a, "202", phone.CallOptions{HangupAfter: 1}); s.FinalCode != 200 {
			b.Fatalf("final %d", s.FinalCode)
		}
		p.waitEnd()
	}
	b.ReportMetric(float64((processCPU()-cpu).Microseconds())/float64(b.N), "cpu-us/op")
	b.StopTimer()
	p.stop["202"]()
	wait()
}
