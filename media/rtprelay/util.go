package rtprelay

import (
	"math"
	"net"
)

func floatBits(f float64) uint64 { return math.Float64bits(f) }

func localPort(s Socket) int {
	if a, ok := s.LocalAddr().(*net.UDPAddr); ok {
		return a.Port
	}
	return 0
}
