package rtprelay

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/pion/rtp"

	"luapbx/media/g711"
)

// maxPacket is the largest datagram we read; larger ones are truncated and
// then rejected as malformed by the length checks.
const maxPacket = 1500

// pump reads leg in and forwards to leg out until the relay stops.
func (r *Relay) pump(in, out *leg) {
	f := forwarder{r: r, in: in, out: out}
	buf := make([]byte, maxPacket)
	for {
		n, src, err := in.sock.ReadFromUDPAddrPort(buf)
		if err != nil {
			if r.stopping.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			r.log.Debug("rtp read failed", "leg", in.id.String(), "err", err)
			time.Sleep(time.Millisecond) // never spin on a broken socket
			continue
		}
		f.handle(buf[:n], src, time.Now())
	}
}

// forwarder is one direction's packet path; it belongs to the reader of in.
type forwarder struct {
	r       *Relay
	in, out *leg
	pkt     rtp.Packet
}

// handle processes one datagram from src and sends it on when it should.
func (f *forwarder) handle(b []byte, src netip.AddrPort, at time.Time) {
	dst, ok := f.process(b, src, at)
	if !ok {
		return
	}
	if _, err := f.out.sock.WriteToUDPAddrPort(b, dst); err != nil {
		f.in.dropped.Add(1)
		return
	}
	f.out.pktOut.Add(1)
	f.out.bytesOut.Add(uint64(len(b)))
}

// process validates, accounts, taps and rewrites b in place for the other
// leg; ok is false when the packet must not be sent.
func (f *forwarder) process(b []byte, src netip.AddrPort, at time.Time) (netip.AddrPort, bool) {
	in, out := f.in, f.out
	now := int64(at.Sub(f.r.epoch))
	if !in.parse(&f.pkt, b, src, now) {
		return netip.AddrPort{}, false
	}
	in.pktIn.Add(1)
	in.bytesIn.Add(uint64(len(b)))
	h := &f.pkt.Header
	inCfg, outCfg := in.cfg.Load(), out.cfg.Load()
	isEvent := inCfg.EventPT != 0 && h.PayloadType == inCfg.EventPT
	in.rx.update(h.SSRC, h.SequenceNumber, h.Timestamp, uint32(now*8000/int64(time.Second)), !isEvent)
	in.lost.Store(in.rx.lost())
	in.jitter.Store(floatBits(in.rx.jitter))
	if tap := f.r.tap.Load(); tap != nil {
		(*tap).WriteRTP(int(in.id), h.PayloadType, h.Timestamp, f.pkt.Payload, at)
	}

	outPT, ok := f.mapPT(h.PayloadType, isEvent, outCfg)
	dst := out.remote.Load()
	if !ok || dst == nil || !outCfg.Direction.Receives() {
		in.dropped.Add(1)
		return netip.AddrPort{}, false
	}
	if !isEvent && outPT != h.PayloadType {
		f.transcode(h.PayloadType)
	}
	seq, ts, newSource := out.tx.next(h.SSRC, h.SequenceNumber, h.Timestamp, now)
	marker := b[1] & 0x80
	if newSource && !isEvent {
		marker = 0x80 // a new talkspurt for the receiver's jitter buffer
	}
	b[1] = marker | outPT
	binary.BigEndian.PutUint16(b[2:], seq)
	binary.BigEndian.PutUint32(b[4:], ts)
	binary.BigEndian.PutUint32(b[8:], out.tx.ssrc)
	return *dst, true
}

// mapPT gives the payload type to send to the other leg, or false to drop.
func (f *forwarder) mapPT(pt uint8, isEvent bool, outCfg *LegConfig) (uint8, bool) {
	switch {
	case isEvent:
		return outCfg.EventPT, outCfg.EventPT != 0
	case pt == g711.PTPCMU || pt == g711.PTPCMA:
		return outCfg.Codec, outCfg.Codec == g711.PTPCMU || outCfg.Codec == g711.PTPCMA
	default:
		return 0, false
	}
}

// transcode converts the payload between the G.711 laws in place (the
// conversions map each byte on its own).
func (f *forwarder) transcode(from uint8) {
	p := f.pkt.Payload
	if from == g711.PTPCMU {
		g711.UlawToAlaw(p, p)
	} else {
		g711.AlawToUlaw(p, p)
	}
}
