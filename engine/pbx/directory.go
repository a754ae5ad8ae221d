package pbx

import (
	"context"
	"net/netip"
	"strings"

	"luapbx/engine"
	"luapbx/engine/call"
	"luapbx/engine/config"
	"luapbx/engine/reload"
	"luapbx/engine/routing"
	"luapbx/engine/sipauth"
)

// directory indexes one snapshot's config for the call layer; it implements
// call.Snapshot.
type directory struct {
	snap   *reload.Snapshot
	exts   map[string]call.Extension
	groups map[string]call.Group // company + "/" + number
	trunks map[string]call.Trunk // company + "/" + id
	from   []trunkSource
}

type trunkSource struct {
	prefix netip.Prefix
	trunk  call.Trunk
}

var _ call.Snapshot = (*directory)(nil)

func newDirectory(s *reload.Snapshot) *directory {
	d := &directory{snap: s, exts: map[string]call.Extension{}, groups: map[string]call.Group{}, trunks: map[string]call.Trunk{}}
	for i := range s.Config.Companies {
		co := &s.Config.Companies[i]
		for _, e := range co.Extensions {
			d.exts[e.Number] = call.Extension{
				Number: e.Number, Company: co.ID, Name: e.Name,
				Credential:  sipauth.Credential{Password: e.Password, HA1MD5: e.HA1, HA1SHA256: e.HA1SHA256},
				RingSeconds: e.RingSeconds, MaxCalls: e.MaxCalls, Fallback: e.Fallback,
			}
		}
		for _, g := range co.Groups {
			d.groups[co.ID+"/"+g.Number] = call.Group{
				Number: g.Number, Company: co.ID, Strategy: g.Strategy, Members: g.Members,
				RingSeconds: g.RingSeconds, Fallback: g.Fallback,
			}
		}
		for _, t := range co.Trunks {
			ct := call.Trunk{ID: t.ID, Company: co.ID, Host: t.Host, Transport: t.Transport,
				Username: t.Username, Password: t.Password, MaxCalls: t.MaxCalls}
			d.trunks[co.ID+"/"+t.ID] = ct
			for _, ip := range t.InboundIPs {
				if p, ok := parsePrefix(ip); ok {
					d.from = append(d.from, trunkSource{p, ct})
				}
			}
		}
	}
	return d
}

// parsePrefix reads an address or a CIDR.
func parsePrefix(s string) (netip.Prefix, bool) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err == nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(a, a.BitLen()), true
}

func (d *directory) Extension(number string) (call.Extension, bool) {
	e, ok := d.exts[number]
	return e, ok
}

func (d *directory) Group(company, number string) (call.Group, bool) {
	g, ok := d.groups[company+"/"+number]
	return g, ok
}

func (d *directory) Trunk(company, id string) (call.Trunk, bool) {
	t, ok := d.trunks[company+"/"+id]
	return t, ok
}

func (d *directory) TrunkFrom(ip netip.Addr) (call.Trunk, bool) {
	ip = ip.Unmap()
	for _, s := range d.from {
		if s.prefix.Contains(ip) {
			return s.trunk, true
		}
	}
	return call.Trunk{}, false
}

func (d *directory) Generation() uint64 { return d.snap.Gen }

// Decide routes with the snapshot's router and scripts, and always builds
// the explanation: it goes to the logs and the call record.
func (d *directory) Decide(_ context.Context, c *routing.Call) (routing.Decision, any) {
	var ex routing.Explanation
	dec := d.snap.Router.Decide(c, d.snap.Hooks(), &ex)
	return dec, routing.NewReport(dec, ex)
}

// credential finds an extension's credentials in a config.
func credential(cfg *config.Config, user string) (sipauth.Credential, bool) {
	for i := range cfg.Companies {
		if e := cfg.Companies[i].Extension(user); e != nil {
			return sipauth.Credential{Password: e.Password, HA1MD5: e.HA1, HA1SHA256: e.HA1SHA256}, true
		}
	}
	return sipauth.Credential{}, false
}

// WantEvents is call.EventSink's: whether this generation's scripts get
// the events of a call with this integration flag.
func (d *directory) WantEvents(integration bool) bool { return wantEvents(d.snap, integration) }

// Emit is call.EventSink's: a call's events go to the scripts of the
// generation it runs with, filtered as that generation's scripts.events
// says, so a reload during the call does not split them between two
// on_event versions.
func (d *directory) Emit(ev engine.Event) { emitFiltered(d.snap, ev) }
