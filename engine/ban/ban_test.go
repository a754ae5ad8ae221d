package ban

import (
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)} }

// step is one action of a scenario: a failure (with the ban it should
// trigger) or a clock advance, then the expected Banned state.
type step struct {
	advance    time.Duration
	fail       bool
	success    bool
	wantBanNow bool
	wantBanned bool
}

func TestTracker(t *testing.T) {
	f := step{fail: true}
	tests := []struct {
		name  string
		after int
		steps []step
	}{
		{"third failure bans", 3, []step{f, f, {fail: true, wantBanNow: true, wantBanned: true}}},
		{"failures outside window do not add up", 3, []step{
			f, f, {advance: 61 * time.Second}, f, {fail: true, wantBanned: false},
			{fail: true, wantBanNow: true, wantBanned: true},
		}},
		{"sliding window keeps recent failures", 3, []step{
			f, {advance: 40 * time.Second}, f, {advance: 30 * time.Second}, // first is now 70 s old
			{fail: true, wantBanned: false}, {fail: true, wantBanNow: true, wantBanned: true},
		}},
		{"ban expires", 2, []step{
			f, {fail: true, wantBanNow: true, wantBanned: true},
			{advance: 599 * time.Second, wantBanned: true},
			{advance: 2 * time.Second, wantBanned: false},
			f, {fail: true, wantBanNow: true, wantBanned: true},
		}},
		{"failures while banned do not re-trigger", 2, []step{
			f, {fail: true, wantBanNow: true, wantBanned: true},
			{fail: true, wantBanned: true}, {fail: true, wantBanned: true},
		}},
		{"success resets counter", 3, []step{f, f, {success: true}, f, {fail: true, wantBanned: false}}},
		{"success does not lift a ban", 1, []step{{fail: true, wantBanNow: true, wantBanned: true}, {success: true, wantBanned: true}}},
		{"disabled", 0, []step{f, f, f, f, f, f}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock()
			tr := New(tc.after, time.Minute, 10*time.Minute, c.now)
			const ip = "192.0.2.7"
			for i, s := range tc.steps {
				c.add(s.advance)
				if s.success {
					tr.Success(ip)
				}
				if s.fail {
					if got := tr.Fail(ip); got != s.wantBanNow {
						t.Fatalf("step %d: Fail = %v, want %v", i, got, s.wantBanNow)
					}
				}
				if got := tr.Banned(ip); got != s.wantBanned {
					t.Fatalf("step %d: Banned = %v, want %v", i, got, s.wantBanned)
				}
			}
			if tr.Banned("192.0.2.8") {
				t.Fatal("another address is banned")
			}
		})
	}
}

func TestList(t *testing.T) {
	c := newClock()
	tr := New(2, time.Minute, time.Hour, c.now)
	tr.Fail("10.0.0.2")
	tr.Fail("10.0.0.1")
	tr.Fail("10.0.0.1")
	got := tr.List()
	if len(got) != 2 {
		t.Fatalf("list %+v", got)
	}
	if got[0].IP != "10.0.0.1" || !got[0].Banned || !got[0].BannedUntil.Equal(c.now().Add(time.Hour)) {
		t.Errorf("first %+v", got[0])
	}
	if got[1].IP != "10.0.0.2" || got[1].Banned || got[1].Failures != 1 {
		t.Errorf("second %+v", got[1])
	}
	c.add(2 * time.Minute)
	if l := tr.List(); len(l) != 1 || l[0].IP != "10.0.0.1" {
		t.Errorf("after window %+v", l)
	}
	tr.Unban("10.0.0.1")
	if tr.Banned("10.0.0.1") {
		t.Error("unban did not lift the ban")
	}
}

func TestBoundedMemory(t *testing.T) {
	c := newClock()
	tr := New(5, time.Minute, time.Hour, c.now)
	tr.SetMaxEntries(1000)
	// One address gets banned and must survive the flood.
	for range 5 {
		tr.Fail("198.51.100.1")
	}
	for i := range 50_000 {
		tr.Fail(fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255))
	}
	if n := tr.Len(); n > 1000 {
		t.Fatalf("%d entries, cap 1000", n)
	}
	if !tr.Banned("198.51.100.1") {
		t.Fatal("ban evicted by the flood")
	}
	c.add(2 * time.Minute)
	tr.Prune()
	if n := tr.Len(); n != 1 {
		t.Fatalf("%d entries after prune, want 1 (the ban)", n)
	}
}

func TestHostOf(t *testing.T) {
	tests := []struct{ in, want string }{
		{"127.0.0.1:5060", "127.0.0.1"},
		{"[::1]:5060", "::1"},
		{"10.0.0.1", "10.0.0.1"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			if got := HostOf(tc.in); got != tc.want {
				t.Fatalf("HostOf(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func BenchmarkFail(b *testing.B) {
	tr := New(5, time.Minute, time.Hour, nil)
	ips := make([]string, 4096)
	for i := range ips {
		ips[i] = fmt.Sprintf("10.0.%d.%d", i>>8, i&255)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		tr.Fail(ips[i&4095])
		i++
	}
}

func BenchmarkBanned(b *testing.B) {
	tr := New(5, time.Minute, time.Hour, nil)
	tr.Fail("10.0.0.1")
	b.ReportAllocs()
	for b.Loop() {
		tr.Banned("10.0.0.1")
	}
}

func TestObserveSeesFailuresAndBans(t *testing.T) {
	now := time.Unix(1000, 0)
	tr := New(2, time.Minute, time.Hour, func() time.Time { return now })
	var fails, bans int
	tr.Observe(func(ip string, banned bool) {
		fails++
		if banned {
			bans++
		}
	})
	tr.Fail("10.0.0.1")
	tr.Fail("10.0.0.1")
	if fails != 2 || bans != 1 {
		t.Fatalf("observed %d failures and %d bans, want 2 and 1", fails, bans)
	}
}

func TestExempt(t *testing.T) {
	tr := New(2, time.Minute, time.Hour, nil)
	tr.SetExempt([]netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("2001:db8::1/128")})
	for _, tc := range []struct {
		ip         string
		exempt     bool
		bannedWhen bool // after three failures
	}{
		{"192.0.2.7", true, false},
		{"::ffff:192.0.2.8", true, false},
		{"2001:db8::1", true, false},
		{"198.51.100.1", false, true},
		{"not-an-ip", false, true},
	} {
		if got := tr.Exempt(tc.ip); got != tc.exempt {
			t.Errorf("Exempt(%s) = %v", tc.ip, got)
		}
		for range 3 {
			tr.Fail(tc.ip)
		}
		if got := tr.Banned(tc.ip); got != tc.bannedWhen {
			t.Errorf("%s banned = %v after 3 failures, want %v", tc.ip, got, tc.bannedWhen)
		}
	}
	if !tr.Unban("198.51.100.1") || tr.Banned("198.51.100.1") {
		t.Error("Unban did not lift the ban")
	}
	if tr.Unban("198.51.100.1") {
		t.Error("Unban of an address not banned reported true")
	}
}

// A reload changes the policy and the exemptions of the Tracker in use:
// a lowered threshold bans sooner, banning switched off stops new bans,
// a longer ban applies to the next one, and an address exempted while
// banned is let in at once.
func TestReloadedPolicy(t *testing.T) {
	c := newClock()
	tr := New(5, time.Minute, time.Minute, c.now)
	for range 3 {
		if tr.Fail("198.51.100.1") {
			t.Fatal("banned before the threshold")
		}
	}
	tr.SetPolicy(3, time.Minute, time.Hour)
	if tr.BanFor() != time.Hour {
		t.Errorf("BanFor = %v after SetPolicy", tr.BanFor())
	}
	if !tr.Fail("198.51.100.1") {
		t.Fatal("the fourth failure did not ban under a threshold lowered to 3")
	}
	c.add(30 * time.Minute)
	if !tr.Banned("198.51.100.1") {
		t.Fatal("the ban did not last the new ban_seconds")
	}
	tr.SetExempt([]netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")})
	if tr.Banned("198.51.100.1") {
		t.Error("an address exempted by a reload is still banned")
	}
	tr.SetExempt(nil)
	if tr.Banned("198.51.100.1") {
		t.Error("a ban lifted by an exemption came back when the exemption went")
	}
	tr.SetPolicy(0, time.Minute, time.Hour)
	for range 10 {
		if tr.Fail("203.0.113.9") {
			t.Fatal("a ban with banning switched off")
		}
	}
	if tr.Banned("203.0.113.9") {
		t.Error("banned with banning switched off")
	}
}
