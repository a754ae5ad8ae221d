package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"luapbx/media/correlate"
	"luapbx/tests/harness"
)

// TestShippedPlanServes runs the plan that ships in scripts/ the way a
// newcomer's `luapbx serve` does (only its ports moved to free ones): 201
// and 202 log in with the README's passwords and call each other, and the
// echo test number returns what 201 says.
func TestShippedPlanServes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	copyTree(t, filepath.Join(harness.RepoRoot(), "scripts"), dir)
	plan := mustRead(t, filepath.Join(dir, "pbx.yaml"))
	for old, new := range map[string]string{
		`"udp:127.0.0.1:5060", "tcp:127.0.0.1:5060"`: `"udp:127.0.0.1:0", "tcp:127.0.0.1:0"`,
		`http: "127.0.0.1:8080"`:                     `http: "127.0.0.1:0"`,
		`rtp_ports: "20000-20999"`:                   `rtp_ports: "35600-35699"`,
	} {
		if !strings.Contains(plan, old) {
			t.Fatalf("scripts/pbx.yaml no longer has %s: update this test", old)
		}
		plan = strings.ReplaceAll(plan, old, new)
	}
	harness.WriteFile(t, dir, "pbx.yaml", plan)
	srv := harness.Start(t, dir, "pbx.yaml")
	pw := shippedPasswords(t)

	b := startPhone(t, srv, "answer", "--user", "202", "--password", pw["202"])
	waitRegistered(t, srv, "202")
	if s := lastCall(t, startPhone(t, srv, "call", "202", "--user", "201", "--password", pw["201"],
		"--hangup-after", "1s").wait(t), "caller"); s.FinalCode != 200 {
		t.Fatalf("201 calling 202 on the shipped plan: %+v", s)
	}
	if s := lastCall(t, b.wait(t), "callee"); s.FinalCode != 200 {
		t.Errorf("202 answering on the shipped plan: %+v", s)
	}

	audio := t.TempDir()
	sig := writeSignal(t, filepath.Join(audio, "a.wav"), 12000, 41)
	rec := filepath.Join(audio, "echo.wav")
	s := lastCall(t, startPhone(t, srv, "call", "9196", "--user", "201", "--password", pw["201"],
		"--play", filepath.Join(audio, "a.wav"), "--record", rec, "--hangup-after", "2s").wait(t), "caller")
	if s.FinalCode != 200 {
		t.Fatalf("201 calling the echo test 9196: %+v", s)
	}
	got, _ := readPCM(t, rec)
	if c, lag := correlate.Best(sig, got, 8000); c < 0.9 {
		t.Errorf("the echo test returned audio correlating %.3f (lag %d)", c, lag)
	}
}

// copyTree copies the files under src into dst (folders made as needed).
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}
