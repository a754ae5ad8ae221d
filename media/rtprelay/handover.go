package rtprelay

import (
	"errors"
	"time"
)

// ErrDetached is what ReadPacket returns once StopReading was called.
var ErrDetached = errors.New("endpoint detached")

// Handover is an Endpoint's leg given to a Relay (Config.HandoverA): the
// socket, the negotiated config, the latched address and the counters go
// on as they were, and what the peer receives stays one stream (same SSRC,
// sequence numbers and timestamps continuing from the Endpoint's last
// packet). It is how a caller the PBX answered itself (an IVR) is bridged
// to a callee without a re-INVITE: its SDP stays valid.
type Handover struct {
	leg    *leg
	epoch  time.Time
	sent   bool
	seq    uint16 // next sequence number
	lastTS uint32
	lastAt int64
}

// StopReading makes the reader's ReadPacket return ErrDetached (at once,
// or as soon as it next reads) without closing the socket. Call it before
// Detach.
func (e *Endpoint) StopReading() {
	e.stopRead.Store(true)
	_ = e.leg.sock.SetReadDeadline(time.Unix(1, 0)) // wakes a blocked read
}

// Detach hands the Endpoint's leg over for a Relay (Config.HandoverA).
// The reader must have returned from ReadPacket after StopReading and no
// write may be in progress or follow. Afterwards Close does nothing: the
// Relay owns the socket. It fails once the Endpoint is closed or detached.
func (e *Endpoint) Detach() (*Handover, error) {
	if !e.stopRead.Load() {
		return nil, errors.New("endpoint: detach before StopReading")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case e.closed:
		return nil, errors.New("endpoint: detach after close")
	case e.detached:
		return nil, errors.New("endpoint: detached twice")
	}
	if err := e.leg.sock.SetReadDeadline(time.Time{}); err != nil {
		return nil, err
	}
	e.detached = true
	return &Handover{leg: e.leg, epoch: e.epoch, sent: e.sent, seq: e.seq, lastTS: e.lastTS, lastAt: e.lastAt}, nil
}

// Close gives up a Handover that no Relay took: it closes the socket.
func (h *Handover) Close() error { return h.leg.sock.Close() }

// LocalPort is the handed-over socket's UDP port.
func (h *Handover) LocalPort() int { return localPort(h.leg.sock) }

// adopt makes h's leg leg A of a new relay: the relay's clock is the
// Endpoint's (latching and timing state stay meaningful) and the stream
// sent to the peer continues the Endpoint's.
func (h *Handover) adopt() *leg {
	l := h.leg
	if h.sent {
		l.tx.started = true
		l.tx.lastSeq = h.seq - 1
		l.tx.lastTS = h.lastTS
		l.tx.lastAt = h.lastAt
		l.tx.forceNew = true // the first relayed packet is a new source
	}
	return l
}
