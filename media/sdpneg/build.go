package sdpneg

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"sync"

	"github.com/pion/sdp/v3"
)

// DefaultEventPT is the telephone-event payload type we use when we add
// telephone-event ourselves.
const DefaultEventPT uint8 = 101

// Local is what the party receiving our SDP must see: the PBX's address
// (listen.public_ip when set, else the listen IP) and the RTP port of the
// socket we opened for that party's leg.
type Local struct {
	IP   netip.Addr
	Port int
}

func (l Local) validate() error {
	if !l.IP.IsValid() || l.IP.IsUnspecified() {
		return fmt.Errorf("local address %v is not a usable ip", l.IP)
	}
	if l.Port < 1 || l.Port > 65535 {
		return fmt.Errorf("local port %d out of range", l.Port)
	}
	return nil
}

// Origin is our o= line towards one party, for the life of a dialog. Its
// session version grows each time the SDP we send that party changes and
// stays the same when we resend an identical one (RFC 3264 §8). Safe for
// concurrent use.
type Origin struct {
	mu       sync.Mutex
	username string
	id       uint64
	version  uint64
	last     []byte
}

// NewOrigin returns an origin with a random session id (below 2^62 so every
// peer's parser accepts it) and username (default "luapbx").
func NewOrigin(username string) *Origin {
	if username == "" {
		username = "luapbx"
	}
	id := rand.Uint64() >> 2
	return &Origin{username: username, id: id, version: id}
}

// Version is the session version of the last SDP stamped.
func (o *Origin) Version() uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.version
}

// stamp fills desc's o= line and marshals it, bumping the version when the
// result differs from the previous SDP.
func (o *Origin) stamp(desc *sdp.SessionDescription, ip netip.Addr) ([]byte, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	desc.Origin = sdp.Origin{
		Username: o.username, SessionID: o.id, SessionVersion: o.version,
		NetworkType: "IN", AddressType: addrType(ip), UnicastAddress: ip.String(),
	}
	out, err := desc.Marshal()
	if err != nil {
		return nil, fmt.Errorf("marshal sdp: %w", err)
	}
	if o.last != nil && !bytes.Equal(out, o.last) {
		o.version++
		desc.Origin.SessionVersion = o.version
		if out, err = desc.Marshal(); err != nil {
			return nil, fmt.Errorf("marshal sdp: %w", err)
		}
	}
	o.last = out
	return out, nil
}

// Rewrite returns this SDP as the other party must see it: our o= line,
// c= and m= pointing to local, only PCMU/PCMA (in the party's order) and
// telephone-event, the party's direction (a c=0.0.0.0 hold becomes
// sendonly or inactive), and every other stream disabled (port 0).
func (s *Session) Rewrite(o *Origin, local Local) ([]byte, error) {
	return s.build(o, local, s.Media)
}

// Offer is Rewrite plus the codecs we can transcode to: a caller offering only
// PCMU is offered to the callee as PCMU then PCMA, so a PCMA-only callee can
// still answer. The offer is the one to send to the other leg.
func (s *Session) Offer(o *Origin, local Local) ([]byte, error) {
	m := s.Media
	m.Codecs = append([]uint8(nil), m.Codecs...)
	for _, pt := range []uint8{PTPCMU, PTPCMA} {
		if !containsPT(m.Codecs, pt) {
			m.Codecs = append(m.Codecs, pt)
		}
	}
	return s.build(o, local, m)
}

// AnswerOptions tune Answer.
type AnswerOptions struct {
	// Prefer lists codecs to pick first when the offer has them, typically the
	// codec the other leg answered with (avoids transcoding).
	Prefer []uint8
	// Direction is what we are willing to do (default SendRecv); the answer's
	// direction is this intersected with the reverse of the offer's.
	Direction Direction
	// NoEvents leaves telephone-event out of the answer.
	NoEvents bool
}

// Answer builds our answer to this offer: one codec (the first of
// opts.Prefer the offer has, else the offer's first supported codec),
// telephone-event with the offerer's payload type when offered, and the
// direction rules of RFC 3264. It returns the negotiated media of the
// offering party, ready for the relay.
func (s *Session) Answer(o *Origin, local Local, opts AnswerOptions) ([]byte, Media, error) {
	peer := s.Media
	chosen, ok := pickCodec(peer.Codecs, opts.Prefer)
	if !ok {
		return nil, Media{}, &NoCommonCodecError{Offered: s.Desc.MediaDescriptions[s.Audio].MediaName.Formats}
	}
	peer.Codecs = []uint8{chosen}
	if opts.NoEvents {
		peer.EventPT, peer.EventFmtp = 0, ""
	}
	ours := peer
	ours.Direction = peer.Direction.Reverse().Intersect(opts.Direction)
	body, err := s.build(o, local, ours)
	if err != nil {
		return nil, Media{}, err
	}
	return body, peer, nil
}

func pickCodec(offered, prefer []uint8) (uint8, bool) {
	for _, pt := range prefer {
		if containsPT(offered, pt) {
			return pt, true
		}
	}
	if len(offered) == 0 {
		return 0, false
	}
	return offered[0], true
}

var errNoOrigin = errors.New("nil origin")

func (s *Session) build(o *Origin, local Local, m Media) ([]byte, error) {
	if o == nil {
		return nil, errNoOrigin
	}
	local.IP = local.IP.Unmap()
	if err := local.validate(); err != nil {
		return nil, err
	}
	desc := &sdp.SessionDescription{
		SessionName: "luapbx",
		ConnectionInformation: &sdp.ConnectionInformation{
			NetworkType: "IN", AddressType: addrType(local.IP),
			Address: &sdp.Address{Address: local.IP.String()},
		},
		TimeDescriptions:  []sdp.TimeDescription{{}},
		MediaDescriptions: make([]*sdp.MediaDescription, len(s.Desc.MediaDescriptions)),
	}
	for i, md := range s.Desc.MediaDescriptions {
		if i == s.Audio {
			desc.MediaDescriptions[i] = audioDescription(local.Port, m)
		} else {
			desc.MediaDescriptions[i] = disabledDescription(md)
		}
	}
	return o.stamp(desc, local.IP)
}

func audioDescription(port int, m Media) *sdp.MediaDescription {
	md := &sdp.MediaDescription{MediaName: sdp.MediaName{
		Media: "audio", Port: sdp.RangedPort{Value: port}, Protos: []string{"RTP", "AVP"},
	}}
	for _, pt := range m.Codecs {
		md.MediaName.Formats = append(md.MediaName.Formats, strconv.Itoa(int(pt)))
		md.Attributes = append(md.Attributes, sdp.NewAttribute("rtpmap", strconv.Itoa(int(pt))+" "+codecName(pt)+"/8000"))
	}
	if m.EventPT != 0 {
		ev := strconv.Itoa(int(m.EventPT))
		md.MediaName.Formats = append(md.MediaName.Formats, ev)
		md.Attributes = append(md.Attributes, sdp.NewAttribute("rtpmap", ev+" telephone-event/8000"))
		fmtp := m.EventFmtp
		if fmtp == "" {
			fmtp = "0-16"
		}
		md.Attributes = append(md.Attributes, sdp.NewAttribute("fmtp", ev+" "+fmtp))
	}
	if m.Ptime != 0 {
		md.Attributes = append(md.Attributes, sdp.NewAttribute("ptime", strconv.Itoa(m.Ptime)))
	}
	md.Attributes = append(md.Attributes, sdp.NewPropertyAttribute(m.Direction.String()))
	return md
}

// disabledDescription keeps a stream we do not relay in place with port 0,
// so m= lines keep their positions across offer and answer (RFC 3264 §6).
func disabledDescription(md *sdp.MediaDescription) *sdp.MediaDescription {
	formats := md.MediaName.Formats
	if len(formats) == 0 {
		formats = []string{"0"}
	}
	return &sdp.MediaDescription{MediaName: sdp.MediaName{
		Media: md.MediaName.Media, Port: sdp.RangedPort{Value: 0},
		Protos: md.MediaName.Protos, Formats: formats,
	}}
}

func addrType(ip netip.Addr) string {
	if ip.Is4() || ip.Is4In6() {
		return "IP4"
	}
	return "IP6"
}
