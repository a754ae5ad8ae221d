// Package g711 implements ITU-T G.711 u-law (PCMU) and A-law (PCMA)
// companding of 16-bit linear PCM, plus table-driven transcoding between
// the two laws. The conversions follow the ITU reference behaviour (the
// classic Sun g711.c): u-law works on the 14 most significant bits of a
// sample, A-law on the 13 most significant bits.
//
// All functions are allocation-free; the slice variants are meant for the
// packet path (20 ms frames of 160 bytes).
package g711

import "math/bits"

// RTP static payload types (RFC 3551).
const (
	PTPCMU = 0 // G.711 u-law
	PTPCMA = 8 // G.711 A-law
)

// SilenceUlaw and SilenceAlaw are the encodings of a zero sample.
const (
	SilenceUlaw byte = 0xFF
	SilenceAlaw byte = 0xD5
)

const (
	ulawBias = 0x84 // bias added before the u-law segment search (16-bit scale)
	ulawClip = 8159 // largest magnitude on the 14-bit scale
)

var (
	// The encoders depend only on the top 14 (u-law) or 13 (A-law) bits of
	// a sample, so they are tabulated: 16 KiB + 8 KiB.
	ulawEncode [1 << 14]byte
	alawEncode [1 << 13]byte
	ulawDecode [256]int16
	alawDecode [256]int16
	ulawToAlaw [256]byte
	alawToUlaw [256]byte
)

func init() {
	for i := range ulawEncode {
		ulawEncode[i] = encodeUlaw(int16((i - 1<<13) << 2))
	}
	for i := range alawEncode {
		alawEncode[i] = encodeAlaw(int16((i - 1<<12) << 3))
	}
	for i := range 256 {
		ulawDecode[i] = decodeUlaw(byte(i))
		alawDecode[i] = decodeAlaw(byte(i))
	}
	for i := range 256 {
		ulawToAlaw[i] = EncodeAlaw(ulawDecode[i])
		alawToUlaw[i] = EncodeUlaw(alawDecode[i])
	}
}

// EncodeUlaw compands one 16-bit linear sample to u-law.
func EncodeUlaw(s int16) byte { return ulawEncode[(int32(s)>>2)+1<<13] }

func encodeUlaw(s int16) byte {
	v := int32(s) >> 2 // 14-bit magnitude scale
	mask := byte(0xFF)
	if v < 0 {
		v = -v
		mask = 0x7F
	}
	if v > ulawClip {
		v = ulawClip
	}
	v += ulawBias >> 2
	// Segment = position of the highest set bit above bit 5 (0..7).
	seg := bits.Len32(uint32(v)) - 6
	if seg < 0 {
		seg = 0
	}
	if seg > 7 {
		return 0x7F ^ mask
	}
	u := byte(seg<<4) | byte(v>>(uint(seg)+1))&0x0F
	return u ^ mask
}

// DecodeUlaw expands one u-law byte to a 16-bit linear sample.
func DecodeUlaw(b byte) int16 { return ulawDecode[b] }

func decodeUlaw(b byte) int16 {
	u := ^b
	t := (int32(u&0x0F) << 3) + ulawBias
	t <<= (u & 0x70) >> 4
	if u&0x80 != 0 {
		return int16(ulawBias - t)
	}
	return int16(t - ulawBias)
}

// EncodeAlaw compands one 16-bit linear sample to A-law.
func EncodeAlaw(s int16) byte { return alawEncode[(int32(s)>>3)+1<<12] }

func encodeAlaw(s int16) byte {
	v := int32(s) >> 3 // 13-bit scale
	mask := byte(0xD5)
	if v < 0 {
		mask = 0x55
		v = -v - 1
	}
	if v > 0xFFF {
		return 0x7F ^ mask
	}
	// Segment = position of the highest set bit above bit 4 (0..7).
	seg := bits.Len32(uint32(v)) - 5
	if seg < 0 {
		seg = 0
	}
	a := byte(seg << 4)
	if seg < 2 {
		a |= byte(v>>1) & 0x0F
	} else {
		a |= byte(v>>uint(seg)) & 0x0F
	}
	return a ^ mask
}

// DecodeAlaw expands one A-law byte to a 16-bit linear sample.
func DecodeAlaw(b byte) int16 { return alawDecode[b] }

func decodeAlaw(b byte) int16 {
	a := b ^ 0x55
	t := int32(a&0x0F) << 4
	seg := (a & 0x70) >> 4
	switch seg {
	case 0:
		t += 8
	case 1:
		t += 0x108
	default:
		t += 0x108
		t <<= seg - 1
	}
	if a&0x80 != 0 {
		return int16(t)
	}
	return int16(-t)
}

// UlawToAlaw transcodes src (u-law) into dst (A-law). dst must be at least
// as long as src; it may be src itself (each byte is mapped on its own).
// The table equals EncodeAlaw(DecodeUlaw(b)).
func UlawToAlaw(dst, src []byte) {
	dst = dst[:len(src)]
	for i, b := range src {
		dst[i] = ulawToAlaw[b]
	}
}

// AlawToUlaw transcodes src (A-law) into dst (u-law). dst must be at least
// as long as src; it may be src itself. The table equals
// EncodeUlaw(DecodeAlaw(b)).
func AlawToUlaw(dst, src []byte) {
	dst = dst[:len(src)]
	for i, b := range src {
		dst[i] = alawToUlaw[b]
	}
}

// DecodeUlawTo expands src into dst, which must be at least len(src) long.
func DecodeUlawTo(dst []int16, src []byte) {
	dst = dst[:len(src)]
	for i, b := range src {
		dst[i] = ulawDecode[b]
	}
}

// DecodeAlawTo expands src into dst, which must be at least len(src) long.
func DecodeAlawTo(dst []int16, src []byte) {
	dst = dst[:len(src)]
	for i, b := range src {
		dst[i] = alawDecode[b]
	}
}

// EncodeUlawFrom compands src into dst, which must be at least len(src) long.
func EncodeUlawFrom(dst []byte, src []int16) {
	dst = dst[:len(src)]
	for i, s := range src {
		dst[i] = ulawEncode[(int32(s)>>2)+1<<13]
	}
}

// EncodeAlawFrom compands src into dst, which must be at least len(src) long.
func EncodeAlawFrom(dst []byte, src []int16) {
	dst = dst[:len(src)]
	for i, s := range src {
		dst[i] = alawEncode[(int32(s)>>3)+1<<12]
	}
}
