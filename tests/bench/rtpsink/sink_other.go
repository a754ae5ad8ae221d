//go:build !linux

package main

import (
	"context"
	"errors"
	"time"
)

// sink is Linux only (epoll); elsewhere openSink says so.
type sink struct {
	names []string
	bound [][]int
}

func openSink([]side, int, time.Duration) (*sink, error) {
	return nil, errors.New("rtpsink runs on Linux only")
}

func (*sink) run(context.Context) error { return nil }
func (s *sink) snapshot() []counts      { return make([]counts, len(s.names)) }
func (*sink) close()                    {}
