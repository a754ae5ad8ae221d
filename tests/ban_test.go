package tests

import (
	"context"
	"net/http"
	"testing"
	"time"

	"luapbx/engine/phone"
	"luapbx/tests/harness"
)

// registerAs registers user over UDP and returns the summary.
func registerAs(t *testing.T, srv *harness.Server, user, password string) phone.Summary {
	t.Helper()
	p := newPhoneWith(t, srv, "udp", user, password)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := p.Register(ctx, time.Minute)
	if err != nil {
		t.Fatalf("register %s: %v", user, err)
	}
	return s
}

func deleteBan(t *testing.T, srv *harness.Server, ip string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodDelete, "http://"+srv.HTTP+"/api/bans/"+ip, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// An admin lifts a ban with DELETE /api/bans/{ip}; the phone registers
// again at once.
func TestBanLiftedByAdmin(t *testing.T) {
	t.Parallel()
	srv, _ := startPlan(t, sipPlan(34100, "{ban_after_failures: 2, ban_window_seconds: 60, ban_seconds: 600}", "", ""), nil)
	for range 2 {
		registerAs(t, srv, "202", "not-the-password")
	}
	if s := registerAs(t, srv, "202", "a-long-passphrase-202"); s.FinalCode != 403 {
		t.Fatalf("after two failures: %d, want 403 (banned)", s.FinalCode)
	}
	if code := deleteBan(t, srv, "127.0.0.1"); code != http.StatusOK {
		t.Fatalf("DELETE /api/bans/127.0.0.1: %d", code)
	}
	srv.WaitLog(t, "ban lifted by the admin API", time.Second)
	if s := registerAs(t, srv, "202", "a-long-passphrase-202"); s.FinalCode != 200 {
		t.Errorf("after the unban: %d, want 200", s.FinalCode)
	}
	if code := deleteBan(t, srv, "127.0.0.1"); code != http.StatusNotFound {
		t.Errorf("DELETE of an address not banned: %d, want 404", code)
	}
}

// Failures from a trunk's inbound address, or from security.ban_exempt,
// never ban it: a wrong phone behind the provider must not cut the trunk.
func TestBanExemptAddresses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, security, company string }{
		{"trunk inbound address", "{ban_after_failures: 2, ban_window_seconds: 60, ban_seconds: 600}",
			"    trunks:\n" + trunkYAML("p1", "127.0.0.1:5", "127.0.0.0/8")},
		{"ban_exempt", "{ban_after_failures: 2, ban_window_seconds: 60, ban_seconds: 600, ban_exempt: [127.0.0.1]}", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := startPlan(t, sipPlan(34200, tc.security, "", tc.company), nil)
			for range 4 {
				if s := registerAs(t, srv, "202", "not-the-password"); s.FinalCode != 401 && s.FinalCode != 403 {
					t.Fatalf("wrong password: %d", s.FinalCode)
				}
			}
			if s := registerAs(t, srv, "202", "a-long-passphrase-202"); s.FinalCode != 200 {
				t.Errorf("after four failures from an exempt address: %d, want 200", s.FinalCode)
			}
		})
	}
}

// The ban settings are live: a reload that exempts the banned address lets
// it in at once, and one that lowers the threshold bans sooner.
func TestBanSettingsReloaded(t *testing.T) {
	t.Parallel()
	plan := func(security string) string { return sipPlan(34300, security, "", "") }
	srv, dir := startPlan(t, plan("{ban_after_failures: 2, ban_window_seconds: 60, ban_seconds: 600}"), nil)
	base := "http://" + srv.HTTP
	reloadTo := func(security string) {
		t.Helper()
		gen := getStatus(t, base).Generation
		harness.WriteFile(t, dir, "pbx.yaml", plan(security))
		waitFor(t, 10*time.Second, "reload", func() bool {
			s := getStatus(t, base)
			if s.LastError != "" {
				t.Fatalf("reload failed: %s", s.LastError)
			}
			return s.Generation > gen
		})
	}
	for range 2 {
		registerAs(t, srv, "202", "not-the-password")
	}
	if s := registerAs(t, srv, "202", "a-long-passphrase-202"); s.FinalCode != 403 {
		t.Fatalf("after two failures: %d, want 403 (banned)", s.FinalCode)
	}
	reloadTo("{ban_after_failures: 2, ban_window_seconds: 60, ban_seconds: 600, ban_exempt: [127.0.0.0/8]}")
	if s := registerAs(t, srv, "202", "a-long-passphrase-202"); s.FinalCode != 200 {
		t.Fatalf("after a reload exempting 127.0.0.0/8: %d, want 200", s.FinalCode)
	}
	// Exemption gone (the lifted ban stays lifted), threshold 1: the next
	// failure bans.
	reloadTo("{ban_after_failures: 1, ban_window_seconds: 60, ban_seconds: 600}")
	if s := registerAs(t, srv, "202", "a-long-passphrase-202"); s.FinalCode != 200 {
		t.Fatalf("after the exemption went: %d, want 200", s.FinalCode)
	}
	registerAs(t, srv, "202", "not-the-password")
	if s := registerAs(t, srv, "202", "a-long-passphrase-202"); s.FinalCode != 403 {
		t.Fatalf("after one failure under ban_after_failures 1: %d, want 403 (banned)", s.FinalCode)
	}
}
