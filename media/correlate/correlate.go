// Package correlate measures how similar two PCM signals are, allowing for
// a delay between them. End-to-end tests use it to prove audio went
// through the PBX: what one side received must correlate with what the
// other side sent (normalised cross-correlation >= 0.9 at the best lag),
// whatever the network delay and the G.711 laws on the way.
package correlate

import (
	"math"
	"math/rand/v2"
)

// At returns the normalised cross-correlation of a and b with b shifted by
// lag samples: sum a[i]*b[i+lag] / sqrt(sum a[i]^2 * sum b[i+lag]^2) over
// the indices where both exist. It is 1 for identical shapes (any gain),
// -1 for inverted ones, 0 when there is no overlap or no energy.
func At(a, b []int16, lag int) float64 {
	lo, hi := overlap(len(a), len(b), lag)
	var ab, aa, bb float64
	for i := lo; i < hi; i++ {
		x, y := float64(a[i]), float64(b[i+lag])
		ab += x * y
		aa += x * x
		bb += y * y
	}
	return normalise(ab, aa, bb)
}

// Best searches lags in [-maxLag, maxLag] for the highest correlation and
// returns it with its lag (b[i+lag] matches a[i]: a positive lag means b
// is a delayed). Lags where the signals overlap by less than half the
// shorter one are skipped, so a few samples of accidental overlap cannot
// win. Ties go to the smallest |lag|.
func Best(a, b []int16, maxLag int) (corr float64, lag int) {
	fa, fb := toFloat(a), toFloat(b)
	pa, pb := prefixSquares(fa), prefixSquares(fb)
	minOverlap := max(1, min(len(a), len(b))/2)
	corr, lag = math.Inf(-1), 0
	for l := range lagOrder(maxLag) {
		lo, hi := overlap(len(a), len(b), l)
		if hi-lo < minOverlap {
			continue
		}
		c := normalise(dot(fa[lo:hi], fb[lo+l:hi+l]), pa[hi]-pa[lo], pb[hi+l]-pb[lo+l])
		if c > corr {
			corr, lag = c, l
		}
	}
	if math.IsInf(corr, -1) {
		return 0, 0
	}
	return corr, lag
}

// lagOrder yields 0, 1, -1, 2, -2, ... so ties keep the smallest |lag|.
func lagOrder(maxLag int) func(func(int) bool) {
	return func(yield func(int) bool) {
		if !yield(0) {
			return
		}
		for l := 1; l <= maxLag; l++ {
			if !yield(l) || !yield(-l) {
				return
			}
		}
	}
}

// overlap returns the range of i for which a[i] and b[i+lag] both exist.
func overlap(na, nb, lag int) (lo, hi int) {
	lo = max(0, -lag)
	hi = min(na, nb-lag)
	if hi < lo {
		return 0, 0
	}
	return lo, hi
}

func normalise(ab, aa, bb float64) float64 {
	if aa <= 0 || bb <= 0 {
		return 0
	}
	return ab / math.Sqrt(aa*bb)
}

func dot(x, y []float64) float64 {
	y = y[:len(x)]
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		s0 += x[i] * y[i]
		s1 += x[i+1] * y[i+1]
		s2 += x[i+2] * y[i+2]
		s3 += x[i+3] * y[i+3]
	}
	for ; i < len(x); i++ {
		s0 += x[i] * y[i]
	}
	return s0 + s1 + s2 + s3
}

func toFloat(s []int16) []float64 {
	f := make([]float64, len(s))
	for i, v := range s {
		f[i] = float64(v)
	}
	return f
}

// prefixSquares returns p with p[i] = sum of x[:i]^2.
func prefixSquares(x []float64) []float64 {
	p := make([]float64, len(x)+1)
	for i, v := range x {
		p[i+1] = p[i] + v*v
	}
	return p
}

// TestSignal returns n samples of deterministic, speech-band noise
// (roughly 300-3000 Hz, amplitude modulated at 3 Hz, RMS about 3000) for
// end-to-end audio checks. Unlike a tone it is not periodic, so Best finds
// one clear peak at the true delay; it survives G.711 either law with a
// correlation above 0.99. Different seeds give uncorrelated signals.
func TestSignal(n int, seed uint64) []int16 {
	rng := rand.New(rand.NewPCG(seed, seed^0x9E3779B97F4A7C15))
	const rate = 8000.0
	hp := math.Exp(-2 * math.Pi * 300 / rate)  // one-pole high-pass at 300 Hz
	lp := math.Exp(-2 * math.Pi * 3000 / rate) // one-pole low-pass at 3 kHz
	x := make([]float64, n)
	var prevIn, h, l1, l2, sum2 float64
	for i := range x {
		in := rng.NormFloat64()
		h = hp * (h + in - prevIn)
		prevIn = in
		l1 = (1-lp)*h + lp*l1
		l2 = (1-lp)*l1 + lp*l2
		env := 0.6 + 0.4*math.Sin(2*math.Pi*3*float64(i)/rate)
		x[i] = l2 * env
		sum2 += x[i] * x[i]
	}
	out := make([]int16, n)
	if n == 0 || sum2 == 0 {
		return out
	}
	gain := 3000 / math.Sqrt(sum2/float64(n))
	for i, v := range x {
		out[i] = int16(math.Max(-30000, math.Min(30000, math.Round(v*gain))))
	}
	return out
}
