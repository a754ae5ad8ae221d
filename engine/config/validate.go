package config

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// validate checks what decoding could not: values, references, files, and
// everything routing.New reports. It fills in the parsed and resolved fields.
func validate(c *Config, rep *report) {
	checkListen(c, rep)
	checkStorage(c, rep)
	checkScripts(c, rep)
	checkSecurity(c, rep)
	checkAdmin(c, rep)
	checkCompanies(c, rep)
	r := checkPlan(c, rep)
	c.router = r
	checkTests(c, rep)
	warnPasswords(c, rep)
	if r != nil {
		warnTies(r, rep)
	}
}

func checkListen(c *Config, rep *report) {
	l := &c.Listen
	if len(l.SIP) == 0 {
		rep.errorf("listen.sip", "need at least one SIP address, such as %q", DefaultSIP[0])
	}
	l.SIPAddrs = l.SIPAddrs[:0]
	for i, s := range l.SIP {
		p := index("listen.sip", i)
		tr, addr, ok := strings.Cut(s, ":")
		if !ok || (tr != "udp" && tr != "tcp") {
			rep.errorf(p, "bad SIP address %q (want udp:HOST:PORT or tcp:HOST:PORT, e.g. udp:127.0.0.1:5060)", s)
			continue
		}
		if err := checkHostPort(addr, true); err != nil {
			rep.errorf(p, "bad SIP address %q: %v", s, err)
			continue
		}
		a := SIPAddr{Transport: tr, Addr: addr}
		if slices.Contains(l.SIPAddrs, a) {
			rep.errorf(p, "%q is listed twice", s)
			continue
		}
		l.SIPAddrs = append(l.SIPAddrs, a)
	}
	if l.HTTP != "" {
		if err := checkHostPort(l.HTTP, true); err != nil {
			rep.errorf("listen.http", "bad HTTP address %q: %v", l.HTTP, err)
		} else if slices.Contains(l.SIPAddrs, SIPAddr{"tcp", l.HTTP}) && !strings.HasSuffix(l.HTTP, ":0") {
			rep.errorf("listen.http", "%q is also a SIP tcp address: give the admin API its own port", l.HTTP)
		}
	}
	if min, max, err := parsePortRange(l.RTPPorts); err != nil {
		rep.errorf("listen.rtp_ports", "bad port range %q: %v", l.RTPPorts, err)
	} else {
		l.RTPMin, l.RTPMax = min, max
	}
	if l.PublicIP != "" && net.ParseIP(l.PublicIP) == nil {
		rep.errorf("listen.public_ip", "bad public_ip %q: want an IP address such as 203.0.113.7", l.PublicIP)
	}
}

// checkHostPort checks "host:port" where host is an IP address, "localhost"
// or empty (every interface). Port 0 (any free port) is allowed for listeners.
func checkHostPort(s string, listener bool) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("want HOST:PORT")
	}
	if host != "" && host != "localhost" && net.ParseIP(host) == nil {
		return fmt.Errorf("host %q is not an IP address", host)
	}
	n, err := strconv.Atoi(port)
	lo := 1
	if listener {
		lo = 0
	}
	if err != nil || n < lo || n > 65535 {
		return fmt.Errorf("port %q is not a number from %d to 65535", port, lo)
	}
	return nil
}

func parsePortRange(s string) (int, int, error) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return 0, 0, fmt.Errorf("want FIRST-LAST, e.g. %s", DefaultRTPPorts)
	}
	lo, err1 := strconv.Atoi(strings.TrimSpace(a))
	hi, err2 := strconv.Atoi(strings.TrimSpace(b))
	switch {
	case err1 != nil || err2 != nil:
		return 0, 0, fmt.Errorf("want FIRST-LAST, e.g. %s", DefaultRTPPorts)
	case lo < 1024 || hi > 65535:
		return 0, 0, fmt.Errorf("ports must be from 1024 to 65535")
	case hi-lo < 1:
		return 0, 0, fmt.Errorf("want at least 2 ports, the first below the last")
	}
	return lo, hi, nil
}

// isLoopback tells whether an HTTP listen address only serves this machine.
func isLoopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func checkStorage(c *Config, rep *report) {
	s := &c.Storage
	switch {
	case strings.HasPrefix(s.CDR, "sqlite:"):
		path := strings.TrimPrefix(s.CDR, "sqlite:")
		path = strings.TrimPrefix(path, "//") // sqlite:///abs/path
		if path == "" || strings.ContainsAny(path, "?#") || strings.Contains(path, ":memory:") {
			rep.errorf("storage.cdr", "bad SQLite path in %q: want sqlite:FILE, e.g. %s", s.CDR, DefaultCDR)
			break
		}
		s.CDRDriver, s.CDRDSN = "sqlite", "sqlite:"+absPath(path)
	case strings.HasPrefix(s.CDR, "postgres://"), strings.HasPrefix(s.CDR, "postgresql://"):
		s.CDRDriver, s.CDRDSN = "postgres", s.CDR
	default:
		rep.errorf("storage.cdr", "bad CDR database %q: want sqlite:FILE or postgres://USER:PASSWORD@HOST/DB", redact(s.CDR))
	}
	for _, d := range []struct {
		key      string
		raw, abs *string
	}{{"recordings", &s.Recordings, &s.RecordingsDir}, {"voicemail", &s.Voicemail, &s.VoicemailDir}} {
		if *d.raw == "" {
			rep.errorf("storage."+d.key, "need a folder")
			continue
		}
		*d.abs = absPath(*d.raw)
	}
	switch r := s.Registrations; {
	case r == "":
		rep.errorf("storage.registrations", "need a file, e.g. %s", DefaultRegistrations)
	case strings.HasSuffix(r, "/") || strings.HasSuffix(r, string(filepath.Separator)) || filepath.Base(r) == "." || filepath.Base(r) == "..":
		rep.errorf("storage.registrations", "%q is a folder: want a file, e.g. %s", r, DefaultRegistrations)
	default:
		s.RegistrationsFile = absPath(r)
	}
}

// redact hides a password in a DSN.
func redact(dsn string) string {
	at := strings.LastIndexByte(dsn, '@')
	scheme := strings.Index(dsn, "://")
	if at < 0 || scheme < 0 || at < scheme {
		return dsn
	}
	if colon := strings.IndexByte(dsn[scheme+3:at], ':'); colon >= 0 {
		return dsn[:scheme+3+colon+1] + "***" + dsn[at:]
	}
	return dsn
}

// absPath resolves a storage path against the working directory.
func absPath(p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		return filepath.Clean(p)
	}
	return abs
}

// resolve makes a script or prompt path absolute against the config's folder.
func (c *Config) resolve(p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(c.Dir, p)
}

// PromptPath resolves a prompt name (an IVR prompt, the file of a play:
// target) the way the loader checked it: against the config file's folder.
func (c *Config) PromptPath(name string) string { return c.resolve(name) }

func checkScripts(c *Config, rep *report) {
	s := &c.Scripts
	s.DirPath = c.Dir
	if s.Dir != "" {
		s.DirPath = c.resolve(s.Dir)
	}
	if fi, err := os.Stat(s.DirPath); err != nil {
		rep.errorf("scripts.dir", "scripts folder %s: %v", s.DirPath, unwrapPathError(err))
	} else if !fi.IsDir() {
		rep.errorf("scripts.dir", "scripts folder %s is not a folder", s.DirPath)
	}
	if s.TimeoutMS < 1 || s.TimeoutMS > 60000 {
		rep.errorf("scripts.timeout_ms", "want 1 to 60000 milliseconds, got %d", s.TimeoutMS)
	}
	if s.EventTimeoutMS < 1 || s.EventTimeoutMS > 600000 {
		rep.errorf("scripts.event_timeout_ms", "want 1 to 600000 milliseconds, got %d", s.EventTimeoutMS)
	}
	for i, h := range s.HTTPAllow {
		if strings.TrimSpace(h) == "" || strings.ContainsAny(h, " \t/") {
			rep.errorf(index("scripts.http_allow", i), "bad entry %q (want host, host:port or *.domain, e.g. crm.example.com)", h)
		}
	}
	if s.Events != "integration" && s.Events != "all" {
		rep.errorf("scripts.events", "bad events %q (want integration or all)", s.Events)
	}
}

func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

func checkSecurity(c *Config, rep *report) {
	s := c.Security
	for _, f := range []struct {
		key string
		v   int
	}{
		{"ban_after_failures", s.BanAfterFailures}, {"ban_window_seconds", s.BanWindowSeconds},
		{"ban_seconds", s.BanSeconds}, {"max_calls", s.MaxCalls},
	} {
		if f.v < 0 {
			rep.errorf("security."+f.key, "must not be negative (0 turns it off), got %d", f.v)
		}
	}
	if s.BanAfterFailures > 0 && (s.BanWindowSeconds == 0 || s.BanSeconds == 0) {
		rep.errorf("security", "ban_after_failures needs ban_window_seconds and ban_seconds above 0 (or set ban_after_failures: 0 to turn bans off)")
	}
	checkDigestAlgorithms(c, rep)
	for i, a := range c.Security.BanExempt {
		if _, err := ParsePrefix(a); err != nil {
			rep.errorf(fmt.Sprintf("security.ban_exempt[%d]", i), "bad address %q (want an IP such as 192.0.2.10 or a network such as 192.0.2.0/24)", a)
		}
	}
}

// ParsePrefix reads an address ("192.0.2.10", a /32 or /128) or a network
// ("192.0.2.0/24").
func ParsePrefix(s string) (netip.Prefix, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return p.Masked(), nil
}

// BanExemptions are the prefixes never banned: security.ban_exempt and
// every trunk's inbound_ips.
func (c *Config) BanExemptions() []netip.Prefix {
	var out []netip.Prefix
	add := func(s string) {
		if p, err := ParsePrefix(s); err == nil {
			out = append(out, p)
		}
	}
	for _, s := range c.Security.BanExempt {
		add(s)
	}
	for _, co := range c.Companies {
		for _, t := range co.Trunks {
			for _, s := range t.InboundIPs {
				add(s)
			}
		}
	}
	return out
}

// checkDigestAlgorithms normalises security.digest_algorithms ("md5" ->
// "MD5") and refuses unknown names, repeats, an empty list, and a list
// without MD5 while an extension has only an MD5 ha1.
func checkDigestAlgorithms(c *Config, rep *report) {
	const path = "security.digest_algorithms"
	algs := c.Security.DigestAlgorithms
	if len(algs) == 0 {
		rep.errorf(path, "must name at least one of MD5, SHA-256")
		return
	}
	seen := map[string]bool{}
	for i, a := range algs {
		switch strings.ToUpper(strings.TrimSpace(a)) {
		case "MD5":
			algs[i] = "MD5"
		case "SHA-256", "SHA256":
			algs[i] = "SHA-256"
		default:
			rep.errorf(path, "unknown digest algorithm %q: want MD5 or SHA-256", a)
			continue
		}
		if seen[algs[i]] {
			rep.errorf(path, "%s is listed twice", algs[i])
		}
		seen[algs[i]] = true
	}
	if seen["MD5"] {
		return
	}
	for ci, co := range c.Companies {
		for ei, e := range co.Extensions {
			if e.Password == "" && e.HA1 != "" {
				rep.errorf(fmt.Sprintf("companies[%d].extensions[%d].ha1", ci, ei),
					"extension %s has only an MD5 ha1, but %s offers no MD5: add MD5 or give it a password", e.Number, path)
			}
		}
	}
}

func checkAdmin(c *Config, rep *report) {
	if c.Listen.HTTP == "" || isLoopback(c.Listen.HTTP) || checkHostPort(c.Listen.HTTP, true) != nil {
		return
	}
	switch {
	case c.Admin.Token == "":
		path := "admin.token"
		if _, written := rep.lines[path]; !written {
			path = "listen.http" // point at what makes the token necessary
		}
		rep.errorAt(lineOf(rep.lines, path), "admin.token", fmt.Sprintf("listen.http %q is reachable from other machines: set admin.token (or listen on 127.0.0.1)", c.Listen.HTTP))
	case len(c.Admin.Token) < 16:
		rep.errorf("admin.token", "too short: a token that guards a network-facing admin API needs at least 16 characters")
	}
}
