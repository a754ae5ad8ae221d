package phone

import "time"

// rxStats counts received RTP as RFC 3550 A.1 and A.8 do (loss from the
// extended highest sequence number, interarrival jitter in timestamp units).
// A new SSRC restarts the sequence and jitter state.
type rxStats struct {
	packets  uint64
	received int64 // of the current SSRC
	ssrc     uint32
	started  bool
	baseSeq  uint32
	maxSeq   uint32 // extended
	lostPrev int64  // lost in earlier SSRCs
	jitter   float64
	transit  int64
	haveTr   bool

	// recording placement
	tsSet  bool
	ts0    uint32
	tsBase int
}

func (s *rxStats) packet(h rtpHeader, at time.Time) {
	s.packets++
	if !s.started || h.ssrc != s.ssrc {
		if s.started {
			s.lostPrev += s.lostCur()
		}
		s.started, s.ssrc = true, h.ssrc
		s.baseSeq, s.maxSeq, s.received, s.haveTr = uint32(h.seq), uint32(h.seq), 0, false
	}
	s.received++
	ext := s.maxSeq&^0xffff | uint32(h.seq)
	switch d := int16(h.seq - uint16(s.maxSeq)); {
	case d > 0:
		if uint16(h.seq) < uint16(s.maxSeq) {
			ext += 1 << 16
		}
		s.maxSeq = ext
	}
	if h.pt == ptPCMU || h.pt == ptPCMA {
		arrival := at.UnixNano() * 8000 / int64(time.Second)
		tr := arrival - int64(h.ts)
		if s.haveTr {
			d := tr - s.transit
			if d < 0 {
				d = -d
			}
			s.jitter += (float64(d) - s.jitter) / 16
		}
		s.transit, s.haveTr = tr, true
	}
}

func (s *rxStats) lostCur() int64 {
	if !s.started {
		return 0
	}
	expected := int64(s.maxSeq-s.baseSeq) + 1
	return max(expected-s.received, 0)
}

func (s *rxStats) lost() int64 { return s.lostPrev + s.lostCur() }
