package trunk

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// Every REGISTER of a trunk (first, refreshes, unregistration) is one
// dialog towards the registrar: same Call-ID and From tag, CSeq rising
// past the CSeq the digest answer used (RFC 3261 10.2).
func TestRegisterKeepsOneCallID(t *testing.T) {
	srv := pbx(t)
	prov := newProvider(t, "secret")
	m := New(quiet(), srv, []Spec{{ID: "p1", Host: prov.addr, Username: "acme", Password: "secret", Register: true}},
		WithExpires(time.Second), WithKeepalive(time.Hour, 2), WithTimeout(time.Second))
	stop := run(t, m)
	eventually(t, "two refreshes", func() bool { return len(prov.expires()) >= 3 })
	stop()
	prov.mu.Lock()
	dialogs, cseqs := append([]string(nil), prov.dialogs...), append([]uint32(nil), prov.cseqs...)
	prov.mu.Unlock()
	for i := 1; i < len(dialogs); i++ {
		if dialogs[i] != dialogs[0] {
			t.Errorf("REGISTER %d in dialog %q, want %q like the first", i, dialogs[i], dialogs[0])
		}
		// Each authenticated REGISTER follows a challenged one: +2.
		if cseqs[i] != cseqs[i-1]+2 {
			t.Errorf("REGISTER %d CSeq %d after %d, want %d", i, cseqs[i], cseqs[i-1], cseqs[i-1]+2)
		}
	}
}

// stateCheck is a slog handler that reads the manager's state when a
// record comes in: the state must already say what the log line says, and
// no lock may be held while logging (States would deadlock).
type stateCheck struct {
	m    **Manager
	mu   sync.Mutex
	seen map[string]State
}

func (h *stateCheck) Enabled(context.Context, slog.Level) bool { return true }
func (h *stateCheck) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *stateCheck) WithGroup(string) slog.Handler            { return h }
func (h *stateCheck) Handle(_ context.Context, r slog.Record) error {
	st := (*h.m).States()[0]
	h.mu.Lock()
	h.seen[r.Message] = st
	h.mu.Unlock()
	return nil
}

func (h *stateCheck) get(msg string) (State, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	st, ok := h.seen[msg]
	return st, ok
}

func TestRegistrationLogFollowsState(t *testing.T) {
	srv := pbx(t)
	prov := newProvider(t, "secret")
	var m *Manager
	h := &stateCheck{m: &m, seen: map[string]State{}}
	spec := Spec{ID: "p1", Host: prov.addr, Username: "acme", Password: "secret", Register: true}
	cases := []struct {
		name, password, msg string
		want                func(State) bool
	}{
		{"registered", "secret", "trunk registered", func(st State) bool { return st.Registered && st.Failures == 0 }},
		{"failed", "wrong", "trunk registration failed", func(st State) bool { return !st.Registered && st.Failures == 1 }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			spec.Password = c.password
			m = New(slog.New(h), srv, []Spec{spec}, WithExpires(time.Hour), WithKeepalive(time.Hour, 2),
				WithTimeout(time.Second), WithBackoff(time.Hour, time.Hour))
			stop := run(t, m)
			defer stop()
			eventually(t, c.msg, func() bool { _, ok := h.get(c.msg); return ok })
			if st, _ := h.get(c.msg); !c.want(st) {
				t.Errorf("state when %q was logged: %+v", c.msg, st)
			}
		})
	}
}
