package mediacall

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"luapbx/engine/call"
	"luapbx/media/sdpneg"
)

func sdpFor(port int, pts string) []byte {
	return fmt.Appendf(nil, "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"+
		"m=audio %d RTP/AVP %s\r\n", port, pts)
}

func udp(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func port(c *net.UDPConn) int { return c.LocalAddr().(*net.UDPAddr).Port }

// anchoredPort reads the port our SDP announces.
func anchoredPort(t *testing.T, body []byte) netip.AddrPort {
	t.Helper()
	s, err := sdpneg.Parse(body)
	if err != nil {
		t.Fatal(err)
	}
	return s.Media.Addr
}

func rtpPacket(seq uint16) []byte {
	b := make([]byte, 12+160)
	b[0], b[1] = 0x80, 0
	b[2], b[3] = byte(seq>>8), byte(seq)
	b[7] = byte(seq) // timestamp
	b[11] = 1        // ssrc
	return b
}

func TestRewriteErrors(t *testing.T) {
	a := newAnchor(t, nil)
	tests := []struct {
		name, leg string
		body      []byte
		want      int
	}{
		{"no common codec", "b", sdpFor(4000, "9 18"), 488},
		{"malformed", "b", []byte("v=0\r\nthis is not sdp"), 400},
		{"answer before offer", "a", sdpFor(4000, "0"), 500},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &call.Call{ID: tc.name}
			out, err := a.RewriteSDPErr(c, tc.leg, tc.body)
			if err == nil || sdpneg.StatusCode(err) != tc.want {
				t.Fatalf("err %v (code %d), want %d", err, sdpneg.StatusCode(err), tc.want)
			}
			if got := a.RewriteSDP(c, tc.leg, tc.body); string(got) != string(tc.body) || out != nil {
				t.Errorf("RewriteSDP did not pass the body through")
			}
			a.OnEnd(call.End{Call: c})
			if a.InUse() != 0 {
				t.Errorf("%d ports in use", a.InUse())
			}
			if tc.leg == "b" && a.CheckOffer(tc.body) != tc.want {
				t.Errorf("CheckOffer %d, want %d", a.CheckOffer(tc.body), tc.want)
			}
		})
	}
	if code := a.CheckOffer(sdpFor(4000, "8 101")); code != 0 {
		t.Errorf("CheckOffer of a PCMA offer: %d", code)
	}
}

// TestLatching: the callee announces one port and sends from another;
// the relay sends the caller's audio to where the callee's RTP came from.
func TestLatching(t *testing.T) {
	a := newAnchor(t, nil)
	c := &call.Call{ID: "latch", Start: time.Now()}
	callerSock, announced, real := udp(t), udp(t), udp(t)
	toB, err := a.RewriteSDPErr(c, "b", sdpFor(port(callerSock), "0"))
	if err != nil {
		t.Fatal(err)
	}
	toA, err := a.RewriteSDPErr(c, "a", sdpFor(port(announced), "0"))
	if err != nil {
		t.Fatal(err)
	}
	pbxA, pbxB := anchoredPort(t, toA), anchoredPort(t, toB)
	if pbxA == pbxB || pbxA.Port() == 0 {
		t.Fatalf("anchored ports %v %v", pbxA, pbxB)
	}
	// The callee talks from its real port; then the caller talks.
	buf := make([]byte, 1500)
	for i := range 5 {
		if _, err := real.WriteToUDPAddrPort(rtpPacket(uint16(i)), pbxB); err != nil {
			t.Fatal(err)
		}
	}
	_ = callerSock.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := callerSock.Read(buf); err != nil {
		t.Fatalf("caller got nothing from the callee: %v", err)
	}
	for i := range 5 {
		if _, err := callerSock.WriteToUDPAddrPort(rtpPacket(uint16(i)), pbxA); err != nil {
			t.Fatal(err)
		}
	}
	_ = real.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := real.Read(buf); err != nil {
		t.Fatalf("latched port got nothing: %v", err)
	}
	_ = announced.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if _, err := announced.Read(buf); err == nil {
		t.Error("the announced port still gets audio after latching")
	} else if ne := (net.Error)(nil); !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("read: %v", err)
	}
	a.OnEnd(call.End{Call: c})
	if a.InUse() != 0 {
		t.Errorf("%d ports in use", a.InUse())
	}
}

// TestHoldDirection: hold and resume from either side. The callee's own
// re-INVITE reaches the caller as an offer ("a-offer"), which the caller's
// answer to a hold (recvonly) must not narrow on resume; the caller's hold,
// answered sendrecv by a callee that ignores directions, is answered to
// the caller as recvonly.
func TestHoldDirection(t *testing.T) {
	type step struct {
		leg, dir   string
		fromCallee bool
		want       sdpneg.Direction // of what we send the caller, for the "a" steps
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"callee holds and resumes", []step{
			{"b", "sendrecv", false, 0},                    // the caller's INVITE
			{"a", "sendrecv", true, sdpneg.SendRecv},       // the callee's 200
			{"a-offer", "sendonly", true, sdpneg.SendOnly}, // the callee holds
			{"b-answer", "recvonly", false, 0},             // the caller's answer
			{"a-offer", "sendrecv", true, sdpneg.SendRecv}, // the callee resumes
			{"b-answer", "sendrecv", false, 0},             // the caller's answer
		}},
		{"caller holds and resumes", []step{
			{"b", "sendrecv", false, 0},
			{"a", "sendrecv", true, sdpneg.SendRecv},
			{"b", "sendonly", false, 0},              // the caller holds
			{"a", "sendrecv", true, sdpneg.RecvOnly}, // a callee answering sendrecv
			{"b", "sendrecv", false, 0},              // the caller resumes
			{"a", "sendrecv", true, sdpneg.SendRecv},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newAnchor(t, nil)
			c := &call.Call{ID: "holds"}
			caller, callee := udp(t), udp(t)
			dir := func(body []byte, d string) []byte { return append(body, "a="+d+"\r\n"...) }
			for i, st := range tc.steps {
				from := caller
				if st.fromCallee {
					from = callee
				}
				out, err := a.RewriteSDPErr(c, st.leg, dir(sdpFor(port(from), "0 8"), st.dir))
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if !st.fromCallee {
					continue
				}
				s, err := sdpneg.Parse(out)
				if err != nil {
					t.Fatal(err)
				}
				if s.Media.Direction != st.want {
					t.Errorf("step %d: the caller gets %s, want %s", i, s.Media.Direction, st.want)
				}
			}
			a.OnEnd(call.End{Call: c})
		})
	}
}
