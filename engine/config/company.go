package config

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"luapbx/engine/routing"
	"luapbx/media/wav"
)

// checkCompanies checks what routing.New does not: time zones, credentials,
// ring settings, group members, IVR menus, trunks, fallbacks and prompt
// files. Numbers, classes, timetables, off-hours and rules are left to
// routing.New (see checkPlan), so nothing is reported twice.
func checkCompanies(c *Config, rep *report) {
	if len(c.Companies) == 0 && !rep.reported("companies") {
		rep.errorf("companies", "no companies: the plan needs at least one company with its extensions")
	}
	for i := range c.Companies {
		cc := companyCheck{cfg: c, rep: rep, co: &c.Companies[i], path: index("companies", i)}
		cc.run()
	}
}

type companyCheck struct {
	cfg  *Config
	rep  *report
	co   *Company
	path string
}

func (cc *companyCheck) p(format string, args ...any) string {
	return cc.path + "." + fmt.Sprintf(format, args...)
}

func (cc *companyCheck) run() {
	co := cc.co
	switch loc, err := time.LoadLocation(co.Timezone); {
	case co.Timezone == "":
		co.Location = time.UTC
	case err != nil || co.Timezone == "Local":
		cc.rep.errorf(cc.p("timezone"), "unknown time zone %q (want an IANA name such as Europe/Rome or UTC)", co.Timezone)
	default:
		co.Location = loc
	}
	for i := range co.Extensions {
		cc.extension(i, &co.Extensions[i])
	}
	for i := range co.Groups {
		cc.group(i, &co.Groups[i])
	}
	for i := range co.IVRs {
		cc.ivr(i, &co.IVRs[i])
	}
	for i := range co.Trunks {
		cc.trunk(i, &co.Trunks[i])
	}
	for i, t := range co.Timetables {
		if t.ID == "" {
			cc.rep.errorf(cc.p("timetables[%d]", i), "timetable needs an id")
		}
	}
	for i, o := range co.Offhours {
		for j, did := range o.DIDs {
			if !isNumber(did) {
				cc.rep.errorf(cc.p("offhours[%d].dids[%d]", i, j), "%q is not a phone number", did)
			}
		}
		cc.playFile(cc.p("offhours[%d].target", i), o.Target)
	}
	for i, r := range co.Rules {
		cc.playFile(cc.p("rules[%d].target", i), r.Target)
	}
}

func (cc *companyCheck) extension(i int, e *Extension) {
	p := cc.p("extensions[%d]", i)
	switch {
	case e.Password == "" && e.HA1 == "" && e.HA1SHA256 == "":
		cc.rep.errorf(p, "extension %s needs a password (or ha1 / ha1_sha256)", e.Number)
	case e.Password != "" && (e.HA1 != "" || e.HA1SHA256 != ""):
		cc.rep.errorf(p+".password", "give either password, or ha1 and/or ha1_sha256, not both")
	}
	if e.HA1 != "" && !isHex(e.HA1, 32) {
		cc.rep.errorf(p+".ha1", "want 32 hex digits (MD5 of number:realm:password)")
	}
	if e.HA1SHA256 != "" && !isHex(e.HA1SHA256, 64) {
		cc.rep.errorf(p+".ha1_sha256", "want 64 hex digits (SHA-256 of number:realm:password)")
	}
	if e.Mobile != "" && !isNumber(e.Mobile) {
		cc.rep.errorf(p+".mobile", "%q is not a phone number", e.Mobile)
	}
	cc.ringSeconds(p+".ring_seconds", e.RingSeconds)
	if e.MaxCalls < 0 {
		cc.rep.errorf(p+".max_calls", "must not be negative (0 = unlimited), got %d", e.MaxCalls)
	}
	cc.target(p+".fallback", e.Fallback)
	if e.Greeting != "" {
		e.GreetingPath = cc.cfg.resolve(e.Greeting)
		cc.prompt(p+".greeting", e.Greeting, e.GreetingPath)
	}
}

func (cc *companyCheck) ringSeconds(path string, v int) {
	if v < 1 || v > 600 {
		cc.rep.errorf(path, "want 1 to 600 seconds, got %d", v)
	}
}

func (cc *companyCheck) group(i int, g *Group) {
	p := cc.p("groups[%d]", i)
	if g.Strategy != "ringall" && g.Strategy != "hunt" {
		cc.rep.errorf(p+".strategy", "bad strategy %q (want ringall or hunt)", g.Strategy)
	}
	if len(g.Members) == 0 {
		cc.rep.errorf(p+".members", "group %s needs at least one member extension", g.Number)
	}
	seen := map[string]bool{}
	for j, m := range g.Members {
		mp := fmt.Sprintf("%s.members[%d]", p, j)
		switch {
		case cc.co.Extension(m) == nil:
			cc.rep.errorf(mp, "no extension %s in company %s", m, cc.co.ID)
		case seen[m]:
			cc.rep.errorf(mp, "extension %s is listed twice", m)
		}
		seen[m] = true
	}
	cc.ringSeconds(p+".ring_seconds", g.RingSeconds)
	cc.target(p+".fallback", g.Fallback)
}

func (cc *companyCheck) ivr(i int, v *IVR) {
	p := cc.p("ivrs[%d]", i)
	if v.InvalidPrompt != "" {
		v.InvalidPromptPath = cc.cfg.resolve(v.InvalidPrompt)
		cc.prompt(p+".invalid_prompt", v.InvalidPrompt, v.InvalidPromptPath)
	}
	if v.Prompt == "" {
		cc.rep.errorf(p+".prompt", "IVR %s needs a prompt (a WAV file, 8 kHz mono 16-bit PCM)", v.ID)
	} else {
		v.PromptPath = cc.cfg.resolve(v.Prompt)
		cc.prompt(p+".prompt", v.Prompt, v.PromptPath)
	}
	if v.TimeoutSeconds < 1 || v.TimeoutSeconds > 300 {
		cc.rep.errorf(p+".timeout_seconds", "want 1 to 300 seconds, got %d", v.TimeoutSeconds)
	}
	for _, o := range v.Options {
		op := p + ".options." + o.Key
		if len(o.Key) != 1 || !strings.Contains("0123456789*#", o.Key) {
			cc.rep.errorf(op, "bad key %q: an option is one DTMF key, 0-9, * or #", o.Key)
		}
		if o.Value == "" {
			cc.rep.errorf(op, "option %s needs a target", o.Key)
		}
		cc.target(op, o.Value)
	}
	if len(v.Options) == 0 && v.Default == "" {
		cc.rep.errorf(p, "IVR %s needs options or a default", v.ID)
	}
	cc.target(p+".default", v.Default)
}

func (cc *companyCheck) trunk(i int, t *Trunk) {
	p := cc.p("trunks[%d]", i)
	if !validTrunkHost(t.Host) {
		cc.rep.errorf(p+".host", "bad host %q (want a name or address, with an optional :port, e.g. 127.0.0.1:5070)", t.Host)
	}
	if t.Transport != "udp" && t.Transport != "tcp" {
		cc.rep.errorf(p+".transport", "bad transport %q (want udp or tcp)", t.Transport)
	}
	if t.Register && (t.Username == "" || t.Password == "") {
		cc.rep.errorf(p+".register", "registering needs a username and a password")
	}
	for j, ip := range t.InboundIPs {
		if net.ParseIP(ip) != nil {
			continue
		}
		if _, _, err := net.ParseCIDR(ip); err != nil {
			cc.rep.errorf(fmt.Sprintf("%s.inbound_ips[%d]", p, j), "bad address %q (want an IP such as 192.0.2.10 or a network such as 192.0.2.0/24)", ip)
		}
	}
	if t.MaxCalls < 0 {
		cc.rep.errorf(p+".max_calls", "must not be negative (0 = unlimited), got %d", t.MaxCalls)
	}
	if t.KeepaliveSeconds < 0 || t.KeepaliveSeconds > 3600 {
		cc.rep.errorf(p+".keepalive_seconds", "want 1..3600 seconds (0 = the default, 30), got %d", t.KeepaliveSeconds)
	}
}

// target checks a target ("" is allowed: none) and what it names.
func (cc *companyCheck) target(path, s string) {
	if s == "" {
		return
	}
	t, err := routing.ParseTarget(s)
	if err != nil {
		cc.rep.errorf(path, "%v", err)
		return
	}
	co := cc.co
	switch t.Kind {
	case routing.TargetUser:
		if co.Extension(t.Arg) == nil {
			cc.rep.errorf(path, "target %q: no extension %s in company %s", s, t.Arg, co.ID)
		}
	case routing.TargetVoicemail:
		e := co.Extension(t.Arg)
		if e == nil {
			cc.rep.errorf(path, "target %q: no extension %s in company %s", s, t.Arg, co.ID)
		} else if !e.Voicemail {
			cc.rep.errorf(path, "target %q: extension %s has no voicemail (set voicemail: true)", s, t.Arg)
		}
	case routing.TargetGroup:
		if !hasGroup(co, t.Arg) {
			cc.rep.errorf(path, "target %q: no group %s in company %s", s, t.Arg, co.ID)
		}
	case routing.TargetIVR:
		if !hasIVR(co, t.Arg) {
			cc.rep.errorf(path, "target %q: no IVR %q in company %s", s, t.Arg, co.ID)
		}
	case routing.TargetGateway:
		for _, tr := range t.Trunks() {
			if !hasTrunk(co, tr) {
				cc.rep.errorf(path, "target %q: no trunk %q in company %s", s, tr, co.ID)
			}
		}
	case routing.TargetPlay:
		cc.playFile(path, s)
	}
}

// playFile checks the prompt of a play: target; other targets are left to
// whoever checks them.
func (cc *companyCheck) playFile(path, s string) {
	t, err := routing.ParseTarget(s)
	if err != nil || t.Kind != routing.TargetPlay {
		return
	}
	cc.prompt(path, t.Arg, cc.cfg.resolve(t.Arg))
}

// prompt checks that a prompt file exists and is 8 kHz mono 16-bit PCM.
func (cc *companyCheck) prompt(path, name, abs string) {
	fi, err := os.Stat(abs)
	switch {
	case err != nil:
		cc.rep.errorf(path, "prompt %s: %v (looked for %s)", name, unwrapPathError(err), abs)
		return
	case !fi.Mode().IsRegular():
		cc.rep.errorf(path, "prompt %s is not a file", name)
		return
	}
	if _, err := wav.LoadPrompt(abs); err != nil {
		cc.rep.errorf(path, "%s", strings.Replace(err.Error(), abs, name, 1))
	}
}

// validTrunkHost accepts "name", "name:port", "ip", "ip:port", "[ipv6]:port".
func validTrunkHost(s string) bool {
	host := s
	if h, port, err := net.SplitHostPort(s); err == nil {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return false
		}
		host = h
	}
	if net.ParseIP(host) != nil {
		return true
	}
	if host == "" || len(host) > 253 {
		return false
	}
	for _, label := range strings.Split(host, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i] | 0x20
			if (c < 'a' || c > 'z') && (label[i] < '0' || label[i] > '9') && label[i] != '-' {
				return false
			}
		}
	}
	return true
}

func hasGroup(co *Company, number string) bool {
	for _, g := range co.Groups {
		if g.Number == number {
			return true
		}
	}
	return false
}

func hasIVR(co *Company, id string) bool {
	for _, v := range co.IVRs {
		if v.ID == id {
			return true
		}
	}
	return false
}

func hasTrunk(co *Company, id string) bool {
	for _, t := range co.Trunks {
		if t.ID == id {
			return true
		}
	}
	return false
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// isNumber tells whether s, once normalized, is a dialable number.
func isNumber(s string) bool {
	n := routing.Normalize(s)
	if n == "" {
		return false
	}
	for i := 0; i < len(n); i++ {
		if !strings.ContainsRune("0123456789+*#", rune(n[i])) {
			return false
		}
	}
	return true
}
