package sipauth

import "strings"

// creds are the parameters of a Digest Authorization header. Values are
// substrings of the header (no copy) unless they had escapes.
type creds struct {
	username, realm, nonce, uri, response string
	algorithm, cnonce, opaque, qop, nc    string
	userhash                              bool
}

// parseCreds parses `Digest k=v, k="v", ...` without allocating for the
// common case. It reports false for anything that is not well formed.
func parseCreds(h string) (creds, bool) {
	var c creds
	s, ok := cutDigest(h)
	if !ok {
		return c, false
	}
	for {
		s = trimSpace(s)
		if s == "" {
			return c, true
		}
		i := 0
		for i < len(s) && isToken(s[i]) {
			i++
		}
		if i == 0 {
			return c, false
		}
		key := s[:i]
		s = trimSpace(s[i:])
		if s == "" || s[0] != '=' {
			return c, false
		}
		val, rest, ok := value(trimSpace(s[1:]))
		if !ok {
			return c, false
		}
		c.set(key, val)
		s = trimSpace(rest)
		if s == "" {
			return c, true
		}
		if s[0] != ',' {
			return c, false
		}
		s = s[1:]
	}
}

// value reads a token or a quoted string at the start of s.
func value(s string) (val, rest string, ok bool) {
	if s == "" || s[0] != '"' {
		j := 0
		for j < len(s) && s[j] != ',' && !isSpace(s[j]) {
			j++
		}
		return s[:j], s[j:], j > 0
	}
	escaped := false
	j := 1
	for ; j < len(s) && s[j] != '"'; j++ {
		if s[j] == '\\' {
			escaped = true
			j++
		}
	}
	if j >= len(s) {
		return "", "", false
	}
	val = s[1:j]
	if escaped {
		val = unescape(val)
	}
	return val, s[j+1:], true
}

func (c *creds) set(key, val string) {
	switch strings.ToLower(key) {
	case "username":
		c.username = val
	case "realm":
		c.realm = val
	case "nonce":
		c.nonce = val
	case "uri":
		c.uri = val
	case "response":
		c.response = val
	case "algorithm":
		c.algorithm = val
	case "cnonce":
		c.cnonce = val
	case "opaque":
		c.opaque = val
	case "qop":
		c.qop = val
	case "nc":
		c.nc = val
	case "userhash":
		c.userhash = strings.EqualFold(val, "true")
	}
}

func cutDigest(h string) (string, bool) {
	h = trimSpace(h)
	const p = "digest"
	if len(h) <= len(p) || !strings.EqualFold(h[:len(p)], p) || !isSpace(h[len(p)]) {
		return "", false
	}
	return h[len(p):], true
}

func unescape(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func trimSpace(s string) string {
	for s != "" && isSpace(s[0]) {
		s = s[1:]
	}
	for s != "" && isSpace(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

func isSpace(b byte) bool { return b == ' ' || b == '\t' || b == '\r' || b == '\n' }

// isToken accepts the token characters of RFC 3261 §25.1.
func isToken(b byte) bool {
	switch {
	case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		return true
	}
	return strings.IndexByte("-.!%*_+`'~", b) >= 0
}

// validNC reports whether nc is 8 hex digits and not zero.
func validNC(nc string) bool {
	if len(nc) != 8 {
		return false
	}
	nonZero := false
	for i := 0; i < len(nc); i++ {
		b := nc[i]
		switch {
		case '0' <= b && b <= '9', 'a' <= b && b <= 'f', 'A' <= b && b <= 'F':
		default:
			return false
		}
		if b != '0' {
			nonZero = true
		}
	}
	return nonZero
}
