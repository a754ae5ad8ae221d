package registrar

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"luapbx/engine/ban"
	"luapbx/engine/sipauth"
)

// Users looks up the credential of an extension. domain is the host part of
// the REGISTER's To URI (a domain or company hint; a flat namespace of
// extension numbers may ignore it).
type Users interface {
	Credential(domain, user string) (sipauth.Credential, bool)
}

// UsersFunc adapts a function to Users.
type UsersFunc func(domain, user string) (sipauth.Credential, bool)

// Credential implements Users.
func (f UsersFunc) Credential(domain, user string) (sipauth.Credential, bool) { return f(domain, user) }

// Expiry bounds in seconds.
const (
	DefaultMinExpires     = 60
	DefaultMaxExpires     = 3600
	DefaultDefaultExpires = 3600
	DefaultMaxContacts    = 10
)

// Registrar stores bindings and serves REGISTER. It is safe for concurrent use.
type Registrar struct {
	log   *slog.Logger
	auth  *sipauth.Auth
	users Users
	bans  *ban.Tracker
	now   func() time.Time

	minExpires, maxExpires, defExpires int
	maxContacts                        int
	onChange                           func(Event)
	generation                         func() uint64 // of the users; nil: check them every sweep
	prunedGen                          uint64        // the generation Sweep last checked (Sweep's goroutine)

	st *store

	// The file of WithFile (persist.go); saveMu guards the fields after it.
	file        string
	saveMu      sync.Mutex
	saveOff     bool         // the file could not be read, or not moved aside: leave it
	saveFailing bool         // the last write failed (logged once per streak)
	savedVer    uint64       // the store version the file holds
	saves       atomic.Int64 // files written (tests)
}

// Option configures a Registrar.
type Option func(*Registrar)

// WithBans counts failed credentials per source address in t and refuses
// banned sources (403).
func WithBans(t *ban.Tracker) Option { return func(r *Registrar) { r.bans = t } }

// WithClock injects the clock (tests).
func WithClock(now func() time.Time) Option {
	return func(r *Registrar) {
		if now != nil {
			r.now = now
		}
	}
}

// WithExpires sets the minimum (shorter gets 423), maximum (longer is
// clamped) and default expiry in seconds; zero keeps a default.
func WithExpires(minSec, maxSec, defSec int) Option {
	return func(r *Registrar) {
		if minSec > 0 {
			r.minExpires = minSec
		}
		if maxSec > 0 {
			r.maxExpires = maxSec
		}
		if defSec > 0 {
			r.defExpires = defSec
		}
	}
}

// WithMaxContacts caps the contacts of one AOR (default 10; 0 = no cap).
func WithMaxContacts(n int) Option { return func(r *Registrar) { r.maxContacts = n } }

// WithGeneration tells the registrar when its users may have changed (a
// config generation): Sweep looks for bindings of removed users only then,
// not every second (each lookup may scan a company's extensions).
func WithGeneration(gen func() uint64) Option { return func(r *Registrar) { r.generation = gen } }

// WithOnChange calls f for every register, refresh, unregister and expiry.
// f runs on the caller's goroutine with no lock held and must not block.
func WithOnChange(f func(Event)) Option { return func(r *Registrar) { r.onChange = f } }

// New returns a Registrar authenticating with auth against users.
func New(log *slog.Logger, auth *sipauth.Auth, users Users, opts ...Option) *Registrar {
	if log == nil {
		log = slog.Default()
	}
	r := &Registrar{
		log: log.With("component", "registrar"), auth: auth, users: users, now: time.Now,
		minExpires: DefaultMinExpires, maxExpires: DefaultMaxExpires, defExpires: DefaultDefaultExpires,
		maxContacts: DefaultMaxContacts, st: newStore(),
	}
	for _, o := range opts {
		o(r)
	}
	if r.defExpires > r.maxExpires {
		r.defExpires = r.maxExpires
	}
	if r.file != "" {
		r.load() // when it drops bindings, the next save rewrites the file
	}
	return r
}

// Lookup returns the live bindings of aor (copies).
func (r *Registrar) Lookup(aor string) []Binding { return r.st.lookup(aor, r.now()) }

// All returns every live binding, sorted by AOR then contact.
func (r *Registrar) All() []Binding { return r.st.all(r.now()) }

// Sweep removes expired bindings now, and those of extensions the users
// no longer know (a reload took them out of the plan), and reports them.
func (r *Registrar) Sweep() {
	now := r.now()
	r.emit(r.st.sweep(now))
	if r.generation != nil {
		gen := r.generation()
		if gen == r.prunedGen {
			return
		}
		r.prunedGen = gen
	}
	for _, a := range r.st.aors() {
		if _, ok := r.users.Credential(a.domain, a.aor); !ok {
			r.emit(r.st.remove(a.aor, now, EventRemoved))
		}
	}
}

// Run sweeps bindings every second until ctx ends, and with WithFile saves
// them when they changed: a burst of REGISTERs costs one write a second.
// Call Close after Run for the changes of its last second.
func (r *Registrar) Run(ctx context.Context) error {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			r.Sweep()
			_ = r.save() // logged; retried on the next tick
		}
	}
}

func (r *Registrar) emit(events []Event) {
	for _, e := range events {
		r.log.Info("registration", "event", string(e.Type), "aor", e.Binding.AOR,
			"contact", e.Binding.ContactURI, "source", e.Binding.Source, "transport", e.Binding.Transport)
		if r.onChange != nil {
			r.onChange(e)
		}
	}
}
