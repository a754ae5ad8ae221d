package sipauth

import (
	"testing"

	"github.com/emiago/sipgo/sip"
)

// FuzzVerify feeds arbitrary Authorization values to Verify: it must never
// panic and never report OK for anything but a valid response.
func FuzzVerify(f *testing.F) {
	f.Add(`Digest username="201", realm="pbx.test", nonce="x", uri="sip:pbx.test", response="00", qop=auth, nc=00000001, cnonce="c"`)
	f.Add(`Digest username="201", realm="pbx.test", nonce="", uri="", response=""`)
	f.Add(`Digest username="\"", realm=pbx.test`)
	f.Add(`Basic YWxhZGRpbjpvcGVuc2VzYW1l`)
	a := New(testRealm)
	f.Fuzz(func(t *testing.T, v string) {
		var u sip.Uri
		if err := sip.ParseUri("sip:pbx.test", &u); err != nil {
			t.Fatal(err)
		}
		req := sip.NewRequest(sip.REGISTER, u)
		req.AppendHeader(sip.NewHeader(hdrAuthorization, v))
		if _, res := a.Verify(req, lookup); res == OK {
			t.Fatalf("fuzzed header accepted: %q", v)
		}
	})
}
