package dtmf

import (
	"fmt"
	"time"
)

// Defaults for a Generator's zero fields.
const (
	DefaultVolume    = 10
	DefaultInterval  = 20 * time.Millisecond
	DefaultClockRate = 8000
	DefaultDuration  = 100 * time.Millisecond
	endRepeats       = 3
)

// Generator produces the RFC 4733 packet sequence for one digit. The zero
// value uses volume 10 (-10 dBm0), 20 ms packets and an 8 kHz clock.
type Generator struct {
	Volume    uint8
	Interval  time.Duration
	ClockRate int
}

// Packet is one packet of an event. All packets of an event carry the same
// RTP timestamp (the event's start) and consecutive sequence numbers; At
// is when to send it relative to the first.
type Packet struct {
	Marker  bool // set on the first packet only
	At      time.Duration
	Event   Event
	Payload [PayloadSize]byte
}

// Packets returns the sequence for digit lasting dur (DefaultDuration if
// zero): a start packet with the marker bit, updates every Interval with a
// growing duration, then three identical end packets. After sending them
// the sender advances its RTP timestamp by Samples(dur).
func (g Generator) Packets(digit rune, dur time.Duration) ([]Packet, error) {
	code, ok := Code(digit)
	if !ok {
		return nil, fmt.Errorf("dtmf: %q is not a DTMF digit (0-9 * # A-D)", digit)
	}
	g = g.withDefaults()
	if dur <= 0 {
		dur = DefaultDuration
	}
	total := g.Samples(dur)
	step := g.Samples(g.Interval)
	if total > 0xFFFF || step == 0 {
		return nil, fmt.Errorf("dtmf: duration %v does not fit one event", dur)
	}
	var out []Packet
	add := func(d int, end bool) {
		ev := Event{Code: code, End: end, Volume: g.Volume, Duration: uint16(d)}
		p := Packet{Marker: len(out) == 0, At: time.Duration(len(out)) * g.Interval, Event: ev}
		ev.Marshal(p.Payload[:0])
		out = append(out, p)
	}
	for d := step; d < total; d += step {
		add(d, false)
	}
	for range endRepeats {
		add(total, true)
	}
	return out, nil
}

// Samples converts a duration to RTP timestamp units at the clock rate.
func (g Generator) Samples(d time.Duration) int {
	g = g.withDefaults()
	return int(d * time.Duration(g.ClockRate) / time.Second)
}

func (g Generator) withDefaults() Generator {
	if g.Volume == 0 {
		g.Volume = DefaultVolume
	}
	g.Volume &= MaxVolume
	if g.Interval <= 0 {
		g.Interval = DefaultInterval
	}
	if g.ClockRate <= 0 {
		g.ClockRate = DefaultClockRate
	}
	return g
}
