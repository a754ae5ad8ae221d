package wav

import (
	"path/filepath"
	"testing"
)

func BenchmarkWriteSamplesStereo20ms(b *testing.B) {
	w, err := Create(filepath.Join(b.TempDir(), "b.wav"), Stereo8k)
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	frame := ramp(320)
	b.ReportAllocs()
	b.SetBytes(640)
	for b.Loop() {
		if err := w.WriteSamples(frame); err != nil {
			b.Fatal(err)
		}
	}
}
