package tests

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"

	"luapbx/tests/harness"
)

// testUA is a bare SIP user agent on a UDP socket of 127.0.0.1, for what
// `luapbx phone` cannot do: send a re-INVITE, CANCEL the instant a 180
// comes off the wire, show the SDP it is offered. It answers incoming
// INVITEs (180 then 200 with its SDP) and re-INVITEs (200 answering the
// offered direction), and reports both on channels.
type testUA struct {
	user, password string
	pbx            string // the PBX's UDP listener, host:port
	ua             *sipgo.UserAgent
	srv            *sipgo.Server
	cl             *sipgo.Client
	dua            *sipgo.DialogUA
	dsc            *sipgo.DialogServerCache
	local          netip.AddrPort
	rtp            *rtpPeer
	wg             sync.WaitGroup

	mu     sync.Mutex
	onWire func(*sip.Response) // sees every response as it arrives

	answered  chan *sipgo.DialogServerSession // initial INVITEs answered (after ACK)
	reinvites chan *sip.Request               // re-INVITEs received (answered 200)
	byes      chan *sip.Request               // BYEs received (answered 200)
}

func newTestUA(t *testing.T, srv *harness.Server, user string) *testUA {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("luapbx-test-ua"),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(log)),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(log)))
	if err != nil {
		t.Fatal(err)
	}
	u := &testUA{user: user, password: "a-long-passphrase-" + user, pbx: srv.SIP["udp"], ua: ua,
		answered: make(chan *sipgo.DialogServerSession, 4), reinvites: make(chan *sip.Request, 4),
		byes: make(chan *sip.Request, 4)}
	if u.srv, err = sipgo.NewServer(ua, sipgo.WithServerLogger(log)); err != nil {
		t.Fatal(err)
	}
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u.local = conn.LocalAddr().(*net.UDPAddr).AddrPort()
	if u.cl, err = sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"), sipgo.WithClientLogger(log),
		sipgo.WithClientConnectionAddr(u.local.String())); err != nil {
		t.Fatal(err)
	}
	contact := sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: user, Host: "127.0.0.1", Port: int(u.local.Port())}}
	u.dua = &sipgo.DialogUA{Client: u.cl, ContactHDR: contact}
	u.dsc = sipgo.NewDialogServerCache(u.cl, contact)
	u.rtp = newRTPPeer(t)
	ua.TransportLayer().OnMessage(func(m sip.Message) {
		if res, ok := m.(*sip.Response); ok {
			u.mu.Lock()
			f := u.onWire
			u.mu.Unlock()
			if f != nil {
				f(res)
			}
		}
	})
	u.srv.OnInvite(u.onInvite)
	u.srv.OnAck(func(req *sip.Request, tx sip.ServerTransaction) { _ = u.dsc.ReadAck(req, tx) })
	u.srv.OnBye(u.onBye)
	u.srv.OnOptions(func(req *sip.Request, tx sip.ServerTransaction) {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	})
	u.wg.Go(func() { _ = u.srv.ServeUDP(conn) })
	t.Cleanup(func() { conn.Close(); ua.Close(); u.wg.Wait() })
	// Requests must leave from the listening socket: wait until sipgo has
	// it in its pool.
	waitFor(t, 5*time.Second, "the UA's UDP listener", func() bool {
		pool := ua.TransportLayer().Pool("udp")
		return pool != nil && pool.Size() > 0
	})
	return u
}

// setOnWire installs f as the observer of every response (nil: none).
func (u *testUA) setOnWire(f func(*sip.Response)) {
	u.mu.Lock()
	u.onWire = f
	u.mu.Unlock()
}

// sdp is our offer or answer with the given direction attribute.
func (u *testUA) sdp(direction string) []byte {
	return fmt.Appendf(nil, "v=0\r\no=test 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"+
		"m=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=%s\r\n", u.rtp.port(), direction)
}

// register binds the UA's contact to its extension (digest auth).
func (u *testUA) register(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	aor := sip.Uri{Scheme: "sip", User: u.user, Host: "127.0.0.1"}
	req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: "127.0.0.1", Port: hostPortPort(u.pbx)})
	from := &sip.FromHeader{Address: aor, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: aor})
	ch := u.dua.ContactHDR
	req.AppendHeader(&ch)
	req.AppendHeader(sip.NewHeader("Expires", "300"))
	res, err := u.cl.Do(ctx, req)
	if err == nil && res.StatusCode == 401 {
		res, err = u.cl.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: u.user, Password: u.password})
	}
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("register %s: %v %v", u.user, err, res)
	}
}

// authorize answers the challenge in res (SHA-256 or MD5, the first the
// digest library can do) on req.
func (u *testUA) authorize(req *sip.Request, res *sip.Response) error {
	in, out := "WWW-Authenticate", "Authorization"
	if res.StatusCode == 407 {
		in, out = "Proxy-Authenticate", "Proxy-Authorization"
	}
	for _, h := range res.GetHeaders(in) {
		chal, err := digest.ParseChallenge(h.Value())
		if err != nil {
			continue
		}
		chal.Algorithm = strings.ToUpper(chal.Algorithm)
		if !digest.CanDigest(chal) {
			continue
		}
		cr, err := digest.Digest(chal, digest.Options{Method: string(req.Method), URI: req.Recipient.String(),
			Username: u.user, Password: u.password})
		if err != nil {
			return err
		}
		req.RemoveHeader(out)
		req.AppendHeader(sip.NewHeader(out, cr.String()))
		return nil
	}
	return errors.New("no usable digest challenge")
}

// calleeURI is number at the PBX.
func (u *testUA) calleeURI(number string) sip.Uri {
	return sip.Uri{Scheme: "sip", User: number, Host: "127.0.0.1", Port: hostPortPort(u.pbx)}
}

// dial INVITEs number through the PBX, answering its 407 once, and waits
// for the final answer: nil for a 2xx (not yet ACKed), *ErrDialogResponse
// for a failure, ctx's error when it ends first.
func (u *testUA) dial(ctx context.Context, number string, body []byte) (*sipgo.DialogClientSession, error) {
	req := sip.NewRequest(sip.INVITE, u.calleeURI(number))
	aor := sip.Uri{Scheme: "sip", User: u.user, Host: "127.0.0.1"}
	from := &sip.FromHeader{Address: aor, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: u.calleeURI(number)})
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(body)
	sess, err := u.dua.WriteInvite(ctx, req)
	if err != nil {
		return nil, err
	}
	err = sess.WaitAnswer(ctx, sipgo.AnswerOptions{})
	var de *sipgo.ErrDialogResponse
	if !errors.As(err, &de) || (de.Res.StatusCode != 401 && de.Res.StatusCode != 407) {
		return sess, err
	}
	_ = sess.Close()
	again := req.Clone()
	again.RemoveHeader("Via")
	again.CSeq().SeqNo++
	if err := u.authorize(again, de.Res); err != nil {
		return nil, err
	}
	if sess, err = u.dua.WriteInvite(ctx, again); err != nil {
		return nil, err
	}
	return sess, sess.WaitAnswer(ctx, sipgo.AnswerOptions{})
}

// onInvite answers a new call (180, then 200 with our SDP) or a re-INVITE
// (200 with our SDP answering its direction).
func (u *testUA) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	u.rtp.learn(req.Body())
	if to := req.To(); to != nil && to.Params.Has("tag") {
		res := sip.NewSDPResponseFromRequest(req, u.sdp(answerDirection(sdpDirection(req.Body()))))
		ch := u.dua.ContactHDR
		res.AppendHeader(&ch)
		_ = tx.Respond(res)
		u.reinvites <- req
		return
	}
	sess, err := u.dsc.ReadInvite(req, tx)
	if err != nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 400, "Bad Request", nil))
		return
	}
	_ = sess.Respond(180, "Ringing", nil)
	if err := sess.RespondSDP(u.sdp("sendrecv")); err != nil {
		return
	}
	u.answered <- sess
}

func (u *testUA) onBye(req *sip.Request, tx sip.ServerTransaction) {
	if err := u.dsc.ReadBye(req, tx); err != nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	}
	u.byes <- req
}

// hostPortPort is the port of "host:port".
func hostPortPort(hp string) int {
	_, p, _ := net.SplitHostPort(hp)
	n, _ := strconv.Atoi(p)
	return n
}

// sdpMedia reads the connection address and audio port of an SDP body.
func sdpMedia(body []byte) (netip.AddrPort, bool) {
	var ip netip.Addr
	port := 0
	for _, l := range strings.Split(string(body), "\n") {
		l = strings.TrimSpace(l)
		if v, ok := strings.CutPrefix(l, "c=IN IP4 "); ok {
			ip, _ = netip.ParseAddr(v)
		}
		if v, ok := strings.CutPrefix(l, "m=audio "); ok {
			port, _ = strconv.Atoi(strings.Fields(v)[0])
		}
	}
	if !ip.IsValid() || port <= 0 || port > 65535 {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(ip, uint16(port)), true
}

// sdpDirection is the direction attribute of an SDP body (sendrecv when
// none is given).
func sdpDirection(body []byte) string {
	for _, l := range strings.Split(string(body), "\n") {
		switch d := strings.TrimSpace(l); d {
		case "a=sendonly", "a=recvonly", "a=inactive", "a=sendrecv":
			return d[2:]
		}
	}
	return "sendrecv"
}

// answerDirection is the direction that answers an offered one.
func answerDirection(offer string) string {
	switch offer {
	case "sendonly":
		return "recvonly"
	case "recvonly":
		return "sendonly"
	}
	return offer
}

// rtpPeer sends a PCMU packet every 20 ms to the address the last SDP it
// learnt names, and counts the RTP packets it receives.
type rtpPeer struct {
	conn     net.PacketConn
	mu       sync.Mutex
	remote   netip.AddrPort
	received int
	done     chan struct{}
	wg       sync.WaitGroup
}

func newRTPPeer(t *testing.T) *rtpPeer {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &rtpPeer{conn: conn, done: make(chan struct{})}
	r.wg.Go(r.readLoop)
	r.wg.Go(r.sendLoop)
	t.Cleanup(func() { close(r.done); conn.Close(); r.wg.Wait() })
	return r
}

func (r *rtpPeer) port() int { return r.conn.LocalAddr().(*net.UDPAddr).Port }

// learn points the stream at the media address of an SDP body.
func (r *rtpPeer) learn(body []byte) {
	if ap, ok := sdpMedia(body); ok {
		r.mu.Lock()
		r.remote = ap
		r.mu.Unlock()
	}
}

// count is the number of RTP packets received so far.
func (r *rtpPeer) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.received
}

func (r *rtpPeer) readLoop() {
	buf := make([]byte, 1500)
	for {
		n, _, err := r.conn.ReadFrom(buf)
		if err != nil {
			return
		}
		if n >= 12 && buf[0]>>6 == 2 {
			r.mu.Lock()
			r.received++
			r.mu.Unlock()
		}
	}
}

func (r *rtpPeer) sendLoop() {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	pkt := make([]byte, 12+160)
	pkt[0], pkt[1] = 0x80, 0 // version 2, PCMU
	pkt[8], pkt[9], pkt[10], pkt[11] = 0x12, 0x34, 0x56, 0x78
	for i := range pkt[12:] {
		pkt[12+i] = 0xff // PCMU silence
	}
	var seq uint16
	var ts uint32
	for {
		select {
		case <-r.done:
			return
		case <-tick.C:
		}
		r.mu.Lock()
		to := r.remote
		r.mu.Unlock()
		if !to.IsValid() {
			continue
		}
		seq++
		ts += 160
		pkt[2], pkt[3] = byte(seq>>8), byte(seq)
		pkt[4], pkt[5], pkt[6], pkt[7] = byte(ts>>24), byte(ts>>16), byte(ts>>8), byte(ts)
		_, _ = r.conn.WriteTo(pkt, net.UDPAddrFromAddrPort(to))
	}
}
