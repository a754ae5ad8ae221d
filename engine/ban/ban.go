// Package ban tracks failed authentications per source address and bans an
// address that fails too often within a window. Memory stays bounded under an
// attack from many addresses: idle entries are pruned and the table has a cap.
package ban

import (
	"net"
	"net/netip"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultMaxEntries caps the number of tracked addresses.
const DefaultMaxEntries = 100_000

// Entry describes one tracked address, for the admin API.
type Entry struct {
	IP          string    `json:"ip"`
	Failures    int       `json:"failures"`
	Banned      bool      `json:"banned"`
	BannedUntil time.Time `json:"banned_until,omitzero"`
}

type entry struct {
	fails       []time.Time // failure times inside the window, oldest first, at most after
	bannedUntil time.Time
}

// Tracker counts failures per address. It is safe for concurrent use.
type Tracker struct {
	now     func() time.Time
	observe func(ip string, banned bool)
	exempt  atomic.Pointer[[]netip.Prefix] // addresses never banned (trunks, ban_exempt)

	mu         sync.Mutex
	after      int
	window     time.Duration
	banFor     time.Duration
	maxEntries int
	entries    map[string]*entry
	ops        int
	lastPrune  time.Time
}

// New returns a Tracker that bans an address for banFor once it has failed
// after times within window. after <= 0 disables banning. now may be nil.
func New(after int, window, banFor time.Duration, now func() time.Time) *Tracker {
	if now == nil {
		now = time.Now
	}
	return &Tracker{
		after: after, window: window, banFor: banFor, now: now,
		maxEntries: DefaultMaxEntries,
		entries:    make(map[string]*entry),
	}
}

// SetPolicy replaces the ban settings (a reload): after failures within
// window ban for banFor; after <= 0 stops banning. Bans in force keep their
// end (Unban lifts one); failures counted so far count against the new
// threshold.
func (t *Tracker) SetPolicy(after int, window, banFor time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.after, t.window, t.banFor = after, window, banFor
}

// BanFor is how long a ban lasts now.
func (t *Tracker) BanFor() time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.banFor
}

// SetMaxEntries changes the table cap (tests, tuning).
func (t *Tracker) SetMaxEntries(n int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if n > 0 {
		t.maxEntries = n
	}
}

// Fail records a failure from ip and reports whether this failure started a
// ban. Failures from an already banned address do not extend the ban.
func (t *Tracker) Fail(ip string) (banned bool) {
	banned = t.fail(ip)
	if t.observe != nil {
		t.observe(ip, banned)
	}
	return banned
}

// SetExempt sets the addresses whose failures never ban them (a provider's
// signalling addresses, an office NAT); safe while in use (a reload). An
// address exempted while banned is let in at once, its ban and failures
// forgotten.
func (t *Tracker) SetExempt(prefixes []netip.Prefix) {
	prefixes = slices.Clone(prefixes)
	t.exempt.Store(&prefixes)
	if len(prefixes) == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for ip := range t.entries {
		if t.Exempt(ip) {
			delete(t.entries, ip)
		}
	}
}

// Exempt reports whether ip is never banned.
func (t *Tracker) Exempt(ip string) bool {
	ex := t.exempt.Load()
	if ex == nil || len(*ex) == 0 {
		return false
	}
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range *ex {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Observe sets a function told of every failure and whether it banned the
// address (for metrics); set it before use. It runs with no lock held.
func (t *Tracker) Observe(f func(ip string, banned bool)) { t.observe = f }

func (t *Tracker) fail(ip string) (banned bool) {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	// Under the lock: a SetExempt clears its addresses' entries under it,
	// and must not see one come back from a failure counted meanwhile.
	if t.after <= 0 || t.Exempt(ip) {
		return false
	}
	t.maybePrune(now)
	e := t.entries[ip]
	if e == nil {
		if len(t.entries) >= t.maxEntries {
			t.makeRoom(now)
		}
		e = &entry{}
		t.entries[ip] = e
	}
	if now.Before(e.bannedUntil) {
		return false
	}
	e.fails = trim(e.fails, now.Add(-t.window))
	if extra := len(e.fails) - (t.after - 1); extra > 0 { // a threshold lowered by a reload
		e.fails = e.fails[extra:]
	}
	e.fails = append(e.fails, now)
	if len(e.fails) < t.after {
		return false
	}
	e.bannedUntil = now.Add(t.banFor)
	e.fails = e.fails[:0]
	return true
}

// Banned reports whether ip is banned now.
func (t *Tracker) Banned(ip string) bool {
	now := t.now()
	t.mu.Lock()
	e := t.entries[ip]
	banned := e != nil && now.Before(e.bannedUntil)
	t.mu.Unlock()
	return banned && !t.Exempt(ip)
}

// Success forgets the failures of ip (not an active ban).
func (t *Tracker) Success(ip string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.entries[ip]; e != nil && !t.now().Before(e.bannedUntil) {
		delete(t.entries, ip)
	}
}

// Unban lifts a ban on ip and forgets its failures (admin action). It
// reports whether ip was banned.
func (t *Tracker) Unban(ip string) bool {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.entries[ip]
	delete(t.entries, ip)
	return e != nil && now.Before(e.bannedUntil)
}

// List returns the tracked addresses, banned first, then by address.
func (t *Tracker) List() []Entry {
	now := t.now()
	t.mu.Lock()
	out := make([]Entry, 0, len(t.entries))
	for ip, e := range t.entries {
		n := len(trim(e.fails, now.Add(-t.window)))
		b := now.Before(e.bannedUntil)
		if n == 0 && !b {
			continue
		}
		en := Entry{IP: ip, Failures: n, Banned: b}
		if b {
			en.BannedUntil = e.bannedUntil
		}
		out = append(out, en)
	}
	t.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Banned != out[j].Banned {
			return out[i].Banned
		}
		return out[i].IP < out[j].IP
	})
	return out
}

// Len returns the number of tracked addresses (pruned lazily).
func (t *Tracker) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.entries)
}

// Prune drops entries with no ban and no failure inside the window.
func (t *Tracker) Prune() {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.prune(now)
}

// maybePrune prunes every 1024 operations or once per window.
func (t *Tracker) maybePrune(now time.Time) {
	t.ops++
	if t.ops%1024 == 0 || now.Sub(t.lastPrune) > t.window {
		t.prune(now)
	}
}

func (t *Tracker) prune(now time.Time) {
	t.lastPrune = now
	cut := now.Add(-t.window)
	for ip, e := range t.entries {
		if !now.Before(e.bannedUntil) && len(trim(e.fails, cut)) == 0 {
			delete(t.entries, ip)
		}
	}
}

// makeRoom prunes; if the table is still full it drops unbanned entries,
// then (a table full of bans) arbitrary ones, down to 90% of the cap.
func (t *Tracker) makeRoom(now time.Time) {
	t.prune(now)
	target := t.maxEntries * 9 / 10
	for _, keepBanned := range []bool{true, false} {
		for ip, e := range t.entries {
			if len(t.entries) <= target {
				return
			}
			if keepBanned && now.Before(e.bannedUntil) {
				continue
			}
			delete(t.entries, ip)
		}
	}
}

// trim drops times before cut (fails is sorted).
func trim(fails []time.Time, cut time.Time) []time.Time {
	i := 0
	for i < len(fails) && fails[i].Before(cut) {
		i++
	}
	return fails[i:]
}

// HostOf returns the IP part of a "host:port" source address (or addr itself
// when it has no port), the key to use with a Tracker.
func HostOf(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}
