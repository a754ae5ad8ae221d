package phone

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pion/sdp/v3"
)

// Static payload types we speak, in order of preference, and the dynamic
// type we offer for RFC 4733 telephone-events.
const (
	ptPCMU        = 0
	ptPCMA        = 8
	ptEventsOffer = 101
)

var codecNames = map[uint8]string{ptPCMU: "PCMU", ptPCMA: "PCMA"}

// Session is the negotiated media of a call, given to Media.Start.
type Session struct {
	Remote      netip.AddrPort // where to send RTP
	PayloadType uint8          // 0 PCMU or 8 PCMA
	Codec       string         // "PCMU" or "PCMA"
	// EventsPT is the telephone-event payload type, -1 when not negotiated.
	EventsPT int
}

var sdpVersion atomic.Uint64

// offerSDP returns our offer: codecs and telephone-event on port.
func offerSDP(ip netip.Addr, port int, codecs []uint8) []byte {
	return buildSDP(ip, port, codecs, ptEventsOffer)
}

// answerSDP answers an offer with the first codec of ours it contains.
func answerSDP(ip netip.Addr, port int, offer Session) []byte {
	return buildSDP(ip, port, []uint8{offer.PayloadType}, offer.EventsPT)
}

func buildSDP(ip netip.Addr, port int, pts []uint8, eventsPT int) []byte {
	id := time.Now().UnixNano()/1000 + int64(sdpVersion.Add(1))
	family := "IP4"
	if ip.Is6() && !ip.Is4In6() {
		family = "IP6"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "v=0\r\no=- %d %d IN %s %s\r\ns=luapbx phone\r\nc=IN %s %s\r\nt=0 0\r\n",
		id, id, family, ip.Unmap(), family, ip.Unmap())
	fmt.Fprintf(&b, "m=audio %d RTP/AVP", port)
	for _, pt := range pts {
		fmt.Fprintf(&b, " %d", pt)
	}
	if eventsPT >= 0 {
		fmt.Fprintf(&b, " %d", eventsPT)
	}
	b.WriteString("\r\n")
	for _, pt := range pts {
		fmt.Fprintf(&b, "a=rtpmap:%d %s/8000\r\n", pt, codecNames[pt])
	}
	if eventsPT >= 0 {
		fmt.Fprintf(&b, "a=rtpmap:%d telephone-event/8000\r\na=fmtp:%d 0-16\r\n", eventsPT, eventsPT)
	}
	b.WriteString("a=ptime:20\r\na=sendrecv\r\n")
	return []byte(b.String())
}

var errNoCodec = errors.New("phone: no common codec (PCMU/PCMA)")

// parseSDP reads the remote audio address and picks the first offered
// codec we support, and telephone-event if present.
func parseSDP(body []byte) (Session, error) {
	return parseSDPFor(body, []uint8{ptPCMU, ptPCMA})
}

// parseSDPFor is parseSDP accepting only codecs.
func parseSDPFor(body []byte, codecs []uint8) (Session, error) {
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(body); err != nil {
		return Session{}, fmt.Errorf("phone: parse sdp: %w", err)
	}
	for _, md := range sd.MediaDescriptions {
		if md.MediaName.Media != "audio" {
			continue
		}
		s := Session{EventsPT: -1}
		conn := sd.ConnectionInformation
		if md.ConnectionInformation != nil {
			conn = md.ConnectionInformation
		}
		if conn == nil || conn.Address == nil {
			return Session{}, errors.New("phone: sdp without connection address")
		}
		ip, err := netip.ParseAddr(conn.Address.Address)
		if err != nil {
			return Session{}, fmt.Errorf("phone: sdp address: %w", err)
		}
		s.Remote = netip.AddrPortFrom(ip, uint16(md.MediaName.Port.Value))
		chosen := false
		for _, f := range md.MediaName.Formats {
			pt, err := strconv.Atoi(f)
			if err != nil {
				continue
			}
			if name, ok := codecNames[uint8(pt)]; ok && pt < 96 && !chosen && slices.Contains(codecs, uint8(pt)) {
				s.PayloadType, s.Codec, chosen = uint8(pt), name, true
			}
			if rm, ok := rtpmap(md, f); ok && strings.EqualFold(rm, "telephone-event/8000") {
				s.EventsPT = pt
			}
		}
		if !chosen {
			return Session{}, errNoCodec
		}
		return s, nil
	}
	return Session{}, errors.New("phone: sdp without audio")
}

func rtpmap(md *sdp.MediaDescription, pt string) (string, bool) {
	for _, a := range md.Attributes {
		if a.Key != "rtpmap" {
			continue
		}
		if p, v, ok := strings.Cut(a.Value, " "); ok && p == pt {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}
