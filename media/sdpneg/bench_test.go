package sdpneg

import (
	"syscall"
	"testing"
	"time"
)

// BenchmarkParseRewrite is the per-INVITE cost: parse a phone's offer,
// rewrite it for the other leg and marshal. cpu-ns/op (process CPU time)
// is steadier than ns/op on a shared, loaded machine.
func BenchmarkParseRewrite(b *testing.B) {
	for _, name := range []string{"sipp.sdp", "baresip.sdp", "linphone.sdp"} {
		body := readSDP(b, name)
		o := NewOrigin("")
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			cpu0 := cpuTime()
			for b.Loop() {
				s, err := Parse(body)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := s.Offer(o, pbx); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// BenchmarkParse is Parse alone (pion's unmarshal plus our checks).
func BenchmarkParse(b *testing.B) {
	body := readSDP(b, "baresip.sdp")
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		if _, err := Parse(body); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
