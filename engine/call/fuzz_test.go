package call

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/emiago/sipgo/sip"
	"github.com/emiago/sipgo/siptest"

	"luapbx/engine/ban"
	"luapbx/engine/call/calltest"
	"luapbx/engine/sipauth"
)

// FuzzAdmit feeds arbitrary INVITEs to admission: it must never panic, and
// it must either admit a caller or answer with exactly one final response.
// Random credentials must never authenticate.
func FuzzAdmit(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.sip")
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	snap := &fakeSnap{exts: map[string]Extension{"201": {Number: "201", Credential: sipauth.Credential{Password: "pw201"}}},
		trunks: map[string]Trunk{"in": {ID: "in"}}, from: map[netip.Addr]string{netip.MustParseAddr("127.0.0.1"): "in"}}
	m, err := New(testLog(), Config{Snapshots: func() (Snapshot, func()) { return snap, func() {} },
		Locations: &calltest.Locator{}, Auth: sipauth.New("luapbx"), Transport: nil2transport{}, Bans: ban.New(5, 60e9, 60e9, nil)})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		msg, err := sip.ParseMessage(data)
		if err != nil {
			return
		}
		req, ok := msg.(*sip.Request)
		if !ok || !req.IsInvite() {
			return
		}
		if _, err := sip.ServerTxKeyMake(req); err != nil {
			return
		}
		req.SetSource("127.0.0.1:5070")
		tx := siptest.NewServerTxRecorder(req)
		who, ok := m.admit(req, tx, snap)
		res := tx.Result()
		if ok {
			if (who.ext == nil) == (who.trunk == nil) || len(res) != 0 {
				t.Fatalf("admitted %+v with responses %v", who, res)
			}
			if who.ext != nil {
				t.Fatalf("random credentials authenticated: %s", data)
			}
			return
		}
		if len(res) != 1 || res[0].StatusCode < 400 {
			t.Fatalf("refused with responses %v", res)
		}
	})
}

// nil2transport satisfies Transport for tests that never send.
type nil2transport struct{ Transport }
