package main

import "math"

// resample converts mono PCM from inRate to outRate with a windowed-sinc
// low-pass (Blackman window) at 90% of the lower Nyquist frequency. It is
// meant for offline use (prompt generation), not for calls.
func resample(in []int16, inRate, outRate int) []int16 {
	if inRate == outRate || len(in) == 0 {
		return append([]int16(nil), in...)
	}
	cut := 0.9 * float64(min(inRate, outRate)) / 2 // Hz
	fc := 2 * cut / float64(inRate)                // cycles per input sample * 2
	const zeroCrossings = 12
	half := zeroCrossings / fc // filter half-width in input samples
	n := int(int64(len(in)) * int64(outRate) / int64(inRate))
	out := make([]int16, n)
	step := float64(inRate) / float64(outRate)
	for i := range out {
		t := float64(i) * step
		lo := max(0, int(math.Ceil(t-half)))
		hi := min(len(in)-1, int(math.Floor(t+half)))
		var acc float64
		for k := lo; k <= hi; k++ {
			x := t - float64(k)
			acc += float64(in[k]) * fc * sinc(fc*x) * blackman(x/half)
		}
		out[i] = clamp16(acc)
	}
	return out
}

func sinc(x float64) float64 {
	if x == 0 {
		return 1
	}
	return math.Sin(math.Pi*x) / (math.Pi * x)
}

// blackman is the Blackman window on [-1, 1].
func blackman(u float64) float64 {
	if u <= -1 || u >= 1 {
		return 0
	}
	a := math.Pi * (u + 1) // 0..2π across the window
	return 0.42 - 0.5*math.Cos(a) + 0.08*math.Cos(2*a)
}

func clamp16(v float64) int16 {
	return int16(math.Max(math.MinInt16, math.Min(math.MaxInt16, math.Round(v))))
}
