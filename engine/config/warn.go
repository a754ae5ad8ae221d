package config

import (
	"fmt"
	"strings"

	"luapbx/engine/routing"
)

// MinPasswordLen is the shortest extension password check accepts silently.
const MinPasswordLen = 8

// commonPasswords are tried first by SIP crackers (svcrack's defaults and
// the usual leaked-password lists).
var commonPasswords = map[string]bool{
	"password": true, "passw0rd": true, "p@ssw0rd": true, "secret": true, "s3cret": true,
	"changeme": true, "letmein": true, "welcome": true, "admin": true, "administrator": true,
	"qwerty": true, "qwertyuiop": true, "abc123": true, "abcd1234": true, "iloveyou": true,
	"123456": true, "1234567": true, "12345678": true, "123456789": true, "1234567890": true,
	"111111": true, "000000": true, "123123": true, "654321": true, "1234": true, "0000": true,
	"voip": true, "sip": true, "asterisk": true, "freeswitch": true, "pbx": true, "phone": true,
	"default": true, "test": true, "guest": true, "user": true,
}

// weakness says why password is weak for extension number, or "".
func weakness(number, name, password string) string {
	lower := strings.ToLower(password)
	switch {
	case password == number:
		return "it equals the extension number"
	case commonPasswords[lower]:
		return "it is one of the first passwords attackers try"
	case name != "" && lower == strings.ToLower(name):
		return "it equals the extension's name"
	case strings.Contains(password, number) && len(password)-len(number) < 4:
		return "it is little more than the extension number"
	case len(password) < MinPasswordLen:
		return fmt.Sprintf("it is shorter than %d characters", MinPasswordLen)
	case strings.Count(password, password[:1]) == len(password):
		return "it repeats one character"
	}
	return ""
}

// warnPasswords warns about weak extension passwords; check accepts them.
func warnPasswords(c *Config, rep *report) {
	for i, co := range c.Companies {
		for j, e := range co.Extensions {
			if e.Password == "" {
				continue
			}
			if why := weakness(e.Number, e.Name, e.Password); why != "" {
				rep.warnf(fmt.Sprintf("companies[%d].extensions[%d].password", i, j),
					"weak password for extension %s: %s (phones on the internet get guessed)", e.Number, why)
			}
		}
	}
}

// warnTies warns about pairs of rules that can serve the same call with
// the same score (the router gives it to the one written first), on the
// line of the rule that loses.
func warnTies(r *routing.Router, rep *report) {
	for _, t := range r.Ties() {
		rep.warnf(t.SecondPath, "rule %s can tie with rule %s (line %d): %s; %s wins because it is written first",
			t.Second, t.First, lineOf(rep.lines, t.FirstPath), t.Why, t.First)
	}
}
