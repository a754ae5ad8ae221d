//go:build !linux

package rtprelay

import "time"

// PollInterval, UsePoller, PollerNice and PollerRTPriority only matter on
// Linux (see poller_linux.go).
var (
	PollInterval     = time.Millisecond
	UsePoller        = true
	PollerNice       = 0
	PollerRTPriority = 0
)

type rawSock struct{}

func (r *Relay) startPoller() (stop func(), ok bool, err error) { return nil, false, nil }

func (r *Relay) closeSocket(i Leg) error { return r.legs[i].sock.Close() }
