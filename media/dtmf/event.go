// Package dtmf implements RFC 4733 telephone-events for DTMF digits:
// the 4-byte payload, a Detector that reports each digit of an incoming
// event stream exactly once, and a Generator that produces the packet
// sequence a sender transmits for one digit.
package dtmf

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// PayloadSize is the size of one telephone-event payload (RFC 4733 §2.3).
const PayloadSize = 4

// MaxVolume is the largest (quietest) volume value: -63 dBm0.
const MaxVolume = 63

// ErrPayload is wrapped by errors about malformed telephone-event payloads.
var ErrPayload = errors.New("dtmf: bad telephone-event payload")

// Event is one telephone-event payload.
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	|     event     |E|R| volume    |          duration             |
type Event struct {
	Code     uint8  // 0-9, 10 '*', 11 '#', 12-15 'A'-'D'
	End      bool   // E bit: the last packet(s) of the event
	Volume   uint8  // power level as -dBm0, 0..63
	Duration uint16 // in RTP timestamp units since the event's timestamp
}

// Marshal appends the 4-byte payload to dst.
func (e Event) Marshal(dst []byte) []byte {
	b := byte(e.Volume & MaxVolume)
	if e.End {
		b |= 0x80
	}
	return append(dst, e.Code, b, byte(e.Duration>>8), byte(e.Duration))
}

// Parse decodes a telephone-event payload. Extra bytes (several events in
// one packet are not used for DTMF) are an error; the R bit is ignored as
// the RFC requires.
func Parse(b []byte) (Event, error) {
	if len(b) != PayloadSize {
		return Event{}, fmt.Errorf("%w: %d bytes, want %d", ErrPayload, len(b), PayloadSize)
	}
	return Event{
		Code:     b[0],
		End:      b[1]&0x80 != 0,
		Volume:   b[1] & MaxVolume,
		Duration: binary.BigEndian.Uint16(b[2:4]),
	}, nil
}

const digits = "0123456789*#ABCD"

// Digit returns the DTMF character for an event code ('0'-'9', '*', '#',
// 'A'-'D'), or false for a code that is not a DTMF digit.
func Digit(code uint8) (rune, bool) {
	if int(code) >= len(digits) {
		return 0, false
	}
	return rune(digits[code]), true
}

// Code returns the event code of a DTMF character; lower-case a-d are
// accepted.
func Code(digit rune) (uint8, bool) {
	if digit >= 'a' && digit <= 'd' {
		digit -= 'a' - 'A'
	}
	for i, c := range digits {
		if c == digit {
			return uint8(i), true
		}
	}
	return 0, false
}

// Valid reports whether every character of s is a DTMF digit, naming the
// first one that is not.
func Valid(s string) error {
	for _, r := range s {
		if _, ok := Code(r); !ok {
			return fmt.Errorf("dtmf: %q is not a DTMF digit (0-9 * # A-D)", r)
		}
	}
	return nil
}
