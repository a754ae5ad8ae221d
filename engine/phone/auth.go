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
