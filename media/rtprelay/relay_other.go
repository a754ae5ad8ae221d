//go:build !linux

package rtprelay

import "time"

// PollInterval and UsePoller only matter on Linux (see poller_linux.go).
var (
	PollInterval = time.Millisecond
	UsePoller    = true
)

type rawSock struct{}

func (r *Relay) startPoller() (stop func(), ok bool, err error) { return nil, false, nil }

func (r *Relay) closeSocket(i Leg) error { return r.legs[i].sock.Close() }
