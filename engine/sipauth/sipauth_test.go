package sipauth

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

const testRealm = "pbx.test"

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)} }

var users = map[string]Credential{
	"201": {Password: "s3cret"},
	"202": {HA1MD5: HA1(MD5, "202", testRealm, "pw202"), HA1SHA256: HA1(SHA256, "202", testRealm, "pw202")},
	"203": {HA1MD5: strings.ToUpper(HA1(MD5, "203", testRealm, "pw203"))},
}

func lookup(u string) (Credential, bool) { c, ok := users[u]; return c, ok }

func newRequest(t testing.TB, method sip.RequestMethod, ruri string) *sip.Request {
	t.Helper()
	var u sip.Uri
	if err := sip.ParseUri(ruri, &u); err != nil {
		t.Fatalf("parse uri: %v", err)
	}
	req := sip.NewRequest(method, u)
	req.AppendHeader(sip.NewHeader("Call-ID", "abc@test"))
	return req
}

// challengeOf returns the challenge for alg from res.
func challengeOf(t testing.TB, res *sip.Response, alg Algorithm) *digest.Challenge {
	t.Helper()
	name := hdrWWWAuthenticate
	if res.StatusCode == 407 {
		name = hdrProxyAuthenticate
	}
	for _, h := range res.GetHeaders(name) {
		c, err := digest.ParseChallenge(h.Value())
		if err != nil {
			t.Fatalf("parse challenge %q: %v", h.Value(), err)
		}
		if c.Algorithm == string(alg) {
			return c
		}
	}
	t.Fatalf("no %s challenge in %s", alg, res.String())
	return nil
}

// authorize answers chal for req with an independent client implementation.
func authorize(t testing.TB, req *sip.Request, chal *digest.Challenge, user, password string, mutate func(*digest.Credentials)) {
	t.Helper()
	cr, err := digest.Digest(chal, digest.Options{
		Method: string(req.Method), URI: req.Recipient.String(), Username: user, Password: password,
	})
	if err != nil {
		t.Fatalf("digest: %v", err)
	}
	if mutate != nil {
		mutate(cr)
	}
	name := hdrProxyAuthz
	if req.Method == sip.REGISTER {
		name = hdrAuthorization
	}
	req.RemoveHeader(name)
	req.AppendHeader(sip.NewHeader(name, cr.String()))
}

func TestChallengeShape(t *testing.T) {
	a := New(testRealm)
	tests := []struct {
		name   string
		method sip.RequestMethod
		code   int
		header string
		stale  bool
	}{
		{"register gets 401", sip.REGISTER, 401, hdrWWWAuthenticate, false},
		{"invite gets 407", sip.INVITE, 407, hdrProxyAuthenticate, false},
		{"stale flag", sip.INVITE, 407, hdrProxyAuthenticate, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := a.Challenge(newRequest(t, tc.method, "sip:202@pbx.test"), tc.stale)
			if res.StatusCode != tc.code {
				t.Fatalf("code %d, want %d", res.StatusCode, tc.code)
			}
			hs := res.GetHeaders(tc.header)
			if len(hs) != 2 {
				t.Fatalf("%d %s headers, want 2", len(hs), tc.header)
			}
			var nonces []string
			for i, want := range []Algorithm{SHA256, MD5} {
				c, err := digest.ParseChallenge(hs[i].Value())
				if err != nil {
					t.Fatal(err)
				}
				if c.Algorithm != string(want) || !c.SupportsQOP("auth") || c.Realm != testRealm ||
					c.Opaque == "" || c.Stale != tc.stale {
					t.Errorf("challenge %d = %+v", i, c)
				}
				nonces = append(nonces, c.Nonce)
			}
			if nonces[0] != nonces[1] || a.checkNonce(nonces[0], "") != nonceValid {
				t.Errorf("nonces %v not one valid nonce", nonces)
			}
		})
	}
}

func TestVerify(t *testing.T) {
	clock := newClock()
	a := New(testRealm, WithClock(clock.Now), WithNonceTTL(time.Minute))
	other := New(testRealm, WithClock(clock.Now)) // different secret
	const ruri = "sip:pbx.test"

	tests := []struct {
		name     string
		method   sip.RequestMethod
		alg      Algorithm
		user, pw string
		issuer   *Auth
		age      time.Duration // clock advance after the challenge
		mutate   func(*digest.Credentials)
		noAuth   bool
		raw      string // raw header value instead of a computed one
		header   string // header to carry the credentials, default by method
		want     Result
		wantUser string
	}{
		{name: "no credentials", noAuth: true, want: NoCredentials},
		{name: "md5 password ok", alg: MD5, user: "201", pw: "s3cret", want: OK, wantUser: "201"},
		{name: "sha256 password ok", alg: SHA256, user: "201", pw: "s3cret", want: OK, wantUser: "201"},
		{name: "md5 ha1 ok", alg: MD5, user: "202", pw: "pw202", want: OK, wantUser: "202"},
		{name: "sha256 ha1 ok", alg: SHA256, user: "202", pw: "pw202", want: OK, wantUser: "202"},
		{name: "upper-case md5 ha1 ok", alg: MD5, user: "203", pw: "pw203", want: OK, wantUser: "203"},
		{name: "invite proxy-authorization ok", method: sip.INVITE, alg: SHA256, user: "201", pw: "s3cret", want: OK, wantUser: "201"},
		{name: "invite authorization header ok", method: sip.INVITE, header: hdrAuthorization, alg: MD5, user: "201", pw: "s3cret", want: OK, wantUser: "201"},
		{name: "register ignores proxy-authorization", header: hdrProxyAuthz, alg: MD5, user: "201", pw: "s3cret", want: NoCredentials},
		{name: "sha256 with only md5 ha1", alg: SHA256, user: "203", pw: "pw203", want: Unverifiable, wantUser: "203"},
		{name: "wrong password", alg: MD5, user: "201", pw: "guess", want: BadCredentials, wantUser: "201"},
		{name: "wrong password sha256", alg: SHA256, user: "202", pw: "guess", want: BadCredentials, wantUser: "202"},
		{name: "unknown user", alg: MD5, user: "999", pw: "s3cret", want: BadCredentials, wantUser: "999"},
		{name: "unknown user sha256", alg: SHA256, user: "999", pw: "x", want: BadCredentials, wantUser: "999"},
		{name: "replayed old nonce", alg: MD5, user: "201", pw: "s3cret", age: 2 * time.Minute, want: Stale, wantUser: "201"},
		{name: "old nonce wrong password", alg: MD5, user: "201", pw: "bad", age: 2 * time.Minute, want: BadCredentials, wantUser: "201"},
		{name: "nonce from another secret", alg: MD5, user: "201", pw: "s3cret", issuer: other, want: Stale, wantUser: "201"},
		{name: "wrong opaque", alg: MD5, user: "201", pw: "s3cret", mutate: func(c *digest.Credentials) { c.Opaque = "zz" }, want: Stale, wantUser: "201"},
		{name: "uri mismatch", alg: MD5, user: "201", pw: "s3cret", mutate: func(c *digest.Credentials) { c.URI = "sip:evil.test" }, want: Malformed, wantUser: "201"},
		{name: "missing cnonce", alg: MD5, user: "201", pw: "s3cret", mutate: func(c *digest.Credentials) { c.Cnonce = "" }, want: Malformed, wantUser: "201"},
		{name: "missing nc", alg: MD5, user: "201", pw: "s3cret", mutate: func(c *digest.Credentials) { c.Nc = 0 }, want: Malformed, wantUser: "201"},
		{name: "unsupported algorithm", alg: MD5, user: "201", pw: "s3cret", mutate: func(c *digest.Credentials) { c.Algorithm = "SHA-512-256" }, want: Malformed, wantUser: "201"},
		{name: "no qop wrong response counts", alg: MD5, user: "201", pw: "s3cret", mutate: func(c *digest.Credentials) { c.QOP = "" }, want: BadCredentials, wantUser: "201"},
		{name: "other realm", alg: MD5, user: "201", pw: "s3cret", mutate: func(c *digest.Credentials) { c.Realm = "elsewhere" }, want: NoCredentials},
		{name: "bad nc", raw: `Digest username="201", realm="pbx.test", nonce="n", uri="sip:pbx.test", response="00", qop=auth, cnonce="c", nc=zz`, want: Malformed, wantUser: "201"},
		{name: "unparsable header", raw: `Digest username="201", realm="pbx.test", nonce="x`, want: Malformed},
		{name: "basic is ignored", raw: `Basic MjAxOnMzY3JldA==`, want: NoCredentials},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = sip.REGISTER
			}
			req := newRequest(t, method, ruri)
			name := hdrProxyAuthz
			if method == sip.REGISTER {
				name = hdrAuthorization
			}
			switch {
			case tc.raw != "":
				req.AppendHeader(sip.NewHeader(name, tc.raw))
			case !tc.noAuth:
				issuer := a
				if tc.issuer != nil {
					issuer = tc.issuer
				}
				chal := challengeOf(t, issuer.Challenge(req, false), tc.alg)
				clock.Add(tc.age)
				authorize(t, req, chal, tc.user, tc.pw, tc.mutate)
				if tc.header != "" && tc.header != name {
					h := req.GetHeader(name)
					req.RemoveHeader(name)
					req.AppendHeader(sip.NewHeader(tc.header, h.Value()))
				}
			}
			user, res := a.Verify(req, lookup)
			if res != tc.want || user != tc.wantUser {
				t.Fatalf("Verify = (%q, %v), want (%q, %v)", user, res, tc.wantUser, tc.want)
			}
		})
	}
}

func TestNoQOPRightPasswordIsMalformed(t *testing.T) {
	a := New(testRealm)
	req := newRequest(t, sip.REGISTER, "sip:pbx.test")
	chal := challengeOf(t, a.Challenge(req, false), MD5)
	nonce := chal.Nonce
	ha1 := HA1(MD5, "201", testRealm, "s3cret")
	resp := hashHex(MD5, ha1, ":", nonce, ":", hashHex(MD5, "REGISTER:sip:pbx.test"))
	req.AppendHeader(sip.NewHeader(hdrAuthorization, `Digest username="201", realm="pbx.test", nonce="`+nonce+
		`", uri="sip:pbx.test", response="`+resp+`"`))
	if _, res := a.Verify(req, lookup); res != Malformed {
		t.Fatalf("got %v, want malformed (qop required)", res)
	}
}

// TestRFC7616Vectors checks the response computation against the published
// example of RFC 7616 §3.9.1 (an HTTP request, same algorithm).
func TestRFC7616Vectors(t *testing.T) {
	cr := &creds{
		uri: "/dir/index.html", nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
		cnonce: "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", nc: "00000001", qop: "auth",
	}
	tests := []struct {
		alg  Algorithm
		want string
	}{
		{MD5, "8ca523f5e9506fed4657c9700eebdbec"},
		{SHA256, "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"},
	}
	for _, tc := range tests {
		t.Run(string(tc.alg), func(t *testing.T) {
			ha1 := HA1(tc.alg, "Mufasa", "http-auth@example.org", "Circle of Life")
			var buf [64]byte
			if got := string(buf[:expectedResponse(buf[:0], tc.alg, ha1, "GET", cr)]); got != tc.want {
				t.Fatalf("response %s, want %s", got, tc.want)
			}
		})
	}
}

// TestUnknownUserLooksKnown: the answer to a wrong password is the same
// for a known and an unknown user (status, headers apart from the nonce).
func TestUnknownUserLooksKnown(t *testing.T) {
	clock := newClock()
	a := New(testRealm, WithClock(clock.Now))
	answer := func(user string) string {
		req := newRequest(t, sip.REGISTER, "sip:pbx.test")
		authorize(t, req, challengeOf(t, a.Challenge(req, false), SHA256), user, "wrong", nil)
		_, res := a.Verify(req, lookup)
		if res != BadCredentials {
			t.Fatalf("%s: result %v", user, res)
		}
		return a.Respond(req, res).String()
	}
	known, unknown := answer("201"), answer("999")
	if known != unknown {
		t.Fatalf("answers differ:\n%s\n---\n%s", known, unknown)
	}
}

func TestRespond(t *testing.T) {
	a := New(testRealm)
	tests := []struct {
		res        Result
		code       int
		challenges int
		stale      bool
	}{
		{OK, 0, 0, false},
		{NoCredentials, 401, 2, false},
		{BadCredentials, 401, 2, false},
		{Stale, 401, 2, true},
		{Unverifiable, 401, 1, false},
		{Malformed, 400, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.res.String(), func(t *testing.T) {
			r := a.Respond(newRequest(t, sip.REGISTER, "sip:pbx.test"), tc.res)
			if tc.code == 0 {
				if r != nil {
					t.Fatalf("got %d, want nil", r.StatusCode)
				}
				return
			}
			if r.StatusCode != tc.code || len(r.GetHeaders(hdrWWWAuthenticate)) != tc.challenges {
				t.Fatalf("got %s", r.String())
			}
			if tc.challenges > 0 && strings.Contains(r.String(), "stale=true") != tc.stale {
				t.Fatalf("stale flag wrong: %s", r.String())
			}
		})
	}
}

func TestNonceBoundToSourceIP(t *testing.T) {
	tests := []struct {
		name string
		opts []Option
		from string
		want Result
	}{
		{"same address", nil, "192.0.2.1:5060", OK},
		{"same ip other port", nil, "192.0.2.1:40000", OK},
		{"other ip", nil, "198.51.100.7:5060", Stale},
		{"binding off", []Option{WithoutIPBinding()}, "198.51.100.7:5060", OK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := New(testRealm, tc.opts...)
			req := newRequest(t, sip.REGISTER, "sip:pbx.test")
			req.SetSource("192.0.2.1:5060")
			chal := challengeOf(t, a.Challenge(req, false), MD5)
			req2 := newRequest(t, sip.REGISTER, "sip:pbx.test")
			req2.SetSource(tc.from)
			authorize(t, req2, chal, "201", "s3cret", nil)
			if _, res := a.Verify(req2, lookup); res != tc.want {
				t.Fatalf("got %v, want %v", res, tc.want)
			}
		})
	}
}

func TestNonceFromFutureIsForged(t *testing.T) {
	clock := newClock()
	a := New(testRealm, WithClock(clock.Now))
	n := a.NewNonce("")
	clock.Add(-time.Minute)
	if s := a.checkNonce(n, ""); s != nonceForged {
		t.Fatalf("state %v, want forged", s)
	}
}

func BenchmarkVerify(b *testing.B) {
	for _, alg := range []Algorithm{MD5, SHA256} {
		b.Run(string(alg), func(b *testing.B) {
			a := New(testRealm)
			req := newRequest(b, sip.INVITE, "sip:202@pbx.test")
			req.SetSource("192.0.2.1:5060")
			authorize(b, req, challengeOf(b, a.Challenge(req, false), alg), "201", "s3cret", nil)
			b.ReportAllocs()
			for b.Loop() {
				if _, res := a.Verify(req, lookup); res != OK {
					b.Fatalf("result %v", res)
				}
			}
		})
	}
}

func BenchmarkChallenge(b *testing.B) {
	a := New(testRealm)
	req := newRequest(b, sip.INVITE, "sip:202@pbx.test")
	b.ReportAllocs()
	for b.Loop() {
		if a.Challenge(req, false) == nil {
			b.Fatal("nil")
		}
	}
}

// WithAlgorithms decides what challenges offer, in order, and an answer in
// an algorithm not offered is challenged again rather than accepted.
func TestWithAlgorithms(t *testing.T) {
	tests := []struct {
		name   string
		opt    []Algorithm
		offers []Algorithm
	}{
		{"md5 only", []Algorithm{MD5}, []Algorithm{MD5}},
		{"sha-256 only", []Algorithm{SHA256}, []Algorithm{SHA256}},
		{"md5 preferred", []Algorithm{MD5, SHA256}, []Algorithm{MD5, SHA256}},
		{"duplicates and unknown names dropped", []Algorithm{"SHA-512", MD5, MD5}, []Algorithm{MD5}},
		{"nothing usable keeps the default", []Algorithm{"SHA-512"}, []Algorithm{SHA256, MD5}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := New(testRealm, WithAlgorithms(tc.opt...))
			if got := a.Algorithms(); !slices.Equal(got, tc.offers) {
				t.Fatalf("Algorithms() = %v, want %v", got, tc.offers)
			}
			res := a.Challenge(newRequest(t, sip.REGISTER, "sip:pbx.test"), false)
			hs := res.GetHeaders(hdrWWWAuthenticate)
			if len(hs) != len(tc.offers) {
				t.Fatalf("%d challenges, want %d", len(hs), len(tc.offers))
			}
			for i, want := range tc.offers {
				c, err := digest.ParseChallenge(hs[i].Value())
				if err != nil || c.Algorithm != string(want) {
					t.Errorf("challenge %d = %+v (%v), want %s", i, c, err, want)
				}
			}
			// Answer each algorithm with the right password: accepted only
			// if offered.
			full := New(testRealm) // issues challenges in both
			for _, alg := range []Algorithm{SHA256, MD5} {
				req := newRequest(t, sip.REGISTER, "sip:pbx.test")
				chal := challengeOf(t, full.Challenge(req, false), alg)
				authorize(t, req, chal, "201", "s3cret", nil)
				// Same secret so the nonce from full verifies in a.
				b := New(testRealm, WithAlgorithms(tc.opt...), WithSecret(full.secret))
				_, got := b.Verify(req, lookup)
				want := NoCredentials
				if slices.Contains(tc.offers, alg) {
					want = OK
				}
				if got != want {
					t.Errorf("%s answer: %v, want %v", alg, got, want)
				}
			}
		})
	}
}

// SetAlgorithms (a reloaded security.digest_algorithms) changes what the
// next challenge offers and which answers are accepted, on the same Auth.
func TestSetAlgorithmsLive(t *testing.T) {
	a := New(testRealm, WithAlgorithms(MD5))
	req := newRequest(t, sip.REGISTER, "sip:pbx.test")
	full := New(testRealm, WithSecret(a.secret))
	authorize(t, req, challengeOf(t, full.Challenge(req, false), SHA256), "201", "s3cret", nil)
	if _, res := a.Verify(req, lookup); res != NoCredentials {
		t.Fatalf("SHA-256 answer before the change: %v, want NoCredentials", res)
	}
	a.SetAlgorithms(SHA256, MD5)
	if got := a.Algorithms(); !slices.Equal(got, []Algorithm{SHA256, MD5}) {
		t.Fatalf("Algorithms() = %v after SetAlgorithms", got)
	}
	if n := len(a.Challenge(newRequest(t, sip.REGISTER, "sip:pbx.test"), false).GetHeaders(hdrWWWAuthenticate)); n != 2 {
		t.Errorf("%d challenges after SetAlgorithms, want 2", n)
	}
	if _, res := a.Verify(req, lookup); res != OK {
		t.Errorf("SHA-256 answer after the change: %v, want OK", res)
	}
	a.SetAlgorithms("SHA-512")
	if got := a.Algorithms(); !slices.Equal(got, []Algorithm{SHA256, MD5}) {
		t.Errorf("nothing usable changed the offer to %v", got)
	}
}
