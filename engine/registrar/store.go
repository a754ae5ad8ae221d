package registrar

import (
	"errors"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

// EventType names a registration change.
type EventType string

// Event types, as passed to the `registration` Lua event.
const (
	EventRegister   EventType = "register"
	EventRefresh    EventType = "refresh"
	EventUnregister EventType = "unregister"
	EventExpire     EventType = "expire"
	// EventRemoved: the extension left the plan (a reload), its bindings
	// with it.
	EventRemoved EventType = "removed"
)

// Event reports one binding change.
type Event struct {
	Type    EventType
	Binding Binding
}

// Errors of an update; the handler maps them to SIP statuses.
var (
	errOutOfOrder      = errors.New("registrar: out-of-order cseq for call-id")
	errTooManyContacts = errors.New("registrar: too many contacts")
)

// store holds bindings per AOR behind one mutex, never held across I/O or
// callbacks.
type store struct {
	mu    sync.Mutex
	byAOR map[string][]*Binding
	// version counts changes, so a saver knows whether the bindings
	// changed since it last wrote them.
	version uint64
}

func newStore() *store { return &store{byAOR: make(map[string][]*Binding)} }

// change is one contact of a REGISTER with its effective expiry in seconds
// (0 removes).
type change struct {
	contact sip.Uri
	expires int
}

// meta is what a REGISTER carries besides its contacts.
type meta struct {
	aor, domain, callID, source, transport, userAgent string
	cseq                                              uint32
	now                                               time.Time
	maxContacts                                       int
}

// apply performs all changes of one REGISTER atomically: on error nothing
// changes. It returns the events and the AOR's bindings afterwards.
func (s *store) apply(m meta, changes []change) ([]Event, []Binding, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := live(s.byAOR[m.aor], m.now)
	next := make([]*Binding, len(cur))
	copy(next, cur)
	var events []Event
	for _, c := range changes {
		key := contactKey(&c.contact)
		i := indexOf(next, key)
		if i >= 0 && next[i].CallID == m.callID && m.cseq <= next[i].CSeq {
			return nil, nil, errOutOfOrder
		}
		if c.expires == 0 {
			if i >= 0 {
				events = append(events, Event{EventUnregister, next[i].clone()})
				next = append(next[:i:i], next[i+1:]...)
			}
			continue
		}
		b := &Binding{
			AOR: m.aor, Domain: m.domain, Contact: *c.contact.Clone(), ContactURI: c.contact.String(),
			Source: m.source, Transport: m.transport, Expires: m.now.Add(time.Duration(c.expires) * time.Second),
			Registered: m.now, CallID: m.callID, CSeq: m.cseq, UserAgent: m.userAgent,
		}
		typ := EventRegister
		if i < 0 {
			if j := restarted(next, m); j >= 0 {
				// The same UDP socket registering the AOR under a new
				// Call-ID: the phone restarted (a new contact user, say).
				// Its old binding would fork every call to a dead contact.
				events = append(events, Event{EventUnregister, next[j].clone()})
				next = append(next[:j:j], next[j+1:]...)
			}
		}
		if i >= 0 {
			typ = EventRefresh
			b.Registered = next[i].Registered
			next[i] = b
		} else {
			if m.maxContacts > 0 && len(next) >= m.maxContacts {
				return nil, nil, errTooManyContacts
			}
			next = append(next, b)
		}
		events = append(events, Event{typ, b.clone()})
	}
	s.set(m.aor, next)
	if len(events) > 0 {
		s.version++
	}
	return events, copies(next), nil
}

// restarted is the index of the binding a phone left before it restarted:
// one from the same UDP source address and port as m under another
// Call-ID (RFC 3261 keeps one Call-ID per registering UA instance); -1 when
// there is none. Two phones behind one NAT have different source ports;
// over TCP the source port is a new connection's, so only UDP counts.
func restarted(bs []*Binding, m meta) int {
	if !strings.EqualFold(m.transport, "udp") {
		return -1
	}
	for j, b := range bs {
		if b.Source == m.source && strings.EqualFold(b.Transport, m.transport) && b.CallID != m.callID {
			return j
		}
	}
	return -1
}

// removeAll drops every binding of aor (Contact: *).
func (s *store) removeAll(aor string, now time.Time) []Event {
	return s.remove(aor, now, EventUnregister)
}

func (s *store) set(aor string, bs []*Binding) {
	if len(bs) == 0 {
		delete(s.byAOR, aor)
		return
	}
	s.byAOR[aor] = bs
}

func (s *store) lookup(aor string, now time.Time) []Binding {
	s.mu.Lock()
	defer s.mu.Unlock()
	return copies(live(s.byAOR[aor], now))
}

func (s *store) all(now time.Time) []Binding {
	s.mu.Lock()
	var out []Binding
	for _, bs := range s.byAOR {
		out = append(out, copies(live(bs, now))...)
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].AOR != out[j].AOR {
			return out[i].AOR < out[j].AOR
		}
		return out[i].ContactURI < out[j].ContactURI
	})
	return out
}

// aorDomain is an AOR with the domain it registered under.
type aorDomain struct{ aor, domain string }

// aors lists the AORs with bindings.
func (s *store) aors() []aorDomain {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]aorDomain, 0, len(s.byAOR))
	for aor, bs := range s.byAOR {
		if len(bs) > 0 {
			out = append(out, aorDomain{aor, bs[0].Domain})
		}
	}
	return out
}

// remove drops every binding of aor, reporting each live one as typ.
func (s *store) remove(aor string, now time.Time, typ EventType) []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	var events []Event
	for _, b := range live(s.byAOR[aor], now) {
		events = append(events, Event{typ, b.clone()})
	}
	if _, ok := s.byAOR[aor]; ok {
		s.version++
	}
	delete(s.byAOR, aor)
	return events
}

// sweep removes expired bindings and returns their expire events.
func (s *store) sweep(now time.Time) []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	var events []Event
	for aor, bs := range s.byAOR {
		keep := bs[:0:0]
		for _, b := range bs {
			if b.Expires.After(now) {
				keep = append(keep, b)
				continue
			}
			events = append(events, Event{EventExpire, b.clone()})
		}
		if len(keep) != len(bs) {
			s.set(aor, keep)
			s.version++
		}
	}
	return events
}

// live returns the bindings not yet expired at now (a new slice when some
// are dropped; sweep removes them from the map).
func live(bs []*Binding, now time.Time) []*Binding {
	for i, b := range bs {
		if !b.Expires.After(now) {
			out := append([]*Binding(nil), bs[:i]...)
			for _, b := range bs[i+1:] {
				if b.Expires.After(now) {
					out = append(out, b)
				}
			}
			return out
		}
	}
	return bs
}

func indexOf(bs []*Binding, key string) int {
	for i, b := range bs {
		if contactKey(&b.Contact) == key {
			return i
		}
	}
	return -1
}

func copies(bs []*Binding) []Binding {
	out := make([]Binding, len(bs))
	for i, b := range bs {
		out[i] = b.clone()
	}
	return out
}

// snapshot returns every binding (copies, expired ones not yet swept
// included: a loader drops them) and the version they are at.
func (s *store) snapshot() ([]Binding, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Binding
	for _, bs := range s.byAOR {
		out = append(out, copies(bs)...)
	}
	return out, s.version
}

// restore replaces the bindings with bs (from a saved file), without
// events; the version moves on when dirty, so the next save rewrites the
// file.
func (s *store) restore(bs []Binding, dirty bool) {
	byAOR := make(map[string][]*Binding)
	for i := range bs {
		b := bs[i].clone()
		byAOR[b.AOR] = append(byAOR[b.AOR], &b)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.byAOR = byAOR
	if dirty {
		s.version++
	}
}
