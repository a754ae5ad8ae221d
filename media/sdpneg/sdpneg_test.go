package sdpneg

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func readSDP(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var pbx = Local{IP: netip.MustParseAddr("198.51.100.7"), Port: 20000}

func TestParsePhones(t *testing.T) {
	tests := []struct {
		file    string
		addr    string
		dir     Direction
		codecs  []uint8
		eventPT uint8
		ptime   int
	}{
		{"baresip.sdp", "192.168.1.23:10778", SendRecv, []uint8{0, 8}, 101, 0},
		{"linphone.sdp", "10.0.0.15:7078", SendRecv, []uint8{0, 8}, 100, 0},
		{"zoiper.sdp", "203.0.113.50:52344", SendRecv, []uint8{0, 8}, 101, 0},
		{"sipp.sdp", "127.0.1.1:6000", SendRecv, []uint8{0}, 0, 0},
		{"hold-zero.sdp", "0.0.0.0:10778", SendOnly, []uint8{8}, 101, 20},
		{"hold-sendonly.sdp", "192.168.1.30:4000", SendOnly, []uint8{8, 0}, 0, 30},
		{"ipv6.sdp", "[2001:db8::5]:30000", SendRecv, []uint8{0}, 101, 0},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			s, err := Parse(readSDP(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			m := s.Media
			if got := m.Addr.String(); got != tt.addr {
				t.Errorf("addr = %s, want %s", got, tt.addr)
			}
			if m.Direction != tt.dir {
				t.Errorf("direction = %v, want %v", m.Direction, tt.dir)
			}
			if !slices.Equal(m.Codecs, tt.codecs) {
				t.Errorf("codecs = %v, want %v", m.Codecs, tt.codecs)
			}
			if m.EventPT != tt.eventPT {
				t.Errorf("event pt = %d, want %d", m.EventPT, tt.eventPT)
			}
			if m.Ptime != tt.ptime {
				t.Errorf("ptime = %d, want %d", m.Ptime, tt.ptime)
			}
			if m.Hold() != !tt.dir.Receives() {
				t.Errorf("hold = %v for %v", m.Hold(), tt.dir)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	const head = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\n"
	tests := []struct {
		name   string
		body   string
		target error
		status int
	}{
		{"empty", "", ErrMalformed, 400},
		{"garbage", "hello world", ErrMalformed, 400},
		{"bad version", "v=1\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n", ErrMalformed, 400},
		{"no media", head + "c=IN IP4 10.0.0.1\r\nt=0 0\r\n", ErrNoAudio, 488},
		{"video only", head + "c=IN IP4 10.0.0.1\r\nt=0 0\r\nm=video 4000 RTP/AVP 96\r\n", ErrNoAudio, 488},
		{"srtp only", head + "c=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/SAVP 0\r\n", ErrNoAudio, 488},
		{"rejected audio", head + "c=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 0 RTP/AVP 0\r\n", ErrNoAudio, 488},
		{"opus only", head + "c=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 96\r\na=rtpmap:96 opus/48000/2\r\n", ErrNoCommonCodec, 488},
		{"pt 0 remapped", head + "c=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=rtpmap:0 G722/8000\r\n", ErrNoCommonCodec, 488},
		{"no connection", head + "t=0 0\r\nm=audio 4000 RTP/AVP 0\r\n", ErrMalformed, 400},
		{"hostname", head + "c=IN IP4 pbx.example.com\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n", ErrMalformed, 400},
		{"type mismatch", head + "c=IN IP6 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n", ErrMalformed, 400},
		{"bad payload type", head + "c=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 abc\r\n", ErrMalformed, 400},
		{"port too big", head + "c=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 70000 RTP/AVP 0\r\n", ErrMalformed, 400},
		{"too big", head + "t=0 0\r\n" + strings.Repeat("a=x\r\n", MaxSize/5+1), ErrMalformed, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.body))
			if !errors.Is(err, tt.target) {
				t.Fatalf("err = %v, want %v", err, tt.target)
			}
			if got := StatusCode(err); got != tt.status {
				t.Errorf("status = %d, want %d", got, tt.status)
			}
		})
	}
}

func TestStatusCode(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, 200},
		{"no codec", &NoCommonCodecError{Offered: []string{"96"}}, 488},
		{"wrapped no audio", errors.Join(errors.New("x"), ErrNoAudio), 488},
		{"malformed", ErrMalformed, 400},
		{"other", errors.New("boom"), 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := StatusCode(tt.err); got != tt.want {
				t.Errorf("StatusCode = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestRewrite(t *testing.T) {
	s, err := Parse(readSDP(t, "linphone.sdp"))
	if err != nil {
		t.Fatal(err)
	}
	o := NewOrigin("")
	out, err := s.Rewrite(o, pbx)
	if err != nil {
		t.Fatal(err)
	}
	text := string(out)
	// The o= line is ours, with a random session id that may hold any
	// digits: the offer's leftovers are looked for in the other lines.
	var rest []string
	for _, l := range strings.Split(text, "\r\n") {
		if !strings.HasPrefix(l, "o=") {
			rest = append(rest, l)
		}
	}
	for _, bad := range []string{"10.0.0.15", "opus", "speex", "rtcp-fb", "rtcp-xr", "48000", "16000", "7078", "9078"} {
		if strings.Contains(strings.Join(rest, "\n"), bad) {
			t.Errorf("rewritten sdp still contains %q:\n%s", bad, text)
		}
	}
	for _, want := range []string{"c=IN IP4 198.51.100.7\r\n", "m=audio 20000 RTP/AVP 0 8 100\r\n",
		"a=rtpmap:100 telephone-event/8000\r\n", "m=video 0 RTP/AVP 96 97\r\n", "a=sendrecv\r\n"} {
		if !strings.Contains(text, want) {
			t.Errorf("rewritten sdp lacks %q:\n%s", want, text)
		}
	}
	back, err := Parse(out)
	if err != nil {
		t.Fatalf("our own sdp does not parse: %v", err)
	}
	if back.Media.Addr != netip.AddrPortFrom(pbx.IP, uint16(pbx.Port)) || back.Audio != 0 {
		t.Errorf("reparsed addr %v audio index %d", back.Media.Addr, back.Audio)
	}
}

func TestRewriteHoldZero(t *testing.T) {
	s, err := Parse(readSDP(t, "hold-zero.sdp"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Rewrite(NewOrigin("x"), pbx)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "0.0.0.0") || !strings.Contains(string(out), "a=sendonly\r\n") {
		t.Errorf("c=0.0.0.0 hold must become our address with sendonly:\n%s", out)
	}
	if !strings.Contains(string(out), "a=ptime:20\r\n") {
		t.Errorf("ptime lost:\n%s", out)
	}
}

func TestOfferAddsTranscodable(t *testing.T) {
	s, err := Parse(readSDP(t, "sipp.sdp"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Offer(NewOrigin(""), pbx)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(back.Media.Codecs, []uint8{PTPCMU, PTPCMA}) {
		t.Errorf("offer codecs = %v, want [0 8]", back.Media.Codecs)
	}
	if !slices.Equal(s.Media.Codecs, []uint8{PTPCMU}) {
		t.Errorf("Offer modified the session: %v", s.Media.Codecs)
	}
}

func TestAnswer(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		opts    AnswerOptions
		codec   uint8
		ourDir  string
		eventPT uint8
	}{
		{"first supported wins", "baresip.sdp", AnswerOptions{}, PTPCMU, "sendrecv", 101},
		{"prefer other leg", "baresip.sdp", AnswerOptions{Prefer: []uint8{PTPCMA}}, PTPCMA, "sendrecv", 101},
		{"prefer absent falls back", "sipp.sdp", AnswerOptions{Prefer: []uint8{PTPCMA}}, PTPCMU, "sendrecv", 0},
		{"offer sendonly", "hold-sendonly.sdp", AnswerOptions{}, PTPCMA, "recvonly", 0},
		{"offer hold zero", "hold-zero.sdp", AnswerOptions{}, PTPCMA, "recvonly", 101},
		{"we are inactive", "zoiper.sdp", AnswerOptions{Direction: Inactive}, PTPCMU, "inactive", 101},
		{"no events", "zoiper.sdp", AnswerOptions{NoEvents: true}, PTPCMU, "sendrecv", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse(readSDP(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			body, neg, err := s.Answer(NewOrigin(""), pbx, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(neg.Codecs, []uint8{tt.codec}) || neg.EventPT != tt.eventPT {
				t.Errorf("negotiated codecs %v event %d, want [%d] %d", neg.Codecs, neg.EventPT, tt.codec, tt.eventPT)
			}
			if neg.Addr != s.Media.Addr || neg.Direction != s.Media.Direction {
				t.Errorf("negotiated peer %v %v, want %v %v", neg.Addr, neg.Direction, s.Media.Addr, s.Media.Direction)
			}
			back, err := Parse(body)
			if err != nil {
				t.Fatalf("answer does not parse: %v\n%s", err, body)
			}
			if got := back.Media.Direction.String(); got != tt.ourDir {
				t.Errorf("answer direction = %s, want %s", got, tt.ourDir)
			}
			if !slices.Equal(back.Media.Codecs, []uint8{tt.codec}) || back.Media.EventPT != tt.eventPT {
				t.Errorf("answer codecs %v event %d", back.Media.Codecs, back.Media.EventPT)
			}
			if len(back.Desc.MediaDescriptions) != len(s.Desc.MediaDescriptions) {
				t.Errorf("answer has %d m= lines, offer %d", len(back.Desc.MediaDescriptions), len(s.Desc.MediaDescriptions))
			}
		})
	}
}

func TestSessionVersion(t *testing.T) {
	s, err := Parse(readSDP(t, "baresip.sdp"))
	if err != nil {
		t.Fatal(err)
	}
	held, err := Parse(readSDP(t, "hold-sendonly.sdp"))
	if err != nil {
		t.Fatal(err)
	}
	o := NewOrigin("")
	steps := []struct {
		name  string
		sess  *Session
		local Local
		bump  uint64
	}{
		{"first", s, pbx, 0},
		{"identical resend", s, pbx, 0},
		{"hold changes sdp", held, pbx, 1},
		{"same hold again", held, pbx, 0},
		{"port change", held, Local{IP: pbx.IP, Port: 20002}, 1},
		{"resume", s, pbx, 1},
	}
	var prev uint64
	for i, st := range steps {
		body, err := st.sess.Rewrite(o, st.local)
		if err != nil {
			t.Fatal(err)
		}
		back, err := Parse(body)
		if err != nil {
			t.Fatal(err)
		}
		v := back.Desc.Origin.SessionVersion
		if v != o.Version() {
			t.Errorf("%s: o= version %d, Origin.Version %d", st.name, v, o.Version())
		}
		if i > 0 && v-prev != st.bump {
			t.Errorf("%s: version went %d -> %d, want +%d", st.name, prev, v, st.bump)
		}
		prev = v
	}
}

func TestLocalValidation(t *testing.T) {
	s, err := Parse(readSDP(t, "sipp.sdp"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []Local{{}, {IP: netip.IPv4Unspecified(), Port: 4000}, {IP: pbx.IP, Port: 0}, {IP: pbx.IP, Port: 70000}} {
		if _, err := s.Rewrite(NewOrigin(""), l); err == nil {
			t.Errorf("local %+v accepted", l)
		}
	}
	if _, err := s.Rewrite(nil, pbx); err == nil {
		t.Error("nil origin accepted")
	}
	mapped := Local{IP: netip.MustParseAddr("::ffff:198.51.100.7"), Port: 20000}
	out, err := s.Rewrite(NewOrigin(""), mapped)
	if err != nil || !strings.Contains(string(out), "c=IN IP4 198.51.100.7\r\n") {
		t.Errorf("mapped ipv4 not unmapped: %v\n%s", err, out)
	}
}

func TestDirection(t *testing.T) {
	tests := []struct {
		d, rev     Direction
		send, recv bool
	}{
		{SendRecv, SendRecv, true, true},
		{SendOnly, RecvOnly, true, false},
		{RecvOnly, SendOnly, false, true},
		{Inactive, Inactive, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.d.String(), func(t *testing.T) {
			if tt.d.Reverse() != tt.rev || tt.d.Sends() != tt.send || tt.d.Receives() != tt.recv {
				t.Errorf("%v: reverse %v sends %v receives %v", tt.d, tt.d.Reverse(), tt.d.Sends(), tt.d.Receives())
			}
			if tt.d.Intersect(SendRecv) != tt.d || tt.d.Intersect(Inactive) != Inactive {
				t.Errorf("%v: intersect wrong", tt.d)
			}
		})
	}
}
