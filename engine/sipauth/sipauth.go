// Package sipauth implements server-side SIP digest authentication
// (RFC 3261 §22, RFC 7616, RFC 8760) with MD5 and SHA-256, qop="auth" and
// stateless nonces: a nonce is a timestamp sealed with an HMAC, so any
// node holding the same secret can verify it and no per-nonce state is kept.
package sipauth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Algorithm is a digest hash algorithm as named in the challenge.
type Algorithm string

// Supported algorithms, offered in this order (strongest first, RFC 8760 §2.4).
const (
	SHA256 Algorithm = "SHA-256"
	MD5    Algorithm = "MD5"
)

// Credential is what the server knows about a user. Password wins when set;
// otherwise HA1MD5 and/or HA1SHA256 (hex of H(user:realm:password)) are used.
// With only HA1MD5, only an MD5 response can be verified.
type Credential struct {
	Password  string
	HA1MD5    string
	HA1SHA256 string
}

// Result classifies a request's credentials.
type Result int

// Results of Verify.
const (
	// OK: valid credentials on a fresh nonce.
	OK Result = iota
	// NoCredentials: nothing for our realm; challenge, this is not a failure.
	NoCredentials
	// Stale: the response is right but the nonce expired or is not ours;
	// challenge again with stale=true.
	Stale
	// BadCredentials: wrong password or unknown user; counts towards a ban.
	BadCredentials
	// Malformed: unparsable or inconsistent credentials (wrong uri, missing
	// cnonce/nc, unsupported algorithm or qop). Answer 400 or challenge.
	Malformed
	// Unverifiable: the user exists but the configured HA1 cannot check the
	// chosen algorithm (SHA-256 response, only an MD5 HA1 configured).
	// Challenge again offering MD5 only.
	Unverifiable
)

var resultNames = [...]string{"ok", "no_credentials", "stale", "bad_credentials", "malformed", "unverifiable"}

func (r Result) String() string {
	if r < 0 || int(r) >= len(resultNames) {
		return fmt.Sprintf("result(%d)", int(r))
	}
	return resultNames[r]
}

// DefaultNonceTTL is how long a nonce stays valid.
const DefaultNonceTTL = 5 * time.Minute

// Auth verifies digest credentials and builds challenges for one realm.
// It is safe for concurrent use.
type Auth struct {
	realm  string
	secret []byte
	ttl    time.Duration
	now    func() time.Time
	opaque string
	dummy  Credential

	noIPBinding bool
	// algs are offered in challenges, in order; answers in others are
	// refused. SetAlgorithms replaces them while in use.
	algs atomic.Pointer[[]Algorithm]
	macs sync.Pool // of hmac hash.Hash keyed with secret
}

// Option configures an Auth.
type Option func(*Auth)

// WithSecret sets the HMAC secret for nonces (share it between nodes that
// must accept each other's nonces). Default: 32 random bytes per process.
func WithSecret(secret []byte) Option {
	return func(a *Auth) { a.secret = append([]byte(nil), secret...) }
}

// WithNonceTTL sets how long a nonce is accepted (default 5 minutes).
func WithNonceTTL(d time.Duration) Option {
	return func(a *Auth) {
		if d > 0 {
			a.ttl = d
		}
	}
}

// WithoutIPBinding accepts a nonce from any source address, not only from
// the one it was issued to (for clients that change address mid-way).
func WithoutIPBinding() Option { return func(a *Auth) { a.noIPBinding = true } }

// WithAlgorithms sets the digest algorithms challenges offer, in order of
// preference (default SHA-256 then MD5, as RFC 8760 orders them). An answer
// in an algorithm not listed is challenged again. Unknown names are
// ignored; with none left the default stands.
func WithAlgorithms(algs ...Algorithm) Option {
	return func(a *Auth) { a.SetAlgorithms(algs...) }
}

// SetAlgorithms replaces the algorithms challenges offer (a reloaded
// security.digest_algorithms), as WithAlgorithms sets them; the next
// challenge and the next answer checked use them.
func (a *Auth) SetAlgorithms(algs ...Algorithm) {
	var keep []Algorithm
	for _, alg := range algs {
		if (alg == SHA256 || alg == MD5) && !slices.Contains(keep, alg) {
			keep = append(keep, alg)
		}
	}
	if len(keep) > 0 {
		a.algs.Store(&keep)
	}
}

// Algorithms returns the algorithms challenges offer, in order.
func (a *Auth) Algorithms() []Algorithm { return slices.Clone(a.offered()) }

func (a *Auth) offered() []Algorithm { return *a.algs.Load() }

// WithClock injects the clock (tests).
func WithClock(now func() time.Time) Option {
	return func(a *Auth) {
		if now != nil {
			a.now = now
		}
	}
}

// New returns an Auth for realm.
func New(realm string, opts ...Option) *Auth {
	a := &Auth{realm: realm, ttl: DefaultNonceTTL, now: time.Now}
	a.algs.Store(&[]Algorithm{SHA256, MD5})
	for _, o := range opts {
		o(a)
	}
	if len(a.secret) == 0 {
		a.secret = randomBytes(32)
	}
	a.macs.New = func() any { return hmac.New(sha256.New, a.secret) }
	a.opaque = a.macHex("opaque:" + realm)[:16]
	// The dummy password is never known to anyone: unknown users are
	// hashed like known ones so both take the same path and time.
	a.dummy = Credential{Password: fmt.Sprintf("%x", randomBytes(16))}
	return a
}

// Realm returns the realm challenges are issued for.
func (a *Auth) Realm() string { return a.realm }

// Opaque returns the opaque value sent in challenges.
func (a *Auth) Opaque() string { return a.opaque }

// sourceIP is the IP part of the request's source address.
func sourceIP(req *sip.Request) string {
	src := req.Source()
	if host, _, err := net.SplitHostPort(src); err == nil {
		return host
	}
	return src
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Errorf("sipauth: crypto/rand: %w", err))
	}
	return b
}
