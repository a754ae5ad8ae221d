package sipauth

import (
	"strings"

	"github.com/emiago/sipgo/sip"
)

// Header names: REGISTER is challenged by the registrar (401 +
// WWW-Authenticate), other requests as a proxy would (407 +
// Proxy-Authenticate), which is what phones expect from a PBX.
const (
	hdrWWWAuthenticate   = "WWW-Authenticate"
	hdrProxyAuthenticate = "Proxy-Authenticate"
	hdrAuthorization     = "Authorization"
	hdrProxyAuthz        = "Proxy-Authorization"
)

// Challenge returns a 401 (REGISTER) or 407 (other methods) carrying one
// challenge per offered algorithm (WithAlgorithms; default SHA-256 then
// MD5), all qop="auth", sharing one nonce. The answer depends only on the
// request and the time, never on the user.
func (a *Auth) Challenge(req *sip.Request, stale bool) *sip.Response {
	return a.ChallengeWith(req, stale, a.offered()...)
}

// ChallengeWith is Challenge offering only the given algorithms, in order.
// Use it with MD5 alone after an Unverifiable result.
func (a *Auth) ChallengeWith(req *sip.Request, stale bool, algs ...Algorithm) *sip.Response {
	code, reason, name := sip.StatusProxyAuthRequired, "Proxy Authentication Required", hdrProxyAuthenticate
	if req.Method == sip.REGISTER {
		code, reason, name = sip.StatusUnauthorized, "Unauthorized", hdrWWWAuthenticate
	}
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	nonce := a.NewNonce(sourceIP(req))
	for _, alg := range algs {
		res.AppendHeader(sip.NewHeader(name, a.challengeValue(alg, nonce, stale)))
	}
	return res
}

func (a *Auth) challengeValue(alg Algorithm, nonce string, stale bool) string {
	var b strings.Builder
	b.Grow(160)
	b.WriteString(`Digest realm="`)
	b.WriteString(a.realm)
	b.WriteString(`", nonce="`)
	b.WriteString(nonce)
	b.WriteString(`", opaque="`)
	b.WriteString(a.opaque)
	b.WriteString(`", algorithm=`)
	b.WriteString(string(alg))
	b.WriteString(`, qop="auth"`)
	if stale {
		b.WriteString(", stale=true")
	}
	return b.String()
}

// Respond maps a Verify result to the answer to send, or nil for OK:
// NoCredentials and BadCredentials get a fresh challenge, Stale a challenge
// with stale=true, Unverifiable an MD5-only challenge, Malformed 400.
func (a *Auth) Respond(req *sip.Request, r Result) *sip.Response {
	switch r {
	case OK:
		return nil
	case Stale:
		return a.Challenge(req, true)
	case Unverifiable:
		return a.ChallengeWith(req, false, MD5)
	case Malformed:
		return sip.NewResponseFromRequest(req, sip.StatusBadRequest, "Bad Request (Authorization)", nil)
	default:
		return a.Challenge(req, false)
	}
}
