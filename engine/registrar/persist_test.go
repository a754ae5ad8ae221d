package registrar

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"luapbx/engine/sipauth"
)

// same compares bindings field by field (times by instant: the file keeps
// them in UTC).
func same(t *testing.T, got, want []Binding) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d bindings, want %d:\n got %+v\nwant %+v", len(got), len(want), got, want)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.AOR != w.AOR || g.Domain != w.Domain || g.ContactURI != w.ContactURI || g.Contact.String() != w.Contact.String() ||
			g.Source != w.Source || g.Transport != w.Transport || !g.Expires.Equal(w.Expires) ||
			!g.Registered.Equal(w.Registered) || g.CallID != w.CallID || g.CSeq != w.CSeq || g.UserAgent != w.UserAgent {
			t.Errorf("binding %d:\n got %+v\nwant %+v", i, g, w)
		}
	}
}

func TestPersistRoundTrip(t *testing.T) {
	file := filepath.Join(t.TempDir(), "var", "registrations.json") // var/ made on the first save
	first := newFixture(t, WithFile(file))
	alice := reg{user: "201", password: "s3cret", contacts: []string{"<sip:201@10.0.0.5:5060;transport=udp>"},
		expires: "600", source: "192.0.2.7:40123", callID: "persist-alice"}
	bob := reg{user: "202", password: "pw202", contacts: []string{"<sip:202@10.0.0.9>", "<sip:202@[2001:db8::1]:5070>"},
		expires: "900", callID: "persist-bob"}
	for _, r := range []reg{alice, bob} {
		if res := first.do(t, r); res.StatusCode != 200 {
			t.Fatalf("register %s: %d", r.user, res.StatusCode)
		}
	}
	want := first.reg.All()
	if _, err := os.Stat(file); err == nil {
		t.Fatalf("a REGISTER wrote the file itself; saves belong to Run and Close")
	}
	if err := first.reg.Close(); err != nil {
		t.Fatal(err)
	}
	if err := first.reg.Close(); err != nil { // nothing new: no second write
		t.Fatal(err)
	}
	if n := first.reg.saves.Load(); n != 1 {
		t.Errorf("two Closes wrote %d times, want 1", n)
	}

	first.clk.add(100 * time.Second) // the restart takes a while
	second := newFixtureAt(t, first.clk, WithFile(file))
	same(t, second.reg.All(), want)
	if ev := second.takeEvents(); len(ev) != 0 {
		t.Errorf("restoring fired events %v", ev)
	}
	if got := second.reg.Lookup("201"); len(got) != 1 || got[0].ExpiresIn(first.clk.now()) != 500 {
		t.Errorf("201 after the restart: %+v, want one binding with 500 s left", got)
	}

	// The phone's next REGISTER (same call-id, next CSeq) is a refresh of
	// its restored binding; a stale CSeq is still refused.
	if res := second.do(t, alice); res.StatusCode != 200 {
		t.Fatalf("refresh: %d", res.StatusCode)
	}
	if ev := second.takeEvents(); len(ev) != 1 || ev[0] != "refresh sip:201@10.0.0.5:5060;transport=udp" {
		t.Errorf("re-REGISTER after the restart: events %v, want one refresh", ev)
	}
	if got := second.reg.Lookup("201"); len(got) != 1 || !got[0].Registered.Equal(want[0].Registered) {
		t.Errorf("refresh lost the registration time: %+v", got)
	}
	stale := alice
	stale.cseq = 1
	if res := second.do(t, stale); res.StatusCode != 500 {
		t.Errorf("a REGISTER with an older CSeq than the restored one: %d, want 500 (out of order)", res.StatusCode)
	}
}

// savedJSON writes bindings as a registrations file.
func savedJSON(t *testing.T, path string, bs ...savedBinding) {
	t.Helper()
	data, err := json.Marshal(savedFile{Format: fileFormat, Version: fileVersion, Saved: time.Now(), Bindings: bs})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestPersistLoadDrops(t *testing.T) {
	start := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	ok := savedBinding{AOR: "201", Contact: "sip:201@10.0.0.5:5060", Source: "10.0.0.5:5060", Transport: "UDP",
		Expires: start.Add(time.Minute), Registered: start.Add(-time.Hour), CallID: "c1", CSeq: 7}
	with := func(f func(*savedBinding)) savedBinding { b := ok; f(&b); return b }
	tests := []struct {
		name string
		in   []savedBinding
		want []string // AOR contact of the bindings kept
	}{
		{"live udp binding kept", []savedBinding{ok}, []string{"201 sip:201@10.0.0.5:5060"}},
		{"expired dropped", []savedBinding{with(func(b *savedBinding) { b.Expires = start })}, nil},
		{"extension gone", []savedBinding{with(func(b *savedBinding) { b.AOR = "299" })}, nil},
		{"tcp connection gone", []savedBinding{with(func(b *savedBinding) { b.Transport = "TCP" })}, nil},
		{"no transport is udp", []savedBinding{with(func(b *savedBinding) { b.Transport = "" })}, []string{"201 sip:201@10.0.0.5:5060"}},
		{"bad contact", []savedBinding{with(func(b *savedBinding) { b.Contact = "sip:201@[::1" })}, nil},
		{"no source", []savedBinding{with(func(b *savedBinding) { b.Source = "" })}, nil},
		{"duplicate contact keeps the later expiry", []savedBinding{ok,
			with(func(b *savedBinding) { b.Contact += ";transport=udp"; b.Expires = start.Add(time.Hour) })},
			[]string{"201 sip:201@10.0.0.5:5060;transport=udp"}},
		{"mixed", []savedBinding{ok, with(func(b *savedBinding) { b.AOR, b.Contact = "202", "sip:202@10.0.0.9" }),
			with(func(b *savedBinding) { b.AOR = "299" }), with(func(b *savedBinding) { b.Contact = "sip:201@10.0.0.6" })},
			[]string{"201 sip:201@10.0.0.5:5060", "201 sip:201@10.0.0.6", "202 sip:202@10.0.0.9"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "registrations.json")
			savedJSON(t, file, tt.in...)
			f := newFixtureAt(t, &clock{t: start}, WithFile(file))
			var got []string
			for _, b := range f.reg.All() {
				got = append(got, b.AOR+" "+b.ContactURI)
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("restored %q, want %q", got, tt.want)
			}
			if ev := f.takeEvents(); len(ev) != 0 {
				t.Errorf("events %v", ev)
			}
			// A load that dropped something rewrites the file on the next
			// save; one that dropped nothing does not.
			if err := f.reg.Close(); err != nil {
				t.Fatal(err)
			}
			wantSaves := int64(0)
			if len(tt.want) != len(tt.in) {
				wantSaves = 1
			}
			if n := f.reg.saves.Load(); n != wantSaves {
				t.Errorf("%d saves, want %d", n, wantSaves)
			}
			again := newFixtureAt(t, &clock{t: start}, WithFile(file))
			if n := len(again.reg.All()); n != len(tt.want) {
				t.Errorf("the rewritten file restores %d bindings, want %d", n, len(tt.want))
			}
		})
	}
}

// Fields a later build may add do not make the file unreadable.
func TestPersistLaterFields(t *testing.T) {
	file := filepath.Join(t.TempDir(), "registrations.json")
	doc := `{"format":"luapbx-registrations","version":1,"node":"a","bindings":[{"aor":"201","contact":"sip:201@10.0.0.5",
"source":"10.0.0.5:5060","transport":"UDP","expires":"2026-11-23T11:00:00Z","call_id":"c","cseq":3,"instance":"x"}]}`
	if err := os.WriteFile(file, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, WithFile(file))
	if got := f.reg.All(); len(got) != 1 || got[0].CSeq != 3 || got[0].CallID != "c" {
		t.Errorf("restored %+v, want 201's binding with call-id c, cseq 3", got)
	}
}

// logBuffer is a text log safe for concurrent writes.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.buf.String() }

func TestPersistCorruptFile(t *testing.T) {
	tests := []struct {
		name, content, why string
	}{
		{"garbage", "\x00\x01 not json", "not registrations JSON"},
		{"empty", "", "not registrations JSON"},
		{"truncated", `{"format":"luapbx-registrations","version":1,"bindings":[{"aor":"201"`, "not registrations JSON"},
		{"another format", `{"format":"cdr","version":1,"bindings":[]}`, `version 1, want`},
		{"newer version", `{"format":"luapbx-registrations","version":2,"bindings":[]}`, "version 2"},
		{"bindings not a list", `{"format":"luapbx-registrations","version":1,"bindings":{}}`, "cannot unmarshal object"},
		{"two objects", `{"format":"luapbx-registrations","version":1,"bindings":[]} {}`, "data after the object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			file := filepath.Join(dir, "registrations.json")
			if err := os.WriteFile(file, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			var logs logBuffer
			clk := &clock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}
			r := New(slog.New(slog.NewTextHandler(&logs, nil)), sipauth.New(realm), testUsers,
				WithFile(file), WithClock(clk.now))
			if n := len(r.All()); n != 0 {
				t.Errorf("%d bindings from a corrupt file", n)
			}
			aside, _ := filepath.Glob(file + ".corrupt-*")
			if len(aside) != 1 {
				t.Fatalf("files set aside: %v", aside)
			}
			if got, err := os.ReadFile(aside[0]); err != nil || string(got) != tt.content {
				t.Errorf("the set-aside file holds %q (%v), want the original %q", got, err, tt.content)
			}
			l := logs.String()
			if !strings.Contains(l, "level=ERROR") || !strings.Contains(l, "file="+file) ||
				!strings.Contains(l, "moved_to="+aside[0]) || !strings.Contains(l, tt.why) {
				t.Errorf("log does not name the file, where it went and why (%q):\n%s", tt.why, l)
			}
			// Saving again starts a fresh file beside the bad one.
			f := &fixture{clk: clk, reg: r}
			if res := f.do(t, reg{user: "201", password: "s3cret", contacts: []string{"<sip:201@10.0.0.5>"}}); res.StatusCode != 200 {
				t.Fatalf("register: %d", res.StatusCode)
			}
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
			if again := New(slog.New(slog.DiscardHandler), sipauth.New(realm), testUsers, WithFile(file), WithClock(clk.now)); len(again.All()) != 1 {
				t.Errorf("the new file restores %d bindings, want 1", len(again.All()))
			}
			if still, _ := filepath.Glob(file + ".corrupt-*"); len(still) != 1 {
				t.Errorf("set-aside files after the save: %v", still)
			}
		})
	}
}

func TestPersistSaveFails(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "var")
	f := newFixture(t, WithFile(filepath.Join(blocker, "registrations.json")))
	if err := os.WriteFile(blocker, nil, 0o600); err != nil { // a file where the folder should be
		t.Fatal(err)
	}
	if res := f.do(t, reg{user: "201", password: "s3cret", contacts: []string{"<sip:201@10.0.0.5>"}}); res.StatusCode != 200 {
		t.Fatalf("register: %d", res.StatusCode)
	}
	if err := f.reg.Close(); err == nil {
		t.Fatal("saving under a file worked")
	}
	if len(f.reg.All()) != 1 {
		t.Error("a failed save lost the binding")
	}
	if err := os.Remove(blocker); err != nil {
		t.Fatal(err)
	}
	if err := f.reg.Close(); err != nil { // still dirty: retried
		t.Fatalf("retry: %v", err)
	}
	if n := f.reg.saves.Load(); n != 1 {
		t.Errorf("%d saves, want 1", n)
	}
}

// A file that cannot be read (here a folder) is left alone and never
// overwritten; the registrar starts empty and serves.
func TestPersistUnreadableFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "registrations.json")
	if err := os.MkdirAll(filepath.Join(file, "keep"), 0o755); err != nil {
		t.Fatal(err)
	}
	var logs logBuffer
	clk := &clock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}
	r := New(slog.New(slog.NewTextHandler(&logs, nil)), sipauth.New(realm), testUsers, WithFile(file), WithClock(clk.now))
	if l := logs.String(); !strings.Contains(l, "level=ERROR") || !strings.Contains(l, "file="+file) {
		t.Errorf("log does not name the file:\n%s", l)
	}
	f := &fixture{clk: clk, reg: r}
	if res := f.do(t, reg{user: "201", password: "s3cret", contacts: []string{"<sip:201@10.0.0.5>"}}); res.StatusCode != 200 {
		t.Fatalf("register: %d", res.StatusCode)
	}
	if err := r.Close(); err != nil || r.saves.Load() != 0 {
		t.Errorf("Close: %v, %d saves; want nothing written", err, r.saves.Load())
	}
	if _, err := os.Stat(filepath.Join(file, "keep")); err != nil {
		t.Errorf("the unreadable path was touched: %v", err)
	}
}

// A registration storm costs one write per Run tick, not one per REGISTER.
func TestPersistDebounce(t *testing.T) {
	file := filepath.Join(t.TempDir(), "registrations.json")
	f := newFixture(t, WithFile(file))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.reg.Run(ctx) }()
	defer func() { cancel(); <-done }()

	began := time.Now()
	const storm = 100
	for i := range storm {
		r := reg{user: "201", password: "s3cret", contacts: []string{fmt.Sprintf("<sip:201@10.0.0.%d>", i%10)}, callID: "storm"}
		if i%2 == 1 {
			r = reg{user: "202", password: "pw202", contacts: []string{"<sip:202@10.0.1.1>"}, callID: "storm-202"}
		}
		if res := f.do(t, r); res.StatusCode != 200 {
			t.Fatalf("register %d: %d", i, res.StatusCode)
		}
	}
	elapsed := time.Since(began)
	if n, most := f.reg.saves.Load(), int64(elapsed/time.Second)+1; n > most {
		t.Errorf("%d REGISTERs in %v wrote the file %d times, want at most %d", storm, elapsed, n, most)
	}
	_, last := f.reg.st.snapshot()
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		f.reg.saveMu.Lock()
		saved := f.reg.savedVer
		f.reg.saveMu.Unlock()
		if saved == last {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	before := f.reg.saves.Load()
	if before == 0 {
		t.Fatal("Run never saved the changes")
	}
	again := newFixtureAt(t, f.clk, WithFile(file))
	same(t, again.reg.All(), f.reg.All())

	time.Sleep(1200 * time.Millisecond) // a tick with nothing new
	if err := f.reg.Close(); err != nil {
		t.Fatal(err)
	}
	if n := f.reg.saves.Load(); n != before {
		t.Errorf("unchanged bindings were written again: %d saves, want %d", n, before)
	}
}

// BenchmarkEncode is the CPU side of a save of 1000 bindings.
func BenchmarkEncode(b *testing.B) {
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	bs := benchBindings(b, now)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		_ = encodeBindings(bs, now)
	}
}

func benchBindings(b *testing.B, now time.Time) []Binding {
	var bs []Binding
	for i := range 1000 {
		u := fmt.Sprintf("sip:%d@10.0.%d.%d:5060", 1000+i, i/250, i%250)
		bd := Binding{AOR: fmt.Sprint(1000 + i), ContactURI: u, Source: "10.0.0.1:5060", Transport: "UDP",
			Expires: now.Add(time.Hour), Registered: now, CallID: "c" + u, CSeq: 3, UserAgent: "baresip v1.0.0"}
		if err := sip.ParseUri(u, &bd.Contact); err != nil {
			b.Fatal(err)
		}
		bs = append(bs, bd)
	}
	return bs
}

// BenchmarkSave is a whole save of 1000 bindings: encode, write, two fsyncs.
func BenchmarkSave(b *testing.B) {
	file := filepath.Join(b.TempDir(), "registrations.json")
	users := UsersFunc(func(_, user string) (sipauth.Credential, bool) { return sipauth.Credential{Password: "x"}, true })
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	r := New(slog.New(slog.DiscardHandler), sipauth.New(realm), users, WithFile(file), WithClock(func() time.Time { return now }))
	bs := benchBindings(b, now)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		r.st.restore(bs, true)
		if err := r.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
