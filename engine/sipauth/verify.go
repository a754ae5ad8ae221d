package sipauth

import (
	"crypto/md5"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"slices"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// Verify checks the request's credentials for our realm. lookup returns the
// credential of a user name; user is the name the request claims (empty when
// there is none). Only OK means authenticated.
func (a *Auth) Verify(req *sip.Request, lookup func(user string) (Credential, bool)) (user string, res Result) {
	cr, res := a.credentials(req)
	if res != OK {
		return "", res
	}
	alg, res := checkFields(&cr)
	if res != OK {
		return cr.username, res
	}
	if !slices.Contains(a.offered(), alg) {
		return cr.username, NoCredentials // an algorithm we do not offer: challenge again
	}
	if !uriMatches(cr.uri, &req.Recipient) {
		return cr.username, Malformed
	}
	cred, known := lookup(cr.username)
	if !known {
		cred = a.dummy
	}
	ha1, ok := a.ha1(alg, cr.username, cred)
	if !ok {
		if known {
			return cr.username, Unverifiable
		}
		ha1, _ = a.ha1(alg, cr.username, a.dummy)
	}
	var want [sha256.Size * 2]byte
	n := expectedResponse(want[:0], alg, ha1, string(req.Method), &cr)
	if !equalHexFold(want[:n], cr.response) || !known {
		return cr.username, BadCredentials
	}
	if cr.qop == "" {
		// Right password, but RFC 2069 style without qop: we always offer
		// qop=auth, so a client ignoring it is not trusted.
		return cr.username, Malformed
	}
	if a.checkNonce(cr.nonce, sourceIP(req)) != nonceValid || (cr.opaque != "" && cr.opaque != a.opaque) {
		return cr.username, Stale
	}
	return cr.username, OK
}

// credentials returns the digest credentials for our realm: from
// Authorization for REGISTER; from Proxy-Authorization, else Authorization
// (a UA answering a 401 it got elsewhere), for other methods.
func (a *Auth) credentials(req *sip.Request) (creds, Result) {
	if req.Method == sip.REGISTER {
		return a.credentialsIn(req, hdrAuthorization)
	}
	cr, res := a.credentialsIn(req, hdrProxyAuthz)
	if res == NoCredentials {
		return a.credentialsIn(req, hdrAuthorization)
	}
	return cr, res
}

func (a *Auth) credentialsIn(req *sip.Request, name string) (creds, Result) {
	res := NoCredentials
	for _, h := range req.GetHeaders(name) {
		v := h.Value()
		if _, ok := cutDigest(v); !ok {
			continue
		}
		cr, ok := parseCreds(v)
		if !ok {
			res = Malformed
			continue
		}
		if cr.realm == a.realm {
			return cr, OK
		}
	}
	return creds{}, res
}

func checkFields(cr *creds) (Algorithm, Result) {
	if cr.username == "" || cr.nonce == "" || cr.uri == "" || cr.response == "" || cr.userhash {
		return "", Malformed
	}
	var alg Algorithm
	switch {
	case cr.algorithm == "" || strings.EqualFold(cr.algorithm, "MD5"):
		alg = MD5
	case strings.EqualFold(cr.algorithm, "SHA-256"):
		alg = SHA256
	default:
		return "", Malformed
	}
	switch {
	case cr.qop == "":
	case strings.EqualFold(cr.qop, "auth"):
		if cr.cnonce == "" || !validNC(cr.nc) {
			return "", Malformed
		}
	default:
		return "", Malformed
	}
	return alg, OK
}

// equalHexFold compares hex digests in constant time, ignoring the case of got.
func equalHexFold(want []byte, got string) bool {
	if len(want) != len(got) {
		return false
	}
	var diff byte
	for i := 0; i < len(want); i++ {
		g := got[i]
		if 'A' <= g && g <= 'F' {
			g += 'a' - 'A'
		}
		diff |= want[i] ^ g
	}
	return subtle.ConstantTimeByteEq(diff, 0) == 1
}

// uriMatches compares the digest uri with the Request-URI by scheme, user,
// host and port (parameters ignored), so a response cannot be replayed
// against another target.
func uriMatches(digestURI string, ruri *sip.Uri) bool {
	var u sip.Uri
	if err := sip.ParseUri(digestURI, &u); err != nil {
		return false
	}
	return strings.EqualFold(schemeOf(&u), schemeOf(ruri)) &&
		u.User == ruri.User &&
		strings.EqualFold(u.Host, ruri.Host) &&
		u.Port == ruri.Port
}

func schemeOf(u *sip.Uri) string {
	if u.Scheme == "" {
		return "sip"
	}
	return u.Scheme
}

// ha1 returns H(user:realm:password) for alg from the credential.
func (a *Auth) ha1(alg Algorithm, user string, c Credential) (string, bool) {
	if c.Password != "" {
		return hashHex(alg, user, ":", a.realm, ":", c.Password), true
	}
	var h string
	if alg == MD5 {
		h = c.HA1MD5
	} else {
		h = c.HA1SHA256
	}
	if h == "" {
		return "", false
	}
	return strings.ToLower(h), true
}

// expectedResponse appends the hex response the client should have sent.
func expectedResponse(dst []byte, alg Algorithm, ha1, method string, cr *creds) int {
	var ha2 [sha256.Size * 2]byte
	h2 := hashInto(ha2[:0], alg, method, ":", cr.uri)
	var out []byte
	if cr.qop == "" {
		out = hashInto(dst, alg, ha1, ":", cr.nonce, ":", string(h2))
	} else {
		out = hashInto(dst, alg, ha1, ":", cr.nonce, ":", cr.nc, ":", cr.cnonce, ":", strings.ToLower(cr.qop), ":", string(h2))
	}
	return len(out)
}

// hashInto appends the lower-case hex digest of the concatenated parts.
func hashInto(dst []byte, alg Algorithm, parts ...string) []byte {
	var buf [512]byte
	b := buf[:0]
	for _, p := range parts {
		b = append(b, p...)
	}
	if alg == MD5 {
		sum := md5.Sum(b)
		return hex.AppendEncode(dst, sum[:])
	}
	sum := sha256.Sum256(b)
	return hex.AppendEncode(dst, sum[:])
}

// hashHex returns the lower-case hex digest of the concatenated parts.
func hashHex(alg Algorithm, parts ...string) string {
	var out [sha256.Size * 2]byte
	return string(hashInto(out[:0], alg, parts...))
}

// HA1 returns hex H(user:realm:password) for alg, the value to configure
// instead of a clear-text password.
func HA1(alg Algorithm, user, realm, password string) string {
	return hashHex(alg, user, ":", realm, ":", password)
}
