// Package trunk keeps luapbx's trunks alive: outbound registration for
// trunks with register: true (refreshed before expiry, retried with
// backoff) and an OPTIONS keepalive that marks a trunk down and up again.
// Manager implements call.TrunkState.
package trunk

import (
	"context"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Spec is one trunk to keep alive.
type Spec struct {
	ID        string
	Host      string // host[:port]
	Transport string // udp (default) or tcp
	Username  string
	Password  string
	Register  bool
	// Keepalive is this trunk's OPTIONS interval; 0 takes the manager's
	// (WithKeepalive, default 30 s).
	Keepalive time.Duration
}

// Transport is the SIP stack requests go through (engine/sipserver.Server).
type Transport interface {
	Client(transport string) (*sipgo.Client, error)
	Contact(transport string) sip.ContactHeader
}

// State is a trunk's state for logs and GET /api/registrations.
type State struct {
	ID         string    `json:"id"`
	Host       string    `json:"host"`
	Up         bool      `json:"up"`
	Register   bool      `json:"register"`
	Registered bool      `json:"registered"`
	Expires    time.Time `json:"expires,omitzero"`
	LastCode   int       `json:"last_code,omitempty"`
	LastError  string    `json:"last_error,omitempty"` // the last failed registration or probe, cleared by success
	Failures   int       `json:"failures"`             // registrations failed in a row
	Misses     int       `json:"keepalive_misses"`     // OPTIONS probes unanswered in a row
}

// Option configures a Manager.
type Option func(*Manager)

// WithKeepalive sets the OPTIONS interval (default 30 s) and the number of
// unanswered probes in a row that mark a trunk down (default 2).
func WithKeepalive(every time.Duration, downAfter int) Option {
	return func(m *Manager) {
		if every > 0 {
			m.every = every
		}
		if downAfter > 0 {
			m.downAfter = downAfter
		}
	}
}

// WithExpires sets the registration expiry asked for (default 3600 s).
func WithExpires(d time.Duration) Option { return func(m *Manager) { m.expires = d } }

// WithBackoff bounds the retry delay after a failed registration (default
// 1 s doubling up to 60 s).
func WithBackoff(first, max time.Duration) Option {
	return func(m *Manager) { m.backoff, m.maxBackoff = first, max }
}

// WithTimeout bounds one request (default 5 s).
func WithTimeout(d time.Duration) Option { return func(m *Manager) { m.timeout = d } }

// Manager runs the registration and keepalive of every trunk.
type Manager struct {
	log        *slog.Logger
	tr         Transport
	specs      []Spec
	every      time.Duration
	downAfter  int
	expires    time.Duration
	backoff    time.Duration
	maxBackoff time.Duration
	timeout    time.Duration

	mu     sync.Mutex
	states map[string]*State
}

// New returns a Manager for specs.
func New(log *slog.Logger, tr Transport, specs []Spec, opts ...Option) *Manager {
	if log == nil {
		log = slog.Default()
	}
	m := &Manager{log: log, tr: tr, specs: specs, every: 30 * time.Second, downAfter: 2, expires: time.Hour,
		backoff: time.Second, maxBackoff: time.Minute, timeout: 5 * time.Second, states: map[string]*State{}}
	for _, o := range opts {
		o(m)
	}
	for _, s := range specs {
		m.states[s.ID] = &State{ID: s.ID, Host: s.Host, Up: true, Register: s.Register}
	}
	return m
}

// Up reports whether a trunk answers its keepalive (unknown trunks and
// trunks not probed yet are up).
func (m *Manager) Up(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.states[id]
	return st == nil || st.Up
}

// States lists every trunk's state, by id.
func (m *Manager) States() []State {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]State, 0, len(m.states))
	for _, st := range m.states {
		out = append(out, *st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Run keeps every trunk alive until ctx ends; registered trunks are
// unregistered on the way out.
func (m *Manager) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, s := range m.specs {
		wg.Go(func() { m.keepalive(ctx, s) })
		if s.Register {
			wg.Go(func() { m.register(ctx, s) })
		}
	}
	wg.Wait()
	return nil
}

func (m *Manager) update(id string, f func(*State)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if st := m.states[id]; st != nil {
		f(st)
	}
}
