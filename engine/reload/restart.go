package reload

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"luapbx/engine/config"
)

// Settings read once at start-up (by engine/pbx and cmd/luapbx) keep their
// start-up values until a restart, whatever a reload loads: the listeners,
// where call records, recordings and voicemail go, the system's call limit,
// and the trunks' registration and keepalive. Everything else (the plan,
// the scripts and their settings, the admin token, the bans, their
// exemptions and the digest algorithms) is live.

// Restart is one start-up-only setting whose value in the config differs
// from the one the running PBX uses.
type Restart struct {
	Key     string // "listen.sip", "companies[acme].trunks[p1].host"
	Running string // "" when secret
	Config  string // "" when secret
	Note    string // what does change now, if anything
}

// String is the warning shown for it.
func (r Restart) String() string {
	s := r.Key + " changed but takes effect only on restart"
	if r.Note != "" {
		s += " (" + r.Note + ")"
	}
	if r.Running != "" || r.Config != "" {
		s += fmt.Sprintf(": running %s, config %s", quoteEmpty(r.Running), quoteEmpty(r.Config))
	}
	return s
}

func quoteEmpty(s string) string {
	if s == "" {
		return `""`
	}
	return s
}

// RestartChanges lists the start-up-only settings that differ between the
// config the PBX started with and next, in a stable order.
func RestartChanges(running, next *config.Config) []Restart {
	if running == nil || next == nil {
		return nil
	}
	var out []Restart
	add := func(key, a, b string) {
		if a != b {
			out = append(out, Restart{Key: key, Running: a, Config: b})
		}
	}
	rl, nl := running.Listen, next.Listen
	add("listen.sip", strings.Join(rl.SIP, ","), strings.Join(nl.SIP, ","))
	add("listen.http", rl.HTTP, nl.HTTP)
	add("listen.rtp_ports", rl.RTPPorts, nl.RTPPorts)
	add("listen.public_ip", rl.PublicIP, nl.PublicIP)
	rs, ns := running.Storage, next.Storage
	add("storage.cdr", rs.CDRDSN, ns.CDRDSN)
	add("storage.recordings", rs.RecordingsDir, ns.RecordingsDir)
	add("storage.voicemail", rs.VoicemailDir, ns.VoicemailDir)
	add("storage.registrations", rs.RegistrationsFile, ns.RegistrationsFile)
	rsec, nsec := running.Security, next.Security
	itoa := strconv.Itoa
	add("security.max_calls", itoa(rsec.MaxCalls), itoa(nsec.MaxCalls))
	return append(out, trunkChanges(running, next)...)
}

// trunkKey names a trunk across companies.
type trunkKey struct{ company, id string }

// trunkChanges compares what the trunk manager (registration, keepalive)
// and the ban exemptions took from the trunks at start-up. Calls already
// use a trunk's new host, credentials and inbound_ips.
func trunkChanges(running, next *config.Config) []Restart {
	rt, nt := trunksOf(running), trunksOf(next)
	var out []Restart
	for _, k := range sortedKeys(rt, nt) {
		key := fmt.Sprintf("companies[%s].trunks[%s]", k.company, k.id)
		a, inA := rt[k]
		b, inB := nt[k]
		switch {
		case !inA:
			out = append(out, Restart{Key: key, Note: "added: calls can use it and its inbound_ips are exempt from bans now; it registers and is kept alive after a restart"})
			continue
		case !inB:
			out = append(out, Restart{Key: key, Note: "removed: calls no longer use it; it stays registered and kept alive until a restart"})
			continue
		}
		reg := "registration and keepalive; calls use the new value now"
		field := func(name, x, y string, secret bool) {
			if x == y {
				return
			}
			r := Restart{Key: key + "." + name, Running: x, Config: y, Note: reg}
			if secret {
				r.Running, r.Config = "", ""
			}
			out = append(out, r)
		}
		field("host", a.Host, b.Host, false)
		field("transport", a.Transport, b.Transport, false)
		field("username", a.Username, b.Username, false)
		field("password", a.Password, b.Password, true)
		field("register", strconv.FormatBool(a.Register), strconv.FormatBool(b.Register), false)
		field("keepalive_seconds", strconv.Itoa(a.KeepaliveSeconds), strconv.Itoa(b.KeepaliveSeconds), false)
		if x, y := strings.Join(a.InboundIPs, ","), strings.Join(b.InboundIPs, ","); x != y {
			out = append(out, Restart{Key: key + ".inbound_ips", Running: x, Config: y,
				Note: "as ban exemptions; calls from the new addresses are recognised now"})
		}
	}
	return out
}

func trunksOf(c *config.Config) map[trunkKey]config.Trunk {
	out := map[trunkKey]config.Trunk{}
	for _, co := range c.Companies {
		for _, t := range co.Trunks {
			out[trunkKey{co.ID, t.ID}] = t
		}
	}
	return out
}

func sortedKeys(a, b map[trunkKey]config.Trunk) []trunkKey {
	var keys []trunkKey
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(x, y trunkKey) int {
		if c := strings.Compare(x.company, y.company); c != 0 {
			return c
		}
		return strings.Compare(x.id, y.id)
	})
	return keys
}
