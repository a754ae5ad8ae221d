package admin

import "testing"

func TestCheckExposure(t *testing.T) {
	for _, tc := range []struct {
		name, addr, token string
		ok                bool
	}{
		{"loopback v4", "127.0.0.1:8080", "", true},
		{"loopback v6", "[::1]:8080", "", true},
		{"localhost", "localhost:8080", "", true},
		{"off", "", "", true},
		{"all interfaces without token", "0.0.0.0:8080", "", false},
		{"lan address without token", "192.0.2.10:8080", "", false},
		{"all interfaces with token", "0.0.0.0:8080", "secret-token-of-some-length", true},
		{"bad address", "8080", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckExposure(tc.addr, tc.token)
			if (err == nil) != tc.ok {
				t.Fatalf("CheckExposure(%q, %q) = %v, want ok=%v", tc.addr, tc.token, err, tc.ok)
			}
		})
	}
}
