package phone

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func newPhone(t *testing.T, cfg Config) *Phone {
	t.Helper()
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// codes renders the codes of s as "in:INVITE:100 ..." for assertions.
func codes(s Summary) string {
	var b []string
	for _, c := range s.Codes {
		b = append(b, fmt.Sprintf("%s:%s:%d", c.Dir, c.Method, c.Code))
	}
	return strings.Join(b, " ")
}

// answerAsync starts answering on b and returns a function that waits for
// the summaries.
func answerAsync(ctx context.Context, t *testing.T, b *Phone, opts AnswerOptions) func() []Summary {
	t.Helper()
	an, err := b.StartAnswer(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	return func() []Summary {
		s, err := an.Wait()
		if err != nil {
			t.Errorf("answer: %v", err)
		}
		return s
	}
}

func TestPhoneToPhone(t *testing.T) {
	tests := []struct {
		name       string
		network    string
		call       CallOptions
		answer     AnswerOptions
		wantCaller string // state/hangup_by/final
		wantCallee string
		callerCode string // substring of caller codes
		calleeCode string
	}{
		{
			name: "caller hangs up", network: "udp",
			call: CallOptions{HangupAfter: 200 * time.Millisecond}, answer: AnswerOptions{Delay: 50 * time.Millisecond},
			wantCaller: "completed/local/200", wantCallee: "completed/remote/200",
			callerCode: "in:INVITE:100 in:INVITE:180 in:INVITE:200 in:BYE:200",
			calleeCode: "out:INVITE:100 out:INVITE:180 out:INVITE:200 out:BYE:200",
		},
		{
			name: "callee hangs up over tcp", network: "tcp",
			call: CallOptions{}, answer: AnswerOptions{HangupAfter: 200 * time.Millisecond, NoRinging: true},
			wantCaller: "completed/remote/200", wantCallee: "completed/local/200",
			callerCode: "in:INVITE:100 in:INVITE:200 out:BYE:200",
			calleeCode: "out:INVITE:100 out:INVITE:200 in:BYE:200",
		},
		{
			name: "busy", network: "udp",
			call: CallOptions{Expect: 486}, answer: AnswerOptions{Reject: 486, Expect: 486},
			wantCaller: "rejected//486", wantCallee: "rejected//486",
			callerCode: "in:INVITE:100 in:INVITE:180 in:INVITE:486", calleeCode: "out:INVITE:100 out:INVITE:180 out:INVITE:486",
		},
		{
			name: "caller cancels while ringing", network: "udp",
			call:       CallOptions{CancelAfter: 300 * time.Millisecond, Expect: 487},
			answer:     AnswerOptions{Delay: 5 * time.Second, Expect: 487},
			wantCaller: "cancelled//487", wantCallee: "cancelled//487",
			callerCode: "in:INVITE:180 in:CANCEL:200 in:INVITE:487", calleeCode: "out:INVITE:180 out:INVITE:487",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			a := newPhone(t, Config{User: "201", Listen: tc.network + ":127.0.0.1:0"})
			b := newPhone(t, Config{User: "202", Listen: tc.network + ":127.0.0.1:0"})
			wait := answerAsync(ctx, t, b, tc.answer)
			s, err := a.Call(ctx, b.URI(), tc.call)
			if err != nil {
				t.Fatal(err)
			}
			bs := wait()
			if len(bs) != 1 {
				t.Fatalf("callee summaries %+v", bs)
			}
			check := func(who string, s Summary, want, wantCodes string) {
				t.Helper()
				if got := fmt.Sprintf("%s/%s/%d", s.State, s.HangupBy, s.FinalCode); got != want {
					t.Errorf("%s: %s, want %s (%+v)", who, got, want, s)
				}
				if !strings.Contains(codes(s), wantCodes) {
					t.Errorf("%s codes %q, want %q", who, codes(s), wantCodes)
				}
				if !s.ExpectOK || s.CallID == "" {
					t.Errorf("%s: expect_ok %v call_id %q", who, s.ExpectOK, s.CallID)
				}
			}
			check("caller", s, tc.wantCaller, tc.callerCode)
			check("callee", bs[0], tc.wantCallee, tc.calleeCode)
			if s.CallID != bs[0].CallID {
				t.Errorf("call ids differ: %s %s", s.CallID, bs[0].CallID)
			}
			if s.State == StateCompleted && (s.Codec != "PCMU" || s.DurationMS < 150) {
				t.Errorf("codec %q duration %v ms", s.Codec, s.DurationMS)
			}
		})
	}
}

func TestBusyWhenNotAnswering(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a := newPhone(t, Config{User: "201"})
	b := newPhone(t, Config{User: "202"})
	s, err := a.Call(ctx, b.URI(), CallOptions{Expect: 480})
	if err != nil {
		t.Fatal(err)
	}
	if s.State != StateRejected || s.FinalCode != 480 || !s.ExpectOK {
		t.Fatalf("summary %+v", s)
	}
}

func TestCallWithoutServer(t *testing.T) {
	a := newPhone(t, Config{User: "201"})
	if _, err := a.Call(context.Background(), "202", CallOptions{}); err == nil {
		t.Fatal("call to a number without --server succeeded")
	}
}

func TestSDPRoundTrip(t *testing.T) {
	tests := []struct {
		name      string
		offer     string
		wantCodec string
		wantEvent int
		wantErr   bool
	}{
		{"ours", string(offerSDP(mustAddr("127.0.0.1"), 4000, []uint8{ptPCMU, ptPCMA})), "PCMU", 101, false},
		{"pcma only", "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 5004 RTP/AVP 8 96\r\na=rtpmap:96 telephone-event/8000\r\n", "PCMA", 96, false},
		{"opus only", "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 5004 RTP/AVP 111\r\na=rtpmap:111 opus/48000/2\r\n", "", 0, true},
		{"garbage", "hello", "", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := parseSDP([]byte(tc.offer))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v", err)
			}
			if tc.wantErr {
				return
			}
			if s.Codec != tc.wantCodec || s.EventsPT != tc.wantEvent {
				t.Fatalf("session %+v", s)
			}
			ans, err := parseSDP(answerSDP(mustAddr("127.0.0.1"), 4002, s))
			if err != nil || ans.Codec != tc.wantCodec || ans.EventsPT != tc.wantEvent || ans.Remote.Port() != 4002 {
				t.Fatalf("answer %+v %v", ans, err)
			}
		})
	}
}

func FuzzParseSDP(f *testing.F) {
	f.Add(offerSDP(mustAddr("127.0.0.1"), 4000, []uint8{ptPCMU, ptPCMA}))
	f.Add([]byte("v=0\r\nm=audio 1 RTP/AVP 0\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := parseSDP(b)
		if err == nil && s.Codec == "" {
			t.Fatalf("accepted without codec: %q", b)
		}
	})
}

func BenchmarkParseSDP(b *testing.B) {
	offer := offerSDP(mustAddr("127.0.0.1"), 4000, []uint8{ptPCMU, ptPCMA})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseSDP(offer); err != nil {
			b.Fatal(err)
		}
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

// TestCallToSilence: a server that never answers at all (not even 100)
// cannot hold a call past its context: no CANCEL may be sent before a
// provisional response, so the INVITE is abandoned instead of waiting out
// Timer B (32 s).
func TestCallToSilence(t *testing.T) {
	silent, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	a := newPhone(t, Config{User: "201", Listen: "udp:127.0.0.1:0", Server: "udp:" + silent.LocalAddr().String()})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	s, _ := a.Call(ctx, "202", CallOptions{})
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("the call took %v with a 1 s context", took)
	}
	if s.State != StateTimeout || s.FinalCode != 0 {
		t.Errorf("state %s, final %d", s.State, s.FinalCode)
	}
}
