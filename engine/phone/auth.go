package phone

import (
	"errors"
	"fmt"
	"strings"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

var errNoChallenge = errors.New("phone: no usable digest challenge")

// authorize adds credentials answering the 401/407 res to req, choosing the
// challenge with the configured algorithm (else the first usable one).
func (p *Phone) authorize(req *sip.Request, res *sip.Response) error {
	in, out := "WWW-Authenticate", "Authorization"
	if res.StatusCode == sip.StatusProxyAuthRequired {
		in, out = "Proxy-Authenticate", "Proxy-Authorization"
	}
	var chal *digest.Challenge
	for _, h := range res.GetHeaders(in) {
		c, err := digest.ParseChallenge(h.Value())
		if err != nil {
			continue
		}
		c.Algorithm = strings.ToUpper(c.Algorithm)
		if !digest.CanDigest(c) {
			continue
		}
		if p.cfg.Algorithm == "" || strings.EqualFold(c.Algorithm, p.cfg.Algorithm) ||
			(c.Algorithm == "" && strings.EqualFold(p.cfg.Algorithm, "MD5")) {
			chal = c
			break
		}
		if chal == nil {
			chal = c
		}
	}
	if chal == nil {
		return errNoChallenge
	}
	cr, err := digest.Digest(chal, digest.Options{
		Method: string(req.Method), URI: req.Recipient.String(),
		Username: p.cfg.AuthUser, Password: p.cfg.Password,
	})
	if err != nil {
		return fmt.Errorf("phone: digest: %w", err)
	}
	req.RemoveHeader(out)
	req.AppendHeader(sip.NewHeader(out, cr.String()))
	return nil
}

// challenged reports whether res asks for credentials we can give.
func (p *Phone) challenged(res *sip.Response) bool {
	return p.cfg.Password != "" &&
		(res.StatusCode == sip.StatusUnauthorized || res.StatusCode == sip.StatusProxyAuthRequired)
}

// answerAgain decides whether a challenge that came back after we answered
// one (prev) is worth another answer: only a stale nonce, or a server that
// narrowed its algorithms because it cannot verify the one we chose. Any
// other repeat means the credentials are wrong, and answering again would
// only count one more failure against our address.
func answerAgain(prev, res *sip.Response) bool {
	before, _ := challenges(prev)
	now, stale := challenges(res)
	return stale || (len(now) > 0 && len(now) < len(before))
}

// challenges lists a response's digest algorithms and whether any
// challenge says stale=true.
func challenges(res *sip.Response) (algs []string, stale bool) {
	for _, name := range []string{"WWW-Authenticate", "Proxy-Authenticate"} {
		for _, h := range res.GetHeaders(name) {
			c, err := digest.ParseChallenge(h.Value())
			if err != nil {
				continue
			}
			algs = append(algs, strings.ToUpper(c.Algorithm))
			stale = stale || c.Stale
		}
	}
	return algs, stale
}
