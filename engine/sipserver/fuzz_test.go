package sipserver

import (
	"strings"
	"testing"
)

func FuzzParseListen(f *testing.F) {
	for _, s := range []string{"udp:127.0.0.1:5060", "tcp:[::1]:0", "udp:", "x:y:z", "udp:host:-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		network, addr, err := ParseListen(spec)
		if err != nil {
			return
		}
		if network != "udp" && network != "tcp" {
			t.Fatalf("network %q from %q", network, spec)
		}
		if !strings.Contains(addr, ":") {
			t.Fatalf("address %q without port from %q", addr, spec)
		}
	})
}
