package tests

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"luapbx/tests/harness"
)

// The shipped plan must pass its own checks out of the box.
func TestShippedPlanChecks(t *testing.T) {
	code, out, errOut := harness.Run(t, harness.RepoRoot(), "check")
	if code != 0 {
		t.Fatalf("luapbx check exited %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "tests passed") {
		t.Errorf("check output does not say the tests passed:\n%s", out)
	}
}

// `luapbx route --from 201 --to 4444` answers in words a newcomer understands.
func TestRouteShortNumberText(t *testing.T) {
	code, out, errOut := harness.Run(t, harness.RepoRoot(), "route", "--from", "201", "--to", "4444", "--at", "2026-11-23T10:00")
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
	for _, want := range []string{"Decision:", "3471234567", "gateway:p1", "4444 -> 3471234567", "extension 201"} {
		if !strings.Contains(out, want) {
			t.Errorf("route output lacks %q:\n%s", want, out)
		}
	}
}

func TestRouteJSONContract(t *testing.T) {
	code, out, errOut := harness.Run(t, harness.RepoRoot(), "route", "--from", "201", "--to", "4444", "--at", "2026-11-23T10:00", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	for _, k := range []string{"target", "number", "rule", "record", "integration", "source", "offhours", "maps", "candidates", "generation"} {
		if _, ok := got[k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
	if got["target"] != "gateway:p1" || got["number"] != "3471234567" {
		t.Errorf("target %v number %v, want gateway:p1 3471234567", got["target"], got["number"])
	}
	cands, _ := got["candidates"].([]any)
	if len(cands) == 0 {
		t.Fatalf("no candidates in %s", out)
	}
	for _, c := range cands {
		m := c.(map[string]any)
		for _, k := range []string{"rule", "score", "matched", "why"} {
			if _, ok := m[k]; !ok {
				t.Errorf("candidate lacks %q: %v", k, m)
			}
		}
	}
	if maps, _ := got["maps"].([]any); len(maps) != 1 {
		t.Errorf("maps = %v, want the one short-number map", got["maps"])
	}
}

// check passes a plan with a weak password (a warning), and --strict
// fails it, for a CI pipeline that wants no warnings.
func TestCheckStrict(t *testing.T) {
	dir := t.TempDir()
	harness.WriteFile(t, dir, "pbx.yaml", `listen: {sip: ["udp:127.0.0.1:0"], http: "127.0.0.1:0"}
companies:
  - id: acme
    timezone: Europe/Rome
    extensions:
      - {number: "201", password: "201"}
      - {number: "202", password: "a-long-passphrase-202"}
`)
	code, out, errOut := harness.Run(t, dir, "check", "--config", "pbx.yaml")
	if code != 0 || !strings.Contains(errOut, "warning:") {
		t.Fatalf("check: exit %d, want 0 with a warning\n%s%s", code, out, errOut)
	}
	code, out, errOut = harness.Run(t, dir, "check", "--strict", "--config", "pbx.yaml")
	if code != 1 || !strings.Contains(out, "1 warning(s) (--strict)") {
		t.Fatalf("check --strict: exit %d, want 1 and the count\n%s%s", code, out, errOut)
	}
	plan, err := os.ReadFile(filepath.Join(dir, "pbx.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	harness.WriteFile(t, dir, "pbx.yaml", strings.Replace(string(plan), `password: "201"`, `password: "a-long-passphrase-201"`, 1))
	if code, out, errOut = harness.Run(t, dir, "check", "--strict", "--config", "pbx.yaml"); code != 0 {
		t.Fatalf("check --strict without warnings: exit %d\n%s%s", code, out, errOut)
	}
}

// A broken plan gets every problem as file:line: message and exit 1.
func TestCheckReportsErrorsWithLines(t *testing.T) {
	dir := t.TempDir()
	harness.WriteFile(t, dir, "pbx.yaml", `listen: {sip: ["udp:127.0.0.1:0"], http: "127.0.0.1:0"}
companies:
  - id: acme
    timezone: Mars/Olympus
    extensions:
      - {number: "201", password: "a-long-passphrase-201"}
    rules:
      - {name: r1, called: "^3[", action: route, target: "user:999"}
      - {name: r2, called: "^4", action: route, target: "user:201", colour: blue}
`)
	code, out, errOut := harness.Run(t, dir, "check", "--config", "pbx.yaml")
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, out, errOut)
	}
	all := out + errOut
	for _, re := range []string{
		`pbx\.yaml:4: .*Mars/Olympus`,
		`pbx\.yaml:8: .*\^3\[`,
		`pbx\.yaml:8: .*999`,
		`pbx\.yaml:9: .*colour`,
	} {
		if !regexp.MustCompile(re).MatchString(all) {
			t.Errorf("no line matching %s in:\n%s", re, all)
		}
	}
	_ = filepath.Join
}
