package sdpneg

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
)

// MaxSize bounds the SDP body accepted by Parse.
const MaxSize = 16 << 10

// Session is a parsed SDP body: the description as pion read it plus the
// audio stream the PBX will relay. It is not modified by the builders, so one
// Session can produce several SDPs (an offer for each forked B leg).
type Session struct {
	Desc  *sdp.SessionDescription
	Audio int   // index in Desc.MediaDescriptions of the relayed audio stream
	Media Media // that stream, with only what we support
}

// Parse reads an SDP offer or answer. Malformed input gives an error wrapping
// ErrMalformed; SDP without an RTP/AVP audio stream gives ErrNoAudio; an
// audio stream without PCMU or PCMA gives a *NoCommonCodecError.
func Parse(body []byte) (*Session, error) {
	if len(body) == 0 {
		return nil, fmt.Errorf("%w: empty body", ErrMalformed)
	}
	if len(body) > MaxSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrMalformed, len(body), MaxSize)
	}
	desc := &sdp.SessionDescription{}
	if err := desc.Unmarshal(body); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if desc.Version != 0 {
		return nil, fmt.Errorf("%w: v=%d, want 0", ErrMalformed, desc.Version)
	}
	idx, err := findAudio(desc)
	if err != nil {
		return nil, err
	}
	media, err := parseAudio(desc, desc.MediaDescriptions[idx])
	if err != nil {
		return nil, err
	}
	return &Session{Desc: desc, Audio: idx, Media: media}, nil
}

// findAudio returns the first audio stream with a non-zero port and plain RTP.
func findAudio(desc *sdp.SessionDescription) (int, error) {
	if len(desc.MediaDescriptions) == 0 {
		return 0, fmt.Errorf("%w: no m= line", ErrNoAudio)
	}
	for i, md := range desc.MediaDescriptions {
		if md.MediaName.Media == "audio" && md.MediaName.Port.Value != 0 && isPlainRTP(md.MediaName.Protos) {
			return i, nil
		}
	}
	return 0, fmt.Errorf("%w: no m=audio with RTP/AVP and a non-zero port", ErrNoAudio)
}

func isPlainRTP(protos []string) bool {
	p := strings.ToUpper(strings.Join(protos, "/"))
	return p == "RTP/AVP" || p == "RTP/AVPF"
}

func parseAudio(desc *sdp.SessionDescription, md *sdp.MediaDescription) (Media, error) {
	var m Media
	port := md.MediaName.Port.Value
	if port < 1 || port > 65535 {
		return m, fmt.Errorf("%w: audio port %d out of range", ErrMalformed, port)
	}
	addr, err := connectionAddr(desc, md)
	if err != nil {
		return m, err
	}
	m.Addr = netip.AddrPortFrom(addr, uint16(port))
	m.Direction = streamDirection(desc, md)
	if addr.IsUnspecified() {
		m.Direction = makeDirection(m.Direction.Sends(), false)
	}
	if err := parseFormats(md, &m); err != nil {
		return m, err
	}
	if v, ok := md.Attribute("ptime"); ok {
		if p, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && p >= 10 && p <= 200 {
			m.Ptime = p
		}
	}
	return m, nil
}

func connectionAddr(desc *sdp.SessionDescription, md *sdp.MediaDescription) (netip.Addr, error) {
	ci := md.ConnectionInformation
	if ci == nil {
		ci = desc.ConnectionInformation
	}
	if ci == nil || ci.Address == nil {
		return netip.Addr{}, fmt.Errorf("%w: no c= line for the audio stream", ErrMalformed)
	}
	if ci.NetworkType != "IN" {
		return netip.Addr{}, fmt.Errorf("%w: c= network type %q, want IN", ErrMalformed, ci.NetworkType)
	}
	addr, err := netip.ParseAddr(ci.Address.Address)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%w: c= address %q is not an IP address", ErrMalformed, ci.Address.Address)
	}
	if addr.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("%w: c= address %q has a zone", ErrMalformed, ci.Address.Address)
	}
	if (ci.AddressType == "IP4") != addr.Unmap().Is4() {
		return netip.Addr{}, fmt.Errorf("%w: c= address %q does not match type %s", ErrMalformed, ci.Address.Address, ci.AddressType)
	}
	return addr.Unmap(), nil
}

// streamDirection: the media-level attribute wins over the session-level one.
func streamDirection(desc *sdp.SessionDescription, md *sdp.MediaDescription) Direction {
	for _, a := range md.Attributes {
		if d, ok := parseDirection(a.Key); ok {
			return d
		}
	}
	for _, a := range desc.Attributes {
		if d, ok := parseDirection(a.Key); ok {
			return d
		}
	}
	return SendRecv
}

// parseFormats keeps PCMU, PCMA and the first telephone-event/8000.
func parseFormats(md *sdp.MediaDescription, m *Media) error {
	var arr [16]rtpmap
	maps := rtpmaps(arr[:0], md)
	for _, f := range md.MediaName.Formats {
		n, err := strconv.ParseUint(f, 10, 8)
		if err != nil || n > 127 {
			return fmt.Errorf("%w: payload type %q in m=audio", ErrMalformed, f)
		}
		pt := uint8(n)
		name, hasMap := maps.lookup(pt)
		switch {
		case (pt == PTPCMU || pt == PTPCMA) && (!hasMap || strings.EqualFold(name, codecName(pt)+"/8000")):
			if !containsPT(m.Codecs, pt) {
				m.Codecs = append(m.Codecs, pt)
			}
		case pt >= 96 && m.EventPT == 0 && strings.EqualFold(name, "telephone-event/8000"):
			m.EventPT = pt
			m.EventFmtp = fmtpOf(md, pt)
		}
	}
	if len(m.Codecs) == 0 {
		return &NoCommonCodecError{Offered: append([]string(nil), md.MediaName.Formats...)}
	}
	return nil
}

// rtpmap is one a=rtpmap line: payload type and "name/rate".
type rtpmap struct {
	pt  uint8
	enc string
}

type rtpmapList []rtpmap

func (l rtpmapList) lookup(pt uint8) (string, bool) {
	for _, m := range l {
		if m.pt == pt {
			return m.enc, true
		}
	}
	return "", false
}

// rtpmaps reads a=rtpmap:<pt> <name>/<rate>[/<channels>] into "name/rate",
// appending to dst (a small array on the caller's stack).
func rtpmaps(dst rtpmapList, md *sdp.MediaDescription) rtpmapList {
	for _, a := range md.Attributes {
		if a.Key != "rtpmap" {
			continue
		}
		ptStr, enc, ok := strings.Cut(strings.TrimSpace(a.Value), " ")
		n, err := strconv.ParseUint(ptStr, 10, 8)
		if !ok || err != nil || n > 127 {
			continue
		}
		enc = strings.TrimSpace(enc)
		if name, rate, ok := strings.Cut(enc, "/"); ok {
			if r, _, found := strings.Cut(rate, "/"); found { // drop the channel count
				enc = enc[:len(name)+1+len(r)]
			}
		}
		dst = append(dst, rtpmap{pt: uint8(n), enc: enc})
	}
	return dst
}

func fmtpOf(md *sdp.MediaDescription, pt uint8) string {
	prefix := strconv.Itoa(int(pt)) + " "
	for _, a := range md.Attributes {
		if a.Key == "fmtp" && strings.HasPrefix(a.Value, prefix) {
			return strings.TrimSpace(a.Value[len(prefix):])
		}
	}
	return ""
}

func containsPT(list []uint8, pt uint8) bool {
	for _, p := range list {
		if p == pt {
			return true
		}
	}
	return false
}
