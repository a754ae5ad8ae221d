package phone

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// Media is the media side of one call. The phone opens it before it sends or
// answers an offer (Port goes into the SDP), calls Start once the call is
// answered and the remote SDP is known, and Close when the call ends.
// A later package plugs in playing, recording and DTMF through MediaFactory.
type Media interface {
	// Port is the local RTP port put into the SDP.
	Port() int
	// Start begins media towards s.Remote; it must not block.
	Start(ctx context.Context, s Session) error
	// Stats reports packets received so far.
	Stats() MediaStats
	// Close stops media and waits for its goroutines; safe to call twice.
	Close() error
}

// MediaStats is the media part of a call summary.
type MediaStats struct {
	PacketsIn  uint64 `json:"rtp_packets_in"`
	PacketsOut uint64 `json:"rtp_packets_out"`
	// Lost and JitterMs follow RFC 3550 on what was received.
	Lost     int64   `json:"rtp_lost"`
	JitterMs float64 `json:"rtp_jitter_ms"`
	// DTMF is the RFC 4733 digits received, in order.
	DTMF string `json:"dtmf_received,omitempty"`
}

// MediaFactory opens the media of a call on the local address ip.
type MediaFactory func(ip netip.Addr) (Media, error)

// SilentMedia is the default MediaFactory: a real RTP socket that receives
// and counts packets and sends nothing.
func SilentMedia(ip netip.Addr) (Media, error) {
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
	if err != nil {
		return nil, err
	}
	return &silentMedia{conn: conn}, nil
}

type silentMedia struct {
	conn      *net.UDPConn
	packetsIn atomic.Uint64
	startOnce sync.Once
	closeOnce sync.Once
	wg        sync.WaitGroup
}

func (m *silentMedia) Port() int { return m.conn.LocalAddr().(*net.UDPAddr).Port }

func (m *silentMedia) Start(_ context.Context, _ Session) error {
	m.startOnce.Do(func() {
		m.wg.Go(func() {
			buf := make([]byte, 1500)
			for {
				if _, _, err := m.conn.ReadFromUDPAddrPort(buf); err != nil {
					return
				}
				m.packetsIn.Add(1)
			}
		})
	})
	return nil
}

func (m *silentMedia) Stats() MediaStats { return MediaStats{PacketsIn: m.packetsIn.Load()} }

func (m *silentMedia) Close() error {
	var err error
	m.closeOnce.Do(func() {
		err = m.conn.Close()
		m.wg.Wait()
	})
	return err
}
