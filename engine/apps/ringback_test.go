package apps

import (
	"context"
	"math"
	"testing"
	"time"

	"luapbx/media/correlate"
	"luapbx/media/g711"
	"luapbx/media/player"
)

func TestRingbackCadence(t *testing.T) {
	for _, codec := range []uint8{g711.PTPCMU, g711.PTPCMA} {
		t.Run(map[uint8]string{0: "pcmu", 8: "pcma"}[codec], func(t *testing.T) {
			r := newRig(t, codec)
			ctx, cancel := context.WithTimeout(context.Background(), 1400*time.Millisecond)
			defer cancel()
			if err := Ringback(ctx, r.s); err != nil {
				t.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond) // the last frames in flight
			pkts := r.ph.received()
			if len(pkts) < 60 {
				t.Fatalf("got %d packets in 1.4 s", len(pkts))
			}
			for i := 1; i < len(pkts); i++ {
				if pkts[i].seq != pkts[i-1].seq+1 || pkts[i].ts != pkts[i-1].ts+player.FrameSamples || pkts[i].pt != codec {
					t.Fatalf("packet %d breaks the stream: %+v after %+v", i, pkts[i], pkts[i-1])
				}
			}
			pcm := r.ph.audio()
			on := pcm[:int(RingbackOn/time.Second)*player.SampleRate-400]
			ref := make([]int16, len(on)+40)
			for i := range ref {
				ref[i] = int16(10000 * math.Sin(2*math.Pi*RingbackHz*float64(i)/player.SampleRate))
			}
			if c, _ := correlate.Best(on, ref, 20); c < 0.99 {
				t.Errorf("the tone part correlates %.4f with 425 Hz", c)
			}
			off := pcm[int(RingbackOn/time.Second)*player.SampleRate+200:]
			var peak int16
			for _, v := range off {
				peak = max(peak, v, -v)
			}
			if len(off) < 1000 || peak > 100 {
				t.Errorf("the pause: %d samples, peak %d", len(off), peak)
			}
		})
	}
}
