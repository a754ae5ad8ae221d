// Package sdpneg parses SDP offers and answers from phones and trunks, keeps
// only what the PBX relays (PCMU, PCMA and RFC 4733 telephone-event on the
// first audio stream) and writes the SDP the other leg sees: the PBX's
// address, a port of ours and an o= line whose version grows whenever our
// description changes (RFC 3264 §8).
//
// A B2BUA call uses it like this:
//
//	offerA, err := sdpneg.Parse(inviteBody)          // A's offer
//	bodyB, err := offerA.Offer(originB, localB)      // INVITE to B
//	answerB, err := sdpneg.Parse(okBody)             // B's 200 OK
//	bodyA, negA, err := offerA.Answer(originA, localA,
//	        sdpneg.AnswerOptions{Prefer: answerB.Media.Codecs})
//	// relay: leg A uses negA, leg B uses answerB.Media
//
// Errors classify themselves: StatusCode(err) gives 488 when there is no
// common codec or no usable audio stream and 400 for a malformed body.
package sdpneg

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// Static payload types of the codecs the PBX relays.
const (
	PTPCMU uint8 = 0
	PTPCMA uint8 = 8
)

// ClockRate is the RTP clock of every codec we keep (G.711 and telephone-event/8000).
const ClockRate = 8000

var (
	// ErrMalformed wraps every syntax or semantic error found in an SDP body.
	ErrMalformed = errors.New("malformed sdp")
	// ErrNoAudio means the SDP holds no usable RTP/AVP audio stream.
	ErrNoAudio = errors.New("sdp has no usable audio stream")
	// ErrNoCommonCodec is matched (errors.Is) by every *NoCommonCodecError.
	ErrNoCommonCodec = errors.New("no common codec")
)

// NoCommonCodecError says which formats the peer offered when none of them is
// PCMU or PCMA. It maps to SIP 488 Not Acceptable Here.
type NoCommonCodecError struct {
	Offered []string // the peer's m= formats, as written
}

func (e *NoCommonCodecError) Error() string {
	return fmt.Sprintf("no common codec: offered [%s], supported [PCMU PCMA]", strings.Join(e.Offered, " "))
}

// Is makes errors.Is(err, ErrNoCommonCodec) true.
func (e *NoCommonCodecError) Is(target error) bool { return target == ErrNoCommonCodec }

// StatusCode maps an error of this package to the SIP status to answer with:
// 488 for no common codec or no audio, 400 for a malformed body, 500 otherwise
// (and 200 for nil).
func StatusCode(err error) int {
	switch {
	case err == nil:
		return 200
	case errors.Is(err, ErrNoCommonCodec), errors.Is(err, ErrNoAudio):
		return 488
	case errors.Is(err, ErrMalformed):
		return 400
	default:
		return 500
	}
}

// Direction is the media direction a party declares for itself (RFC 3264).
// The zero value is SendRecv.
type Direction uint8

// Directions, from the point of view of the party whose SDP it is.
const (
	SendRecv Direction = iota
	SendOnly
	RecvOnly
	Inactive
)

var directionNames = [...]string{"sendrecv", "sendonly", "recvonly", "inactive"}

func (d Direction) String() string {
	if int(d) < len(directionNames) {
		return directionNames[d]
	}
	return fmt.Sprintf("direction(%d)", uint8(d))
}

// Sends reports whether the party will send media.
func (d Direction) Sends() bool { return d == SendRecv || d == SendOnly }

// Receives reports whether the party wants to receive media; false means it
// is on hold from our side's point of view: do not send to it.
func (d Direction) Receives() bool { return d == SendRecv || d == RecvOnly }

// Reverse is the direction an answerer takes by default (RFC 3264 §6.1):
// sendonly becomes recvonly and vice versa.
func (d Direction) Reverse() Direction {
	switch d {
	case SendOnly:
		return RecvOnly
	case RecvOnly:
		return SendOnly
	default:
		return d
	}
}

// Intersect is the direction allowed by both d and o (both seen from the same party).
func (d Direction) Intersect(o Direction) Direction {
	return makeDirection(d.Sends() && o.Sends(), d.Receives() && o.Receives())
}

func makeDirection(send, recv bool) Direction {
	switch {
	case send && recv:
		return SendRecv
	case send:
		return SendOnly
	case recv:
		return RecvOnly
	default:
		return Inactive
	}
}

func parseDirection(s string) (Direction, bool) {
	for i, n := range directionNames {
		if s == n {
			return Direction(i), true
		}
	}
	return SendRecv, false
}

// Media is what the relay needs to know about one party's audio stream.
type Media struct {
	// Addr is where the party wants RTP (c= address, m= port). Its address is
	// unspecified (0.0.0.0 or ::) when the party put the call on hold that way.
	Addr netip.AddrPort
	// Direction as declared by the party; c=0.0.0.0 removes "receives".
	Direction Direction
	// Codecs are the supported audio payload types (PTPCMU, PTPCMA) in the
	// party's order of preference. After Answer it holds the one chosen codec.
	Codecs []uint8
	// EventPT is the payload type of telephone-event/8000, 0 when absent.
	EventPT uint8
	// EventFmtp is the a=fmtp value of telephone-event ("0-16"), if any.
	EventFmtp string
	// Ptime is the a=ptime value in milliseconds, 0 when absent.
	Ptime int
}

// Codec is the first (preferred) codec, PTPCMU when there is none.
func (m Media) Codec() uint8 {
	if len(m.Codecs) == 0 {
		return PTPCMU
	}
	return m.Codecs[0]
}

// Hold reports whether the party does not want to receive media now.
func (m Media) Hold() bool { return !m.Direction.Receives() }

func codecName(pt uint8) string {
	if pt == PTPCMA {
		return "PCMA"
	}
	return "PCMU"
}
