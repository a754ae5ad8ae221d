// Package calltest holds fakes for tests that drive engine/call in-process.
package calltest

import (
	"strings"
	"sync"

	"github.com/emiago/sipgo/sip"

	"luapbx/engine/phone"
	"luapbx/engine/registrar"
)

// Locator is a registrar stand-in: extension numbers bound to test phones.
// The zero value is ready to use.
type Locator struct {
	mu sync.Mutex
	m  map[string][]registrar.Binding
}

// Lookup returns the bindings of aor.
func (l *Locator) Lookup(aor string) []registrar.Binding {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]registrar.Binding(nil), l.m[aor]...)
}

// Add binds aor to a phone listening on UDP.
func (l *Locator) Add(aor string, p *phone.Phone) {
	addr := strings.TrimPrefix(p.Addr(), "udp:")
	host, port, _ := sip.ParseAddr(addr)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[string][]registrar.Binding{}
	}
	l.m[aor] = append(l.m[aor], registrar.Binding{AOR: aor, Contact: sip.Uri{Scheme: "sip", User: aor, Host: host, Port: port},
		Source: addr, Transport: "UDP"})
}

// Set replaces aor's bindings (a TCP phone, say).
func (l *Locator) Set(aor string, bs ...registrar.Binding) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[string][]registrar.Binding{}
	}
	l.m[aor] = bs
}
