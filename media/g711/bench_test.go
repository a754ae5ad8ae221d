package g711

import "testing"

func frame() ([]byte, []int16) {
	b := make([]byte, 160)
	p := make([]int16, 160)
	for i := range b {
		b[i] = byte(i * 7)
		p[i] = int16(i*397 - 30000)
	}
	return b, p
}

func BenchmarkUlawToAlaw160(b *testing.B) {
	src, _ := frame()
	dst := make([]byte, 160)
	b.ReportAllocs()
	b.SetBytes(160)
	for b.Loop() {
		UlawToAlaw(dst, src)
	}
}

func BenchmarkDecodeUlawTo160(b *testing.B) {
	src, _ := frame()
	dst := make([]int16, 160)
	b.ReportAllocs()
	b.SetBytes(160)
	for b.Loop() {
		DecodeUlawTo(dst, src)
	}
}

func BenchmarkEncodeUlawFrom160(b *testing.B) {
	_, src := frame()
	dst := make([]byte, 160)
	b.ReportAllocs()
	b.SetBytes(160)
	for b.Loop() {
		EncodeUlawFrom(dst, src)
	}
}

func BenchmarkEncodeAlawFrom160(b *testing.B) {
	_, src := frame()
	dst := make([]byte, 160)
	b.ReportAllocs()
	b.SetBytes(160)
	for b.Loop() {
		EncodeAlawFrom(dst, src)
	}
}
