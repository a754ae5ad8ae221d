package rtprelay

import (
	"net"
)

// startPoller hands both sockets to a poller; ok is false when the relay
// must read with goroutines instead (UsePoller off, or a socket that
// cannot give its descriptor). stop takes the sockets out of the poller.
func (r *Relay) startPoller() (stop func(), ok bool, err error) {
	if !UsePoller || !canTake(r.legs[A].sock) || !canTake(r.legs[B].sock) {
		return nil, false, nil
	}
	p, err := getPoller(r.log)
	if err != nil {
		r.log.Debug("rtp poller unavailable, one goroutine per leg", "err", err)
		return nil, false, nil
	}
	for i, l := range r.legs {
		if r.raw[i], err = takeSocket(l.sock); err != nil {
			return nil, false, err
		}
	}
	for i, rs := range r.raw {
		r.dropsBase[i], _ = socketDrops(rs.fd) // 0 when unavailable
	}
	fa := &forwarder{r: r, in: r.legs[A], out: r.legs[B]}
	fb := &forwarder{r: r, in: r.legs[B], out: r.legs[A]}
	ids, err := p.register(r, fa, fb, r.raw[A], r.raw[B])
	if err != nil {
		return nil, false, err
	}
	return func() {
		p.unregister(ids)
		r.noteOverflow()
	}, true, nil
}

// noteOverflow reads, once the poller is done with the sockets, how many
// datagrams the kernel dropped on each for a full receive buffer, and says
// so: that loss happens before the relay sees a packet, so no other counter
// or log line would show it.
func (r *Relay) noteOverflow() {
	for i, rs := range r.raw {
		if rs == nil {
			continue
		}
		n, err := socketDrops(rs.fd)
		if err != nil {
			r.log.Debug("rtp socket drop count unavailable", "leg", Leg(i).String(), "err", err)
			continue
		}
		n -= min(n, r.dropsBase[i]) // before the relay took the socket
		r.legs[i].overflow.Store(n)
		if n > 0 {
			r.log.Warn("rtp receive buffer overflowed: datagrams dropped before the relay read them",
				"leg", Leg(i).String(), "dropped", n, "packets_in", r.legs[i].pktIn.Load())
		}
	}
}

func canTake(s Socket) bool {
	switch s.(type) {
	case fdTaker, *net.UDPConn:
		return true
	}
	return false
}

// closeSocket closes a leg's socket, or the descriptor the relay took
// from it.
func (r *Relay) closeSocket(i Leg) error {
	if rs := r.raw[i]; rs != nil && rs.own {
		return closeFD(rs.fd)
	}
	return r.legs[i].sock.Close()
}
