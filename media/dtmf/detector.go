package dtmf

// recentEvents is how many past events the Detector remembers, so that a
// late retransmitted end packet of an earlier digit is not reported again.
const recentEvents = 8

// longEventStep: a sender whose event outlasts the 16-bit duration field
// continues it under a new timestamp, old + 0xFFFF (RFC 4733 §2.5.1.3).
const longEventStep = 0xFFFF

// Detector turns a stream of telephone-event packets into digits. Packets
// of one event share an RTP timestamp; the start may be repeated and the
// end is sent three times. A digit is reported once, on the first packet
// of its event (so a lost end packet neither loses nor delays it).
//
// A Detector is used by the goroutine that reads one leg's RTP; it is not
// safe for concurrent use. The zero value is ready.
type Detector struct {
	recent [recentEvents]seen
	next   int
	n      int
	cur    seen // the most recent event
	curOK  bool
}

type seen struct {
	ts    uint32
	code  uint8
	ended bool
}

// Packet feeds one telephone-event packet: its RTP timestamp and payload.
// It returns the digit when the packet starts a new DTMF event. Events
// that are not DTMF digits (codes above 15) are ignored; a malformed
// payload returns an ErrPayload error.
func (d *Detector) Packet(ts uint32, payload []byte) (digit rune, ok bool, err error) {
	ev, err := Parse(payload)
	if err != nil {
		return 0, false, err
	}
	if d.curOK && d.cur.ts == ts {
		d.cur.ended = d.cur.ended || ev.End
		return 0, false, nil
	}
	if d.continuation(ts, ev.Code) {
		d.cur.ts = ts
		d.cur.ended = ev.End
		d.remember(d.cur)
		return 0, false, nil
	}
	if d.known(ts) {
		return 0, false, nil
	}
	d.cur = seen{ts: ts, code: ev.Code, ended: ev.End}
	d.curOK = true
	d.remember(d.cur)
	r, ok := Digit(ev.Code)
	return r, ok, nil
}

// continuation reports whether ts continues the current (unended) event
// past the 16-bit duration limit.
func (d *Detector) continuation(ts uint32, code uint8) bool {
	return d.curOK && !d.cur.ended && d.cur.code == code && ts-d.cur.ts == longEventStep
}

func (d *Detector) known(ts uint32) bool {
	for i := range d.n {
		if d.recent[i].ts == ts {
			return true
		}
	}
	return false
}

func (d *Detector) remember(s seen) {
	d.recent[d.next] = s
	d.next = (d.next + 1) % recentEvents
	d.n = min(d.n+1, recentEvents)
}

// Reset forgets all events (e.g. after the SSRC of the stream changed).
func (d *Detector) Reset() { *d = Detector{} }
