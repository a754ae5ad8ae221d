package recorder

import "testing"

// memSink collects what the mixer writes.
type memSink struct{ s []int16 }

func (m *memSink) WriteSamples(s []int16) error { m.s = append(m.s, s...); return nil }
func (m *memSink) WriteSilence(n int64) error {
	m.s = append(m.s, make([]int16, 2*n)...)
	return nil
}

func TestMixerPlace(t *testing.T) {
	tests := []struct {
		name   string
		next   int64 // expected position (channel started)
		p      int64
		want   int64
		wantOK bool
	}{
		{"on time", 1600, 1600, 1600, true},
		{"late within half frame", 1600, 1679, 1600, true},
		{"early within half frame", 1600, 1521, 1600, true},
		{"one lost packet", 1600, 1760, 1760, true},
		{"lost packet with jitter", 1600, 1700, 1760, true},
		{"three lost packets", 1600, 2080, 2080, true},
		{"burst within lead", 1600, 1300, 1600, true},
		{"too early", 1600, 1000, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMixer(&memSink{}, 2, 16000, 480)
			m.ch[0] = channelState{started: true, next: tt.next}
			got, ok := m.place(0, tt.p, 160)
			if ok != tt.wantOK || (ok && got != tt.want) {
				t.Fatalf("place = %d, %v; want %d, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
	m := newMixer(&memSink{}, 2, 16000, 480)
	if p, ok := m.place(1, 37, 160); !ok || p != 37 {
		t.Fatalf("first frame placed at %d", p)
	}
	m = newMixer(&memSink{}, 2, 16000, 480)
	if p, ok := m.place(1, -50, 160); !ok || p != 0 {
		t.Fatalf("first frame before start placed at %d", p)
	}
}

func TestMixerFlushesInOrder(t *testing.T) {
	out := &memSink{}
	m := newMixer(out, 2, 400, 480) // tiny window to force flushes
	frame := func(v int16) []int16 {
		s := make([]int16, 160)
		for i := range s {
			s[i] = v
		}
		return s
	}
	for k := range 10 {
		for c := range 2 {
			p, ok := m.place(c, int64(k*160), 160)
			if !ok {
				t.Fatal("dropped")
			}
			m.add(c, p, frame(int16(10*k+c+1)))
		}
	}
	m.flushTo(1600)
	if len(out.s) != 3200 {
		t.Fatalf("%d samples", len(out.s))
	}
	for i := 0; i < 1600; i++ {
		k := int16(i / 160)
		if out.s[2*i] != 10*k+1 || out.s[2*i+1] != 10*k+2 {
			t.Fatalf("frame %d: %d %d", i, out.s[2*i], out.s[2*i+1])
		}
	}
	m.add(0, 0, frame(5)) // position already written
	if m.late != 1 {
		t.Fatalf("late = %d", m.late)
	}
}
