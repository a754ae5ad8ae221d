//go:build !linux

package portpool

import (
	"errors"
	"net"
	"net/netip"
)

// bind opens the port as a socket of Go's network poller.
func bind(port *Port, local netip.AddrPort) error { return listenGo(port, local) }

func fdConn(int, int) (*net.UDPConn, error) { return nil, errors.New("rtp port: no socket") }

func closeFD(int) error { return errors.New("rtp port: no descriptor to close") }
