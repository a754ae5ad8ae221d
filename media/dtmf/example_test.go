package dtmf_test

import (
	"fmt"

	"luapbx/media/dtmf"
)

// A sender generates the packets of each digit; the receiver's Detector
// reports every digit once, however many packets carry it.
func Example() {
	var det dtmf.Detector
	ts := uint32(16000)
	for _, digit := range "12#" {
		packets, err := dtmf.Generator{}.Packets(digit, 0)
		if err != nil {
			panic(err)
		}
		for _, p := range packets { // all share the event's RTP timestamp
			if d, ok, _ := det.Packet(ts, p.Payload[:]); ok {
				fmt.Printf("%c ", d)
			}
		}
		ts += 1600
	}
	fmt.Println()
	// Output: 1 2 #
}
