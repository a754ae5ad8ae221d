package registrar

import (
	"fmt"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// FuzzRegister parses a REGISTER with fuzzed Contact and Expires lines,
// authenticated, and hands it to the registrar: it must answer with a
// status from the registrar's set and never panic.
func FuzzRegister(f *testing.F) {
	f.Add("<sip:201@10.0.0.5:5060>;expires=60", "3600")
	f.Add("*", "0")
	f.Add("<sip:201@a>, <sip:201@b>;expires=0", "")
	f.Add(`"Alice" <sip:201@[::1]:5060;transport=tcp>;q=0.5`, "-1")
	fx := newFixture(f)
	first := fx.reg.Handle(fx.request(f, reg{user: "201", contacts: []string{"<sip:201@x>"}}))
	chal, err := digest.ParseChallenge(first.GetHeader("WWW-Authenticate").Value())
	if err != nil {
		f.Fatal(err)
	}
	cr, err := digest.Digest(chal, digest.Options{Method: "REGISTER", URI: "sip:" + realm, Username: "201", Password: "s3cret"})
	if err != nil {
		f.Fatal(err)
	}
	authz := cr.String()
	allowed := map[int]bool{200: true, 400: true, 403: true, 423: true, 500: true}
	n := 0
	f.Fuzz(func(t *testing.T, contact, expires string) {
		if strings.ContainsAny(contact+expires, "\r\n") {
			return
		}
		n++
		raw := "REGISTER sip:" + realm + " SIP/2.0\r\n" +
			"Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bKfuzz\r\n" +
			"From: <sip:201@" + realm + ">;tag=f\r\nTo: <sip:201@" + realm + ">\r\n" +
			"Call-ID: fuzz\r\n" + fmt.Sprintf("CSeq: %d REGISTER\r\n", n) +
			"Contact: " + contact + "\r\nExpires: " + expires + "\r\n" +
			"Authorization: " + authz + "\r\nContent-Length: 0\r\n\r\n"
		msg, err := sip.ParseMessage([]byte(raw))
		if err != nil {
			return
		}
		req, ok := msg.(*sip.Request)
		if !ok {
			return
		}
		req.SetSource("127.0.0.1:5062")
		res := fx.reg.Handle(req)
		if res == nil || !allowed[res.StatusCode] {
			t.Fatalf("status %v for %q / %q", res, contact, expires)
		}
		if res.StatusCode == 200 {
			for _, b := range fx.reg.Lookup("201") {
				if b.ExpiresIn(fx.clk.now()) > DefaultMaxExpires {
					t.Fatalf("binding beyond max expiry: %+v", b)
				}
			}
		}
	})
}
