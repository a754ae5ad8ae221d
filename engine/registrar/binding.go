// Package registrar keeps SIP registrations (RFC 3261 §10): bindings of an
// address of record (an extension number) to one or more contacts, with
// digest authentication, Expires bounds, unregistration and NAT fixing: each
// binding remembers where its REGISTER really came from, and that is where
// requests for it are sent. With WithFile the bindings survive a restart
// (persist.go).
package registrar

import (
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Binding is one registered contact of an AOR. Values returned by the
// registrar are copies; Contact is cloned and may be modified.
type Binding struct {
	AOR     string  `json:"aor"`
	Domain  string  `json:"domain,omitempty"`
	Contact sip.Uri `json:"-"`
	// ContactURI is Contact as text (for the admin API and logs).
	ContactURI string `json:"contact"`
	// Source is the ip:port the REGISTER came from (received/rport), the
	// address to send requests to; Transport its transport ("UDP", "TCP").
	Source     string    `json:"source"`
	Transport  string    `json:"transport"`
	Expires    time.Time `json:"expires"`
	Registered time.Time `json:"registered"`
	CallID     string    `json:"call_id"`
	CSeq       uint32    `json:"cseq"`
	UserAgent  string    `json:"user_agent,omitempty"`
}

// NATed reports whether the contact address differs from the source, i.e.
// the phone is behind NAT (or advertises an address we cannot reach).
func (b *Binding) NATed() bool {
	return !strings.EqualFold(hostPort(&b.Contact, b.Transport), b.Source)
}

// Route prepares req (whose Request-URI should be b.Contact) to be sent to
// where the phone really is: the source address and transport of its
// REGISTER, not the possibly private address in its Contact.
func (b *Binding) Route(req *sip.Request) {
	req.SetDestination(b.Source)
	if b.Transport != "" {
		req.SetTransport(b.Transport)
	}
}

// ExpiresIn is the number of whole seconds left at now (0 when expired).
func (b *Binding) ExpiresIn(now time.Time) int {
	d := b.Expires.Sub(now)
	if d <= 0 {
		return 0
	}
	return int((d + time.Second - 1) / time.Second)
}

func (b Binding) clone() Binding {
	b.Contact = *b.Contact.Clone()
	return b
}

// contactKey identifies a contact within an AOR: scheme, user, host, port
// (URI parameters ignored, host case-insensitive).
func contactKey(u *sip.Uri) string {
	return strings.ToLower(schemeOf(u)) + ":" + u.User + "@" + strings.ToLower(hostPort(u, ""))
}

func schemeOf(u *sip.Uri) string {
	if u.Scheme == "" {
		return "sip"
	}
	return u.Scheme
}

// hostPort returns host:port of u, the transport's default port when unset.
func hostPort(u *sip.Uri, transport string) string {
	port := u.Port
	if port == 0 {
		port = sip.DefaultPort(strings.ToLower(transport))
		if u.IsEncrypted() {
			port = 5061
		}
	}
	host := u.Host
	if strings.Contains(host, ":") && !strings.HasPrefix(host, "[") {
		host = "[" + host + "]"
	}
	return host + ":" + strconv.Itoa(port)
}
