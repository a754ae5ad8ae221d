package correlate

import (
	"math"
	"testing"

	"luapbx/media/g711"
)

func delay(s []int16, d int) []int16 {
	out := make([]int16, len(s)+d)
	copy(out[d:], s)
	return out
}

func ulaw(s []int16) []int16 {
	b := make([]byte, len(s))
	g711.EncodeUlawFrom(b, s)
	out := make([]int16, len(s))
	g711.DecodeUlawTo(out, b)
	return out
}

func alawViaUlaw(s []int16) []int16 {
	u := make([]byte, len(s))
	a := make([]byte, len(s))
	g711.EncodeUlawFrom(u, s)
	g711.UlawToAlaw(a, u)
	out := make([]int16, len(s))
	g711.DecodeAlawTo(out, a)
	return out
}

func TestBest(t *testing.T) {
	sig := TestSignal(16000, 1)
	other := TestSignal(16000, 2)
	scaled := make([]int16, len(sig))
	inverted := make([]int16, len(sig))
	for i, v := range sig {
		scaled[i] = v / 3
		inverted[i] = -v
	}
	tests := []struct {
		name    string
		a, b    []int16
		maxLag  int
		minCorr float64
		maxCorr float64
		lag     int
	}{
		{"identical", sig, sig, 100, 0.9999, 1.0001, 0},
		{"delayed 1234", sig, delay(sig, 1234), 2000, 0.9999, 1.0001, 1234},
		{"a delayed", delay(sig, 300), sig, 2000, 0.9999, 1.0001, -300},
		{"gain", sig, scaled, 10, 0.999, 1.0001, 0},
		{"through u-law", sig, delay(ulaw(sig), 160), 400, 0.99, 1.0001, 160},
		{"u-law to a-law transcoded", sig, delay(alawViaUlaw(sig), 777), 1000, 0.99, 1.0001, 777},
		{"unrelated", sig, other, 400, -0.2, 0.2, math.MinInt},
		{"inverted", sig, inverted, 0, -1.0001, -0.9999, 0},
		{"delay beyond search", sig, delay(sig, 4000), 1000, -0.2, 0.2, math.MinInt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, lag := Best(tt.a, tt.b, tt.maxLag)
			if c < tt.minCorr || c > tt.maxCorr {
				t.Fatalf("corr %.4f, want [%.4f, %.4f]", c, tt.minCorr, tt.maxCorr)
			}
			if tt.lag != math.MinInt && lag != tt.lag {
				t.Fatalf("lag %d, want %d", lag, tt.lag)
			}
			if tt.lag != math.MinInt {
				if at := At(tt.a, tt.b, lag); math.Abs(at-c) > 1e-9 {
					t.Fatalf("At(%d) = %.6f, Best said %.6f", lag, at, c)
				}
			}
		})
	}
}

func TestEdgeCases(t *testing.T) {
	if c, lag := Best(nil, nil, 10); c != 0 || lag != 0 {
		t.Fatalf("empty: %v %d", c, lag)
	}
	if c := At([]int16{0, 0, 0}, []int16{1, 2, 3}, 0); c != 0 {
		t.Fatalf("silent signal: %v", c)
	}
	if c := At([]int16{1, 2}, []int16{1, 2}, 5); c != 0 {
		t.Fatalf("no overlap: %v", c)
	}
	// A tiny overlap at an extreme lag must not win.
	a := TestSignal(1000, 3)
	b := append(make([]int16, 990), a[:10]...)
	if c, lag := Best(a, b, 1000); lag == 990 {
		t.Fatalf("picked a 10-sample overlap (corr %.3f)", c)
	}
}

func TestSignalProperties(t *testing.T) {
	s := TestSignal(8000, 7)
	if !equal(s, TestSignal(8000, 7)) {
		t.Fatal("not deterministic")
	}
	var sum2 float64
	for _, v := range s {
		sum2 += float64(v) * float64(v)
	}
	if rms := math.Sqrt(sum2 / 8000); rms < 2500 || rms > 3500 {
		t.Fatalf("rms %.0f", rms)
	}
	// Not periodic: the best non-zero lag correlates poorly.
	best := 0.0
	for lag := 20; lag < 2000; lag += 7 {
		best = math.Max(best, At(s, s, lag))
	}
	if best > 0.5 {
		t.Fatalf("autocorrelation %.2f away from lag 0", best)
	}
}

func equal(a, b []int16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func BenchmarkBest3s1sLag(b *testing.B) {
	a := TestSignal(24000, 1)
	d := delay(a, 800)
	b.ReportAllocs()
	for b.Loop() {
		Best(a, d, 8000)
	}
}
