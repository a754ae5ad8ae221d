package tests

import (
	"context"
	"net/netip"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"luapbx/engine/phone"
	"luapbx/tests/harness"
)

// dialogDoer is either side of an answered dialog.
type dialogDoer interface {
	Do(ctx context.Context, req *sip.Request) (*sip.Response, error)
	WriteRequest(req *sip.Request) error
}

// reinvite sends a re-INVITE offering direction to target within d, ACKs a
// 2xx and points ua's RTP at the answer.
func reinvite(ctx context.Context, ua *testUA, d dialogDoer, target sip.Uri, direction string) (*sip.Response, error) {
	req := sip.NewRequest(sip.INVITE, target)
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(ua.sdp(direction))
	res, err := d.Do(ctx, req)
	if err != nil {
		return nil, err
	}
	if res.IsSuccess() {
		if err := d.WriteRequest(sip.NewRequest(sip.ACK, target)); err != nil {
			return res, err
		}
		ua.rtp.learn(res.Body())
	}
	return res, nil
}

// An answered call between two UAs through the media anchor; either side
// puts the other on hold (a=sendonly) and takes it back (a=sendrecv). The
// other side must get each re-INVITE with the PBX's address in the SDP and
// the offered direction, the answer must come back the same way, the call
// must stay up and audio must flow again after the unhold.
func TestSIPHoldUnhold(t *testing.T) {
	t.Parallel()
	const rtpBase = 33000
	srv, _ := startPlan(t, sipPlan(rtpBase, "", "", ""), nil)
	a, b := newTestUA(t, srv, "201"), newTestUA(t, srv, "202")
	b.register(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()

	aSess, err := a.dial(ctx, "202", a.sdp("sendrecv"))
	if err != nil {
		t.Fatalf("201 calls 202: %v", err)
	}
	if err := aSess.Ack(ctx); err != nil {
		t.Fatalf("ACK: %v", err)
	}
	a.rtp.learn(aSess.InviteResponse.Body())
	var bSess *sipgo.DialogServerSession
	select {
	case bSess = <-b.answered:
	case <-ctx.Done():
		t.Fatal("202 never answered")
	}

	// anchored checks that body offers the PBX's media address (not the
	// far UA's own RTP socket) and the wanted direction.
	anchored := func(t *testing.T, what string, body []byte, far *testUA, direction string) netip.AddrPort {
		t.Helper()
		ap, ok := sdpMedia(body)
		switch {
		case !ok:
			t.Errorf("%s: no media address in the SDP:\n%s", what, body)
		case ap.Addr() != netip.MustParseAddr("127.0.0.1") || ap.Port() < rtpBase || ap.Port() > rtpBase+99:
			t.Errorf("%s: media at %s, want the PBX's 127.0.0.1:%d-%d:\n%s", what, ap, rtpBase, rtpBase+99, body)
		case int(ap.Port()) == far.rtp.port():
			t.Errorf("%s: media at the far UA's own port %d: not anchored", what, ap.Port())
		}
		if got := sdpDirection(body); got != direction {
			t.Errorf("%s: direction %s, want %s:\n%s", what, got, direction, body)
		}
		return ap
	}
	anchored(t, "INVITE to 202", bSess.InviteRequest.Body(), a, "sendrecv")
	anchored(t, "200 to 201", aSess.InviteResponse.Body(), b, "sendrecv")
	audio := func(t *testing.T, what string) {
		t.Helper()
		a0, b0 := a.rtp.count(), b.rtp.count()
		waitFor(t, 5*time.Second, what+": 10 RTP packets each way", func() bool {
			return a.rtp.count() >= a0+10 && b.rtp.count() >= b0+10
		})
	}
	audio(t, "after the answer")

	sides := []struct {
		name             string
		from, to         *testUA
		dialog           dialogDoer
		target           func() sip.Uri
		fromName, toName string
	}{
		{"caller holds", a, b, aSess, func() sip.Uri { return aSess.InviteResponse.Contact().Address }, "201", "202"},
		{"callee holds", b, a, bSess, func() sip.Uri { return bSess.InviteRequest.Contact().Address }, "202", "201"},
	}
	for _, s := range sides {
		t.Run(s.name, func(t *testing.T) {
			for _, step := range []struct{ offer, answer string }{{"sendonly", "recvonly"}, {"sendrecv", "sendrecv"}} {
				res, err := reinvite(ctx, s.from, s.dialog, s.target(), step.offer)
				if err != nil {
					t.Fatalf("%s re-INVITE %s: %v", s.fromName, step.offer, err)
				}
				if res.StatusCode != 200 {
					t.Fatalf("%s re-INVITE %s: %d %s, want 200", s.fromName, step.offer, res.StatusCode, res.Reason)
				}
				var got *sip.Request
				select {
				case got = <-s.to.reinvites:
				case <-ctx.Done():
					t.Fatalf("%s never saw the re-INVITE (%s)", s.toName, step.offer)
				}
				anchored(t, s.toName+" gets the re-INVITE "+step.offer, got.Body(), s.from, step.offer)
				anchored(t, s.fromName+" gets the 200 "+step.answer, res.Body(), s.to, step.answer)
				if calls := liveCalls(t, srv); len(calls) != 1 {
					t.Errorf("after the re-INVITE %s: %d calls up, want 1: %+v", step.offer, len(calls), calls)
				}
			}
			audio(t, "after the unhold")
		})
	}

	if err := aSess.Bye(ctx); err != nil {
		t.Errorf("BYE: %v", err)
	}
	select {
	case <-b.byes:
	case <-ctx.Done():
		t.Fatal("202 got no BYE")
	}
	waitFor(t, 5*time.Second, "no call left in /api/calls", func() bool { return len(liveCalls(t, srv)) == 0 })
}

// SIPp (extension 201, testdata/sipp/uac_hold.xml) calls a `luapbx phone`
// (202) and holds then unholds it by re-INVITE: SIPp checks that each 200
// carries luapbx's anchored media and the answering direction; the phone
// must have answered both re-INVITEs (it cannot send one itself).
func TestSIPpHoldUnhold(t *testing.T) {
	t.Parallel()
	sippBinary(t)
	dir := t.TempDir()
	harness.WriteFile(t, dir, "pbx.yaml", md5Only201(sipPlan(33500, "", "", "")))
	harness.WriteFile(t, dir, "uac_hold.xml", mustRead(t, filepath.Join("testdata", "sipp", "uac_hold.xml")))
	srv := harness.Start(t, dir, "pbx.yaml")
	callee := newPhoneWith(t, srv, "udp", "202", "a-long-passphrase-202")
	register(t, callee)
	an := startAnswer(t, callee, phone.AnswerOptions{Count: 1}, 20*time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ports := freeUDPPorts(t, 1)
	pbx := srv.SIP["udp"]
	uac := startSIPp(t, ctx, "uac", dir, pbx, "-sf", "uac_hold.xml", "-s", "202", "-auth_uri", "202@"+pbx,
		"-i", "127.0.0.1", "-p", strconv.Itoa(ports[0]), "-mp", strconv.Itoa(sippMediaPort(t)), "-m", "1",
		"-timeout", "15s", "-timeout_error")
	code := uac.wait(t, 18*time.Second)
	stats := uac.final(t)
	if code != 0 || stats["SuccessfulCall(C)"] != 1 {
		uac.logs(t)
		t.Errorf("sipp: exit %d, %d successful calls, want 0 and 1", code, stats["SuccessfulCall(C)"])
	}
	got := an.wait(t)
	if len(got) != 1 || got[0].State != phone.StateCompleted || got[0].HangupBy != "remote" {
		t.Fatalf("202: %+v, want one call completed by the caller", got)
	}
	reinvites := 0
	for _, c := range got[0].Codes {
		if c.Method == "reINVITE" && c.Code == 200 && c.Dir == "out" {
			reinvites++
		}
	}
	if reinvites != 2 {
		t.Errorf("202 answered %d re-INVITEs, want 2 (hold, unhold): %+v", reinvites, got[0].Codes)
	}
	waitFor(t, 5*time.Second, "no call left in /api/calls", func() bool { return len(liveCalls(t, srv)) == 0 })
}
